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

/**
 * Signs and verifies identity tokens. Verified tokens are cached until their expiry, so a subgraph
 * verifies each distinct token once (the gateway reuses a token for an identity while it is fresh).
 */
export class IdentitySigner {
  private readonly key: Uint8Array;
  private readonly signed = new Map<string, { token: string; renewAt: number }>();
  private readonly verified = new Map<string, { identity: Identity; expiresAt: number }>();

  constructor(secret: string, private readonly ttlSeconds = 300) {
    if (secret.length < 16) throw new Error('the internal secret must be at least 16 characters');
    this.key = new TextEncoder().encode(secret);
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
    if (hit && hit.expiresAt > now) return hit.identity;
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
