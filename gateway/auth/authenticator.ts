import { timingSafeEqual, createHash } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { ALL_SCOPES, type Identity, type Scope } from '../../core/auth/identity.ts';
import { unauthenticated } from '../../core/errors.ts';
import type { ApiKeyStore } from './api-keys.ts';

/**
 * Verifies `Authorization: Bearer <token>`: the bootstrap admin token (LCM_ADMIN_TOKEN, every scope),
 * an API key (`lcm_…`), or an OIDC JWT (issuer, audience, signature against the issuer's JWKS).
 */
export interface OidcOptions {
  issuer: string;
  audience: string;
  /** JWKS URL; default `<issuer>/.well-known/jwks.json`. */
  jwksUrl?: string;
  /** Or a key getter (tests). */
  keys?: JWTVerifyGetKey;
}

export interface AuthenticatorOptions {
  adminToken?: string;
  apiKeys?: ApiKeyStore;
  oidc?: OidcOptions;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A verified credential: who, and until when (OIDC tokens expire; keys and the admin token do not). */
export interface Credential {
  identity: Identity;
  /** ms since the epoch, when the credential carries an expiry. */
  expiresAt?: number;
}

/** How long a verified OIDC token is trusted without checking it again (the API key store has its own cache). */
const OIDC_CACHE_MS = 5_000;

export class Authenticator {
  private readonly adminDigest: Buffer | undefined;
  private readonly jwks: JWTVerifyGetKey | undefined;
  /**
   * Verified OIDC tokens for `OIDC_CACHE_MS` (never past their `exp`): a WebSocket connection checks
   * its credential before every operation and subscription event, and a signature check each time
   * would cost more than the operation's own work.
   */
  private readonly oidcCache = new Map<string, { credential: Credential; until: number }>();

  constructor(private readonly options: AuthenticatorOptions) {
    this.adminDigest = options.adminToken ? digest(options.adminToken) : undefined;
    const oidc = options.oidc;
    this.jwks = oidc
      ? (oidc.keys ?? createRemoteJWKSet(new URL(oidc.jwksUrl ?? `${oidc.issuer.replace(/\/$/, '')}/.well-known/jwks.json`), { cacheMaxAge: 10 * 60_000 }))
      : undefined;
  }

  /** The identity behind an Authorization header value (`Bearer …`). */
  async authenticate(authorization: string | undefined | null): Promise<Identity> {
    return (await this.credential(authorization)).identity;
  }

  /**
   * The identity behind an Authorization header value and its expiry. Cheap to call again for the
   * same credential (a WebSocket connection checks before every operation): API keys are cached a
   * few seconds by the key store (`ApiKeyStore`, at most 5 s by default, forgotten at once on this
   * replica when revoked), so a revocation elsewhere is seen within that time.
   */
  async credential(authorization: string | undefined | null): Promise<Credential> {
    if (!authorization) throw unauthenticated('missing `Authorization: Bearer <token>` header');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw unauthenticated('the Authorization header must be `Bearer <token>`');
    const token = m[1] as string;
    if (this.adminDigest && timingSafeEqual(this.adminDigest, digest(token))) {
      return { identity: { subject: 'admin', kind: 'api-key', scopes: ALL_SCOPES } };
    }
    if (token.startsWith('lcm_')) {
      if (!this.options.apiKeys) throw unauthenticated('API keys are not enabled');
      return { identity: await this.options.apiKeys.verify(token) };
    }
    if (token.split('.').length === 3 && this.jwks && this.options.oidc) {
      const now = Date.now();
      const hit = this.oidcCache.get(token);
      if (hit && hit.until > now) return hit.credential;
      const credential = await this.verifyJwt(token, this.options.oidc, this.jwks);
      if (this.oidcCache.size > 10_000) this.oidcCache.clear();
      this.oidcCache.set(token, { credential, until: Math.min(now + OIDC_CACHE_MS, credential.expiresAt ?? Infinity) });
      return credential;
    }
    throw unauthenticated('unknown bearer token');
  }

  private async verifyJwt(token: string, oidc: OidcOptions, keys: JWTVerifyGetKey): Promise<Credential> {
    try {
      const { payload } = await jwtVerify(token, keys, { issuer: oidc.issuer, audience: oidc.audience });
      const raw: unknown = payload.scope ?? payload.scp ?? [];
      const claimed = typeof raw === 'string' ? raw.split(/\s+/) : Array.isArray(raw) ? raw.map(String) : [];
      const scopes = claimed.filter((s): s is Scope => (ALL_SCOPES as readonly string[]).includes(s));
      const identity: Identity = { subject: String(payload.sub ?? 'unknown'), kind: 'oidc', scopes };
      return typeof payload.exp === 'number' ? { identity, expiresAt: payload.exp * 1000 } : { identity };
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw unauthenticated(`invalid token: ${e.code}`);
      throw e;
    }
  }
}
