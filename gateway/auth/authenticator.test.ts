import http from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, Scope } from '../../core/auth/identity.ts';
import { LcmError } from '../../core/errors.ts';
import { MemoryStorage } from '../../core/persistence/memory-document-store.ts';
import { listen, type RunningServer } from '../../core/ops/ops-server.ts';
import { API_KEYS_COLLECTION, ApiKeyStore } from './api-keys.ts';
import { Authenticator } from './authenticator.ts';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return e instanceof LcmError ? e.code : String(e);
  }
}

describe('Authenticator', () => {
  const ADMIN = 'admin-token-0123456789abcdef';
  let jwks: RunningServer;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let issuer: string;
  let keys: ApiKeyStore;
  let auth: Authenticator;

  let publicKey: Awaited<ReturnType<typeof generateKeyPair>>['publicKey'];
  const publicKeyOf = () => publicKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    publicKey = pair.publicKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = await listen(
      http.createServer((req, res) => {
        res.writeHead(req.url === '/.well-known/jwks.json' ? 200 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [jwk] }));
      }),
      0,
    );
    issuer = jwks.url;
    keys = new ApiKeyStore(new MemoryStorage(), 0);
    auth = new Authenticator({ adminToken: ADMIN, apiKeys: keys, oidc: { issuer, audience: 'lcm' } });
  });
  afterAll(() => jwks.close());

  const jwt = (claims: Record<string, unknown>, opts: { aud?: string; iss?: string; exp?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('alice')
      .setIssuer(opts.iss ?? issuer)
      .setAudience(opts.aud ?? 'lcm')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(privateKey);

  it('accepts the bootstrap admin token with every scope', async () => {
    expect(await auth.authenticate(`Bearer ${ADMIN}`)).toEqual({ subject: 'admin', kind: 'api-key', scopes: ALL_SCOPES });
  });

  it('rejects missing, malformed and unknown tokens with UNAUTHENTICATED', async () => {
    expect(await code(auth.authenticate(undefined))).toBe('UNAUTHENTICATED');
    expect(await code(auth.authenticate('Basic abc'))).toBe('UNAUTHENTICATED');
    expect(await code(auth.authenticate('Bearer nope'))).toBe('UNAUTHENTICATED');
    expect(await code(auth.authenticate(`Bearer ${ADMIN}x`))).toBe('UNAUTHENTICATED');
  });

  it('records when a key was last used, at most once a minute', async () => {
    const { key, record } = await keys.create('reporting', [Scope.READ]);
    expect(record.lastUsedAt).toBeNull();
    const before = Date.now();
    await auth.authenticate(`Bearer ${key}`);
    await keys.settled();
    const used = (await keys.list()).find((k) => k.id === record.id)?.lastUsedAt;
    expect(used?.getTime()).toBeGreaterThanOrEqual(before);
    await auth.authenticate(`Bearer ${key}`);
    await keys.settled();
    expect((await keys.list()).find((k) => k.id === record.id)?.lastUsedAt).toEqual(used);
  });

  it('issues scoped API keys stored only as hashes, and honours revocation', async () => {
    const { key, record } = await keys.create('dashboard', [Scope.READ]);
    expect(key).toMatch(/^lcm_key_[0-9a-z]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(await keys.list())).not.toContain(key.split('.')[1]);
    expect(await auth.authenticate(`Bearer ${key}`)).toEqual({ subject: 'dashboard', kind: 'api-key', scopes: [Scope.READ] });
    // A key with the internal scope is a service's: the controllers' changes are theirs, not a user's.
    const service = await keys.create('resource-scheduler', [Scope.INTERNAL]);
    expect(await auth.authenticate(`Bearer ${service.key}`)).toEqual({ subject: 'resource-scheduler', kind: 'service', scopes: [Scope.INTERNAL] });
    expect(await code(auth.authenticate(`Bearer ${key.slice(0, -2)}xx`))).toBe('UNAUTHENTICATED');
    await keys.revoke(record.id);
    expect(await code(auth.authenticate(`Bearer ${key}`))).toBe('UNAUTHENTICATED');
    expect(await code(keys.create('bad', ['root']))).toBe('BAD_USER_INPUT');
    // The bootstrap token's name is not to be had: a key's changes would pass for the admin's.
    expect(await code(keys.create('Admin', [Scope.READ]))).toBe('BAD_USER_INPUT');
  });

  it('revokes a key whose record another write changed meanwhile (a lastUsedAt touch), instead of answering CONFLICT', async () => {
    const storage = new MemoryStorage();
    const racing = new ApiKeyStore(storage);
    const { key, record } = await racing.create('raced', [Scope.READ]);
    // Between the revocation's read and its write, another replica records the key's last use.
    const collection = storage.collection<{ id: string; revision: number; lastUsedAt: Date | null }>(API_KEYS_COLLECTION);
    const replace = collection.replace.bind(collection);
    let raced = false;
    collection.replace = async (doc, expected) => {
      if (!raced) {
        raced = true;
        const stored = (await collection.get(doc.id))!;
        await replace({ ...stored, lastUsedAt: new Date(), revision: stored.revision + 1 }, stored.revision);
      }
      return replace(doc, expected);
    };
    const revoked = await racing.revoke(record.id);
    expect(raced).toBe(true);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await code(new Authenticator({ adminToken: ADMIN, apiKeys: racing }).authenticate(`Bearer ${key}`))).toBe('UNAUTHENTICATED');
  });

  it('verifies OIDC JWTs against the issuer JWKS over HTTP, mapping scopes', async () => {
    const id = await auth.authenticate(`Bearer ${await jwt({ scope: 'read sessions:write openid' })}`);
    expect(id).toEqual({ subject: 'alice', kind: 'oidc', scopes: [Scope.READ, Scope.SESSIONS_WRITE] });
    expect(await code(auth.authenticate(`Bearer ${await jwt({}, { aud: 'other' })}`))).toBe('UNAUTHENTICATED');
    expect(await code(auth.authenticate(`Bearer ${await jwt({}, { iss: 'https://evil.example' })}`))).toBe('UNAUTHENTICATED');
    expect(await code(auth.authenticate(`Bearer ${await jwt({}, { exp: '-1m' })}`))).toBe('UNAUTHENTICATED');
  });

  it('gives an OIDC credential its expiry, checks it again only after a few seconds, never past exp', async () => {
    let lookups = 0;
    const exp = Math.floor(Date.now() / 1000) + 300;
    const real = new Authenticator({ oidc: { issuer, audience: 'lcm', keys: async () => (lookups++, publicKeyOf()) } });
    const token = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg: 'RS256' }).setSubject('bob').setIssuer(issuer).setAudience('lcm').setExpirationTime(exp).sign(privateKey);
    expect(await real.credential(`Bearer ${token}`)).toEqual({ identity: { subject: 'bob', kind: 'oidc', scopes: [Scope.READ] }, expiresAt: exp * 1000 });
    await real.credential(`Bearer ${token}`);
    await real.credential(`Bearer ${token}`);
    expect(lookups).toBe(1);
  });

  it('API keys: a revocation on this replica is seen at once, one on another replica within the key cache', async () => {
    const store = new MemoryStorage();
    const here = new ApiKeyStore(store, 200);
    const elsewhere = new ApiKeyStore(store, 200);
    const { key, record } = await here.create('partner', [Scope.READ]);
    await here.verify(key);
    await elsewhere.verify(key);
    await here.revoke(record.id);
    expect(await code(here.verify(key))).toBe('UNAUTHENTICATED');
    expect(await code(elsewhere.verify(key))).toBe('OK'); // cached, for at most the cache interval
    await new Promise((r) => setTimeout(r, 250));
    expect(await code(elsewhere.verify(key))).toBe('UNAUTHENTICATED');
  });
});
