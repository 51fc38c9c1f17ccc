import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { forbidden, unauthenticated, type LcmError } from '../errors.ts';

/**
 * Who is calling, as the gateway verified it. The gateway forwards it to the subgraphs in a signed
 * header (`x-lcm-identity`, an HS256 JWT with a short lifetime, signed with the internal secret);
 * subgraphs refuse calls without a valid one and check scopes again.
 */
export const Scope = {
  /** Read every query of the public schema. */
  READ: 'read',
  /** Create, transition and terminate sessions. */
  SESSIONS_WRITE: 'sessions:write',
  /** Create and deprecate definitions. */
  DEFINITIONS_WRITE: 'definitions:write',
  /** Seed worker templates and manage workers. */
  WORKERS_WRITE: 'workers:write',
  /** The controllers' scope: `/internal/graphql` and the internal mutations. */
  INTERNAL: 'internal',
  /** Manage API keys. */
  ADMIN: 'admin',
} as const;
export type Scope = (typeof Scope)[keyof typeof Scope];
export const ALL_SCOPES: readonly Scope[] = Object.values(Scope);

export interface Identity {
  /** Stable subject: user name, API key name, or controller name. */
  subject: string;
  kind: 'api-key' | 'oidc' | 'service';
  scopes: readonly Scope[];
}

export const IDENTITY_HEADER = 'x-lcm-identity';
/**
 * Binds `x-lcm-identity` to one subgraph request: `v1.<issued at, ms, base 36>.<nonce>.<mac>`, the
 * MAC an HMAC-SHA256 (key derived from the internal secret) over the token, time, nonce and the exact
 * request body. A captured token is useless with another body, after `BINDING_MAX_AGE_MS`, or a
 * second time (subgraphs remember the nonces they saw within that window). ADR 0008, "Revised".
 */
export const IDENTITY_BINDING_HEADER = 'x-lcm-identity-binding';
/** Default lifetime of a forwarded identity token, seconds. */
export const IDENTITY_TTL_SECONDS = 60;
/** How old a request binding may be when the subgraph checks it (queueing, a resend). */
export const BINDING_MAX_AGE_MS = 30_000;
/** How far a binding may lie in the future (clocks of two hosts). */
const BINDING_MAX_SKEW_MS = 5_000;

/** The actor recorded in status histories. */
export const actorOf = (identity: Identity): string =>
  identity.kind === 'service' ? `controller:${identity.subject}` : `user:${identity.subject}`;

/** Scopes that imply others: the controllers' `internal` scope includes `read`. */
const IMPLIED: Partial<Record<Scope, readonly Scope[]>> = { internal: ['read'] };

export function hasScope(identity: Identity | undefined, scope: Scope): boolean {
  if (identity === undefined) return false;
  return identity.scopes.some((s) => s === scope || (IMPLIED[s]?.includes(scope) ?? false));
}

/**
 * The one FORBIDDEN for a missing scope: `extensions.requiredScopes` lists the scopes of which any one
 * would do (one shape everywhere: subgraphs, gateway endpoints, admin routes).
 */
export function missingScope(scopes: readonly Scope[], what?: string): LcmError {
  const names = scopes.map((s) => `\`${s}\``);
  const which = names.length === 1 ? `the ${names[0]} scope is` : `one of the scopes ${names.join(', ')} is`;
  return forbidden(`${which} required${what ? ` for ${what}` : ''}`, { requiredScopes: [...scopes] });
}

/** Throw UNAUTHENTICATED without an identity, FORBIDDEN without the scope. */
export function requireScope(identity: Identity | undefined, scope: Scope): Identity {
  return requireAnyScope(identity, [scope]);
}

/** Throw UNAUTHENTICATED without an identity, FORBIDDEN unless it holds one of `scopes`. */
export function requireAnyScope(identity: Identity | undefined, scopes: readonly Scope[]): Identity {
  if (!identity) throw unauthenticated();
  if (!scopes.some((s) => hasScope(identity, s))) throw missingScope(scopes);
  return identity;
}

const ISSUER = 'lcm-gateway';
const AUDIENCE = 'lcm-subgraphs';

/** The headers of a subgraph request that carry the forwarded identity (any casing of names is fine). */
export type ForwardedHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Signs and verifies identity tokens, and binds them to requests. Verified tokens are cached until
 * their expiry, so a subgraph verifies each distinct token's signature once (the gateway reuses a
 * token for an identity for half its lifetime); a request binding is one HMAC on each side.
 */
export class IdentitySigner {
  private readonly key: Uint8Array;
  private readonly bindingKey: Buffer;
  private readonly signed = new Map<string, { token: string; renewAt: number }>();
  private readonly verified = new Map<string, { identity: Identity; expiresAt: number }>();
  /** Nonces seen in the last one or two binding windows (two generations, swapped every window). */
  private seenNonces = new Set<string>();
  private previousNonces = new Set<string>();
  private noncesSwappedAt = Date.now();
  /** Nonces are this process's random prefix and a counter: unique without a random draw each. */
  private readonly noncePrefix = randomBytes(9).toString('base64url');
  private nonceCounter = 0;

  constructor(secret: string, private readonly ttlSeconds = IDENTITY_TTL_SECONDS) {
    if (secret.length < 16) throw new Error('the internal secret must be at least 16 characters');
    this.key = new TextEncoder().encode(secret);
    // A key of its own for bindings (domain separation from the JWT signatures).
    this.bindingKey = createHmac('sha256', secret).update('lcm-identity-binding/v1').digest();
  }

