/**
 * Bearer tokens of the simulated CML controller: HS256 JWTs shaped like CML's
 * (`{"iss":"com.cisco.virl","iat","exp","sub":<user uuid>}`, research/cml-api.md §1), signed with a
 * per-instance secret. The issuer also remembers every token it handed out with a millisecond expiry,
 * so a fault can shorten lifetimes below a second or revoke every token at once.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

const b64url = (input: Buffer | string): string => Buffer.from(input).toString('base64url');

export type TokenCheck = { ok: true; userId: string } | { ok: false; reason: 'missing' | 'invalid' | 'expired' };

interface IssuedToken {
  userId: string;
  expiresAtMs: number;
}

export class TokenIssuer {
  private readonly secret = randomBytes(32);
  private readonly issued = new Map<string, IssuedToken>();

  /** Issues a token for `userId` that lives `ttlMs` milliseconds. */
  issue(userId: string, ttlMs: number, nowMs = Date.now()): string {
    this.prune(nowMs);
    const jti = randomUUID();
    const iat = Math.floor(nowMs / 1000);
    const expiresAtMs = nowMs + ttlMs;
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(
      JSON.stringify({ iss: 'com.cisco.virl', iat, exp: Math.ceil(expiresAtMs / 1000), sub: userId, jti }),
    );
    const signature = b64url(createHmac('sha256', this.secret).update(`${header}.${payload}`).digest());
    this.issued.set(jti, { userId, expiresAtMs });
    return `${header}.${payload}.${signature}`;
  }

  /** Checks an `Authorization` header value (`Bearer <jwt>`). */
  check(authorization: string | undefined, nowMs = Date.now()): TokenCheck {
    if (!authorization) return { ok: false, reason: 'missing' };
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match?.[1]) return { ok: false, reason: 'invalid' };
    const jti = this.verify(match[1]);
    if (jti === null) return { ok: false, reason: 'invalid' };
    const token = this.issued.get(jti);
    if (!token) return { ok: false, reason: 'expired' };
    if (token.expiresAtMs <= nowMs) return { ok: false, reason: 'expired' };
    return { ok: true, userId: token.userId };
  }

  /** Revokes one token (logout). Returns false when it was not valid. */
  revoke(authorization: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? '');
    const jti = match?.[1] ? this.verify(match[1]) : null;
    return jti !== null && this.issued.delete(jti);
  }

  /** Revokes every token of `userId` (logout with `clear_all_sessions`). */
  revokeUser(userId: string): void {
    for (const [jti, token] of this.issued) if (token.userId === userId) this.issued.delete(jti);
  }

  /** Every token handed out so far stops working now (fault: token expiry mid-run). */
  expireAll(): number {
    const count = this.issued.size;
    this.issued.clear();
    return count;
  }

  /** Number of tokens still valid. */
  activeCount(nowMs = Date.now()): number {
    this.prune(nowMs);
    return this.issued.size;
  }

  /** Returns the jti of a well-signed token, or null. */
  private verify(jwt: string): string | null {
    const parts = jwt.split('.');
    if (parts.length !== 3) return null;
    const [header, payload, signature] = parts as [string, string, string];
    const expected = createHmac('sha256', this.secret).update(`${header}.${payload}`).digest();
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti?: unknown };
      return typeof claims.jti === 'string' ? claims.jti : null;
    } catch {
      return null;
    }
  }

  private prune(nowMs: number): void {
    if (this.issued.size < 256) return;
    for (const [jti, token] of this.issued) if (token.expiresAtMs <= nowMs) this.issued.delete(jti);
  }
}
