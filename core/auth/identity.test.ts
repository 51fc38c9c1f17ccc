import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LcmError } from '../errors.ts';
import {
  BINDING_MAX_AGE_MS,
  IDENTITY_BINDING_HEADER,
  IDENTITY_HEADER,
  IdentitySigner,
  Scope,
  forwardedIdentityHeaders,
  verifyForwardedIdentity,
  type Identity,
} from './identity.ts';

const who: Identity = { subject: 'partner', kind: 'api-key', scopes: [Scope.READ] };
const body = JSON.stringify({ query: '{ sessions { totalCount } }', variables: {} });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    return e instanceof LcmError ? `${e.code}: ${e.message}` : String(e);
  }
}

describe('forwarded identity bound to the request (ADR 0008, revised)', () => {
  const secret = randomBytes(24).toString('hex');

  it('is accepted once for the body it was made for', async () => {
    const signer = new IdentitySigner(secret);
    const headers = await forwardedIdentityHeaders(signer, who, body);
    expect(Object.keys(headers).sort()).toEqual([IDENTITY_BINDING_HEADER, IDENTITY_HEADER].sort());
    // Another process with the same secret (the subgraph) verifies it.
    const subgraph = new IdentitySigner(secret);
    await expect(verifyForwardedIdentity(subgraph, headers, body)).resolves.toEqual(who);
    expect(await refusal(verifyForwardedIdentity(subgraph, headers, body))).toBe('UNAUTHENTICATED: replayed identity binding');
  });

  it('refuses a captured header with another body, a token alone, a forged binding or another secret', async () => {
    const signer = new IdentitySigner(secret);
    const headers = await signer.forwardedIdentityHeaders(who, body);
    const other = JSON.stringify({ query: 'mutation { terminateSession(id: "ses_x") { id } }' });
    expect(await refusal(signer.verifyRequest(headers, other))).toBe('UNAUTHENTICATED: the identity binding does not match this request');
    expect(await refusal(signer.verifyRequest({ [IDENTITY_HEADER]: headers[IDENTITY_HEADER] }, body))).toMatch(/missing identity binding/);
    const forged = headers[IDENTITY_BINDING_HEADER]!.replace(/\.[^.]+$/, '.' + 'A'.repeat(43));
    expect(await refusal(signer.verifyRequest({ ...headers, [IDENTITY_BINDING_HEADER]: forged }, body))).toMatch(/does not match/);
    const stranger = new IdentitySigner(randomBytes(24).toString('hex'));
    expect(await refusal(stranger.verifyRequest(await signer.forwardedIdentityHeaders(who, body), body))).toMatch(/does not match/);
    // A token bound for one identity cannot carry another's binding.
    const admin = await signer.forwardedIdentityHeaders({ subject: 'root', kind: 'service', scopes: [Scope.INTERNAL] }, body);
    expect(await refusal(signer.verifyRequest({ ...headers, [IDENTITY_HEADER]: admin[IDENTITY_HEADER]! }, body))).toMatch(/does not match/);
  });

  it('refuses an old binding, and a token past its (short) lifetime', async () => {
    const signer = new IdentitySigner(secret);
    const token = await signer.sign(who);
    const old = { [IDENTITY_HEADER]: token, [IDENTITY_BINDING_HEADER]: signer.bind(token, body, Date.now() - BINDING_MAX_AGE_MS - 1) };
    expect(await refusal(signer.verifyRequest(old, body))).toBe('UNAUTHENTICATED: expired identity binding');
    const future = { [IDENTITY_HEADER]: token, [IDENTITY_BINDING_HEADER]: signer.bind(token, body, Date.now() + 60_000) };
    expect(await refusal(signer.verifyRequest(future, body))).toBe('UNAUTHENTICATED: expired identity binding');

    const shortLived = new IdentitySigner(secret, 1);
    const expiring = await shortLived.sign(who);
    await expect(shortLived.verify(expiring)).resolves.toEqual(who); // now cached as verified
    await new Promise((r) => setTimeout(r, 2_100));
    // A fresh binding does not revive an expired token (nor does the verified-token cache).
    expect(await refusal(shortLived.verifyRequest({ [IDENTITY_HEADER]: expiring, [IDENTITY_BINDING_HEADER]: shortLived.bind(expiring, body) }, body))).toMatch(
      /invalid identity header: ERR_JWT_EXPIRED/,
    );
  });

  it('signs tokens that live a minute by default', async () => {
    const signer = new IdentitySigner(secret);
    const token = await signer.sign(who);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
    expect(payload.exp - payload.iat).toBe(60);
  });
});
