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

export class Authenticator {
  private readonly adminDigest: Buffer | undefined;
  private readonly jwks: JWTVerifyGetKey | undefined;

  constructor(private readonly options: AuthenticatorOptions) {
    this.adminDigest = options.adminToken ? digest(options.adminToken) : undefined;
    const oidc = options.oidc;
    this.jwks = oidc
      ? (oidc.keys ?? createRemoteJWKSet(new URL(oidc.jwksUrl ?? `${oidc.issuer.replace(/\/$/, '')}/.well-known/jwks.json`), { cacheMaxAge: 10 * 60_000 }))
      : undefined;
  }

  /** The identity behind an Authorization header value (`Bearer …`). */
  async authenticate(authorization: string | undefined | null): Promise<Identity> {
    if (!authorization) throw unauthenticated('missing `Authorization: Bearer <token>` header');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw unauthenticated('the Authorization header must be `Bearer <token>`');
    const token = m[1] as string;
    if (this.adminDigest && timingSafeEqual(this.adminDigest, digest(token))) {
      return { subject: 'admin', kind: 'api-key', scopes: ALL_SCOPES };
    }
    if (token.startsWith('lcm_')) {
      if (!this.options.apiKeys) throw unauthenticated('API keys are not enabled');
      return this.options.apiKeys.verify(token);
    }
    if (token.split('.').length === 3 && this.jwks && this.options.oidc) {
      return this.verifyJwt(token, this.options.oidc, this.jwks);
    }
    throw unauthenticated('unknown bearer token');
  }

  private async verifyJwt(token: string, oidc: OidcOptions, keys: JWTVerifyGetKey): Promise<Identity> {
    try {
      const { payload } = await jwtVerify(token, keys, { issuer: oidc.issuer, audience: oidc.audience });
      const raw: unknown = payload.scope ?? payload.scp ?? [];
      const claimed = typeof raw === 'string' ? raw.split(/\s+/) : Array.isArray(raw) ? raw.map(String) : [];
      const scopes = claimed.filter((s): s is Scope => (ALL_SCOPES as readonly string[]).includes(s));
      return { subject: String(payload.sub ?? 'unknown'), kind: 'oidc', scopes };
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw unauthenticated(`invalid token: ${e.code}`);
      throw e;
    }
  }
}
