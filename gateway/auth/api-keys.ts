import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ALL_SCOPES, Scope, type Identity } from '../../core/auth/identity.ts';
import { badInput, ErrorCode, isLcmError, notFound, unauthenticated } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { DocumentStore, Storage } from '../../core/persistence/document-store.ts';

/**
 * API keys: `lcm_<key id>.<secret>`. Only a SHA-256 hash of the secret is stored (the secret is 32
 * random bytes, so a fast hash is enough: there is nothing to brute-force, unlike a password). The
 * plaintext is shown once, when the key is created.
 */
export interface ApiKeyRecord {
  id: string;
  revision: number;
  name: string;
  scopes: Scope[];
  secretHash: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export type ApiKeyView = Omit<ApiKeyRecord, 'secretHash' | 'revision'>;

const KEY_FORMAT = /^lcm_(key_[0-9a-z]{22})\.([A-Za-z0-9_-]{43})$/;
const hash = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export const API_KEYS_COLLECTION = { name: 'api_keys', indexes: [{ fields: ['name'] }] };

export class ApiKeyStore {
  private readonly store: DocumentStore<ApiKeyRecord>;
  private pendingTouch: Promise<void> = Promise.resolve();
  /**
   * Verified keys for a short while (default 5 s), so a busy client costs one lookup per interval,
   * not per request or per WebSocket operation; a key revoked on another replica stops working here
   * within that time (ADR 0008, "Revised").
   */
  private readonly cache = new Map<string, { identity: Identity; keyId: string; until: number }>();

  constructor(storage: Storage, private readonly cacheMs = 5_000) {
    this.store = storage.collection<ApiKeyRecord>(API_KEYS_COLLECTION);
  }

  async create(name: string, scopes: readonly string[], now = new Date()): Promise<{ key: string; record: ApiKeyView }> {
    const trimmed = name.trim();
    if (trimmed.length < 1 || trimmed.length > 128) throw badInput('name', 'must be 1–128 characters');
    // Changes are recorded as `user:<name>`: a key must not pass for the bootstrap admin token.
    if (trimmed.toLowerCase() === 'admin') throw badInput('name', '"admin" is reserved for the bootstrap admin token');
    if (scopes.length === 0) throw badInput('scopes', 'must name at least one scope');
    for (const s of scopes) {
      if (!(ALL_SCOPES as readonly string[]).includes(s)) throw badInput('scopes', `unknown scope "${s}"; one of ${ALL_SCOPES.join(', ')}`);
    }
    const id = newId('key', now.getTime());
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = {
      id,
      revision: 1,
      name: trimmed,
      scopes: [...new Set(scopes)] as Scope[],
      secretHash: hash(secret),
      createdAt: now,
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.store.insert(record);
    return { key: `lcm_${id}.${secret}`, record: view(record) };
  }

  async list(): Promise<ApiKeyView[]> {
    return (await this.store.find([])).map(view);
  }

  /**
   * Revoke a key. A concurrent write of the same record (another replica's revocation, a `lastUsedAt`
   * touch after the key's last use) is not the caller's conflict: the revocation is decided again on
   * the fresh record.
   */
  async revoke(id: string, now = new Date()): Promise<ApiKeyView> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.store.get(id);
      if (!current) throw notFound('API key', id);
      if (current.revokedAt) return view(current);
      const next = { ...current, revokedAt: now, revision: current.revision + 1 };
      try {
        await this.store.replace(next, current.revision);
      } catch (error) {
        if (attempt < 5 && isLcmError(error) && error.code === ErrorCode.CONFLICT) continue;
        throw error;
      }
      // This process forgets the key at once; other gateway replicas within their cache interval.
      for (const [k, v] of this.cache) if (v.keyId === id) this.cache.delete(k);
      return view(next);
    }
  }

  /** The identity of a presented key; UNAUTHENTICATED when unknown, wrong or revoked. */
  async verify(presented: string): Promise<Identity> {
    const now = Date.now();
    const hit = this.cache.get(presented);
    if (hit && hit.until > now) return hit.identity;
    const m = KEY_FORMAT.exec(presented);
    if (!m) throw unauthenticated('malformed API key');
    const [, id, secret] = m as unknown as [string, string, string];
    const record = await this.store.get(id);
    const expected = Buffer.from(record?.secretHash ?? hash('x'), 'hex');
    const actual = Buffer.from(hash(secret), 'hex');
    if (!record || !timingSafeEqual(expected, actual) || record.revokedAt) throw unauthenticated('invalid or revoked API key');
    // A key with the `internal` scope is a service's (the controllers'): its changes are recorded as
    // `controller:<name>`, a person's or a partner's as `user:<name>`.
    const identity: Identity = { subject: record.name, kind: record.scopes.includes(Scope.INTERNAL) ? 'service' : 'api-key', scopes: record.scopes };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(presented, { identity, keyId: id, until: now + this.cacheMs });
    this.touch(record, now);
    return identity;
  }

  /**
   * Record when a key was last used, at most once a minute per key (verifications in between come
   * from the cache), without holding up the request; a lost race with another replica's touch or a
   * revocation is fine: both leave a recent enough time.
   */
  private touch(record: ApiKeyRecord, now: number): void {
    if (record.lastUsedAt && now - record.lastUsedAt.getTime() < LAST_USED_RESOLUTION_MS) return;
    const next: ApiKeyRecord = { ...record, lastUsedAt: new Date(now), revision: record.revision + 1 };
    this.pendingTouch = this.store.replace(next, record.revision).catch(() => undefined);
  }

  /** Resolves once the last `lastUsedAt` write has been made (tests). */
  settled(): Promise<void> {
    return this.pendingTouch;
  }
}

/** `lastUsedAt` is kept to the minute: a busy key costs one write a minute, not one per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

const view = (r: ApiKeyRecord): ApiKeyView => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes,
  createdAt: r.createdAt,
  revokedAt: r.revokedAt,
  lastUsedAt: r.lastUsedAt,
});