  /**
   * THE headers for one subgraph request made for `who` (an identity, or a token from `sign`) whose
   * body is exactly `body` (the string sent): `x-lcm-identity` and `x-lcm-identity-binding`. Call it
   * once per request, right before sending it (e.g. in `@apollo/gateway`'s data source `fetcher`, or
   * Hive Gateway's `onFetch`): a binding is accepted once, for `BINDING_MAX_AGE_MS`.
   */
  async forwardedIdentityHeaders(who: Identity | string, body: string): Promise<Record<string, string>> {
    const token = typeof who === 'string' ? who : await this.sign(who);
    return { [IDENTITY_HEADER]: token, [IDENTITY_BINDING_HEADER]: this.bind(token, body) };
  }

  /** The `x-lcm-identity-binding` value for `token` and `body` (synchronous: one HMAC). */
  bind(token: string, body: string, now = Date.now()): string {
    const issued = now.toString(36);
    const nonce = `${this.noncePrefix}${(this.nonceCounter++).toString(36)}`;
    return `v1.${issued}.${nonce}.${this.mac(token, issued, nonce, body)}`;
  }

  private mac(token: string, issued: string, nonce: string, body: string): string {
    return createHmac('sha256', this.bindingKey).update(token).update('\n').update(issued).update('\n').update(nonce).update('\n').update(body).digest('base64url');
  }

  /**
   * The identity of a subgraph request: its token (valid, unexpired) and its binding (made for this
   * token and exactly this raw body, fresh, never seen before). UNAUTHENTICATED otherwise.
   */
  async verifyRequest(headers: ForwardedHeaders, rawBody: string, now = Date.now()): Promise<Identity> {
    const token = single(headers[IDENTITY_HEADER]);
    const binding = single(headers[IDENTITY_BINDING_HEADER]);
    if (!token) throw unauthenticated('calls to a subgraph must come through the gateway (missing identity)');
    if (!binding) throw unauthenticated('calls to a subgraph must come through the gateway (missing identity binding)');
    const parts = binding.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') throw unauthenticated('invalid identity binding');
    const [, issued, nonce, mac] = parts as [string, string, string, string];
    const issuedAt = parseInt(issued, 36);
    if (!Number.isFinite(issuedAt) || issuedAt < now - BINDING_MAX_AGE_MS || issuedAt > now + BINDING_MAX_SKEW_MS) {
      throw unauthenticated('expired identity binding');
    }
    const expected = Buffer.from(this.mac(token, issued, nonce, rawBody));
    const actual = Buffer.from(mac);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw unauthenticated('the identity binding does not match this request');
    }
    const identity = await this.verify(token);
    if (now - this.noncesSwappedAt > BINDING_MAX_AGE_MS + BINDING_MAX_SKEW_MS) {
      this.previousNonces = this.seenNonces;
      this.seenNonces = new Set();
      this.noncesSwappedAt = now;
    }
    if (this.seenNonces.has(nonce) || this.previousNonces.has(nonce)) throw unauthenticated('replayed identity binding');
    this.seenNonces.add(nonce);
    return identity;
  }

  async sign(identity: Identity): Promise<string> {
    const cacheKey = `${identity.kind}\u0000${identity.subject}\u0000${identity.scopes.join(',')}`;
    const now = Date.now();
    const hit = this.signed.get(cacheKey);
    if (hit && hit.renewAt > now) return hit.token;
    const token = await new SignJWT({ kind: identity.kind, scopes: identity.scopes })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(identity.subject)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(now / 1000) + this.ttlSeconds)
      .sign(this.key);
    if (this.signed.size > 10_000) this.signed.clear();
    this.signed.set(cacheKey, { token, renewAt: now + (this.ttlSeconds * 1000) / 2 });
    return token;
  }

  /** The identity in a token; UNAUTHENTICATED when missing, forged or expired. */
  async verify(token: string | undefined): Promise<Identity> {
    if (!token) throw unauthenticated('calls to a subgraph must come through the gateway (missing identity)');
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.expiresAt > now) return hit.identity;
      this.verified.delete(token);
    }
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
      const scopes = Array.isArray(payload.scopes) ? (payload.scopes.filter((s) => ALL_SCOPES.includes(s as Scope)) as Scope[]) : [];
      const kind = payload.kind === 'api-key' || payload.kind === 'oidc' || payload.kind === 'service' ? payload.kind : 'service';
      const identity: Identity = { subject: String(payload.sub ?? 'unknown'), kind, scopes };
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(token, { identity, expiresAt: (payload.exp ?? 0) * 1000 });
      return identity;
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw unauthenticated(`invalid identity header: ${e.code}`);
      throw e;
    }
  }
}

const single = (v: string | readonly string[] | undefined): string | undefined => (typeof v === 'string' ? v : v?.[0]);

/** `signer.forwardedIdentityHeaders(who, body)`: the headers for one subgraph request (see there). */
export const forwardedIdentityHeaders = (signer: IdentitySigner, who: Identity | string, body: string): Promise<Record<string, string>> =>
  signer.forwardedIdentityHeaders(who, body);

/** `signer.verifyRequest(headers, rawBody)`: the identity of a subgraph request, or UNAUTHENTICATED. */
export const verifyForwardedIdentity = (signer: IdentitySigner, headers: ForwardedHeaders, rawBody: string): Promise<Identity> =>
  signer.verifyRequest(headers, rawBody);
