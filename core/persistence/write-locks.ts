import { randomBytes } from 'node:crypto';
import { conflict } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { CoordinationStore, Lease } from '../ports/coordination.ts';

/**
 * Mutual exclusion around one conditional write, across processes (`LCM_MONGODB_WRITE_LOCKS`).
 *
 * Only for MongoDB-compatible servers that do not apply a filtered `replaceOne({_id, revision})`
 * atomically — FerretDB v1, the test server — when several replicas of one subgraph write the same
 * collection. MongoDB applies the filter and the write as one step and never needs this
 * (docs/adr/0015-atomic-test-store.md, "Several replicas on FerretDB").
 */
export interface WriteLocks {
  /** Run `write` while no other holder of `key` (in any process) runs its own. */
  hold<R>(key: string, write: () => Promise<R>): Promise<R>;
}

export interface LeaseWriteLocksOptions {
  /**
   * TTL of the leases the lock keys are attached to. A holder killed mid-write frees its locks within
   * this; a waiter gives up after it plus a margin. Default 6 s.
   */
  ttlSeconds?: number;
  /** How long a writer waits for a held lock before CONFLICT. Default: the TTL plus 5 s (a dead holder's lock has expired by then). */
  waitMs?: number;
  /** Key prefix of the locks. Default `/lcm/locks/documents/`. */
  prefix?: string;
  logger?: Logger;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A lock per key in the coordination store (etcd): a key created only if absent (a transaction on
 * `mod_revision` 0), attached to a lease, deleted by its holder after the write.
 *
 * The leases are NOT kept alive: one is granted, used for the locks taken while at least half its TTL
 * remains, and replaced after that. So every lock key disappears within one TTL whatever happens to its
 * holder — killed, partitioned, or its delete lost — and no keep-alive stream can keep a forgotten
 * lock alive. A lock is only taken on a lease with at least half its TTL left (counted from when the
 * grant was *sent*, so the store's clock can only be later), and a conditional write takes
 * milliseconds, so the lock outlives the write by seconds. A write slower than that margin is logged:
 * the guarantee then rests on the write having finished before the lock expired.
 */
export class LeaseWriteLocks implements WriteLocks {
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly prefix: string;
  private readonly owner = randomBytes(6).toString('hex');
  private counter = 0;
  private current: { lease: Promise<Lease>; sentAt: number } | undefined;

  constructor(
    private readonly store: CoordinationStore,
    private readonly options: LeaseWriteLocksOptions = {},
  ) {
    this.ttlMs = (options.ttlSeconds ?? 6) * 1000;
    this.waitMs = options.waitMs ?? this.ttlMs + 5000;
    this.prefix = options.prefix ?? '/lcm/locks/documents/';
  }

  /** A lease with at least half its TTL left; a new one is granted when the current is older. */
  private async lease(): Promise<{ lease: Lease; expiresBy: number }> {
    const now = performance.now();
    if (!this.current || now - this.current.sentAt >= this.ttlMs / 2) {
      const granted = this.store.grantLease(this.ttlMs / 1000, { keepAlive: false });
      const next = { lease: granted, sentAt: now };
      this.current = next;
      // A failed grant must not stay cached: the next hold asks again.
      granted.catch(() => {
        if (this.current === next) this.current = undefined;
      });
    }
    const { lease, sentAt } = this.current;
    return { lease: await lease, expiresBy: sentAt + this.ttlMs };
  }

  async hold<R>(key: string, write: () => Promise<R>): Promise<R> {
    const lockKey = this.prefix + key;
    const giveUpAt = performance.now() + this.waitMs;
    const tokens = new Set<string>();
    let uncertain = false;
    let delay = 2;
    let acquired: { revision: number; expiresBy: number } | undefined;
    while (!acquired) {
      const { lease, expiresBy } = await this.lease();
      const token = `${this.owner}:${++this.counter}`;
      tokens.add(token);
      try {
        const r = await this.store.transaction([{ key: lockKey, modRevision: 0 }], [{ type: 'put', key: lockKey, value: token, lease: lease.id }]);
        if (r.succeeded) acquired = { revision: r.revision, expiresBy };
      } catch (e) {
        // The put may have applied without our hearing of it: the key may be ours already.
        uncertain = true;
        if (performance.now() > giveUpAt) throw e;
      }
      if (!acquired && uncertain) {
        const kv = await this.store.get(lockKey).catch(() => undefined);
        if (kv && tokens.has(kv.value)) acquired = { revision: kv.modRevision, expiresBy };
      }
      if (acquired && acquired.expiresBy - performance.now() < this.ttlMs / 4) {
        // A slow grant or transaction ate the margin: give this one back and take a fresh lease.
        await this.release(lockKey, acquired.revision);
        acquired = undefined;
        this.current = undefined;
        continue;
      }
      if (acquired) break;
      if (performance.now() > giveUpAt) {
        throw conflict(`${key} is being written by another process (write lock not free within ${Math.round(this.waitMs)} ms)`, { lock: key });
      }
      // A write holds the lock for a few milliseconds: poll briefly, with jitter so waiters spread.
      await sleep(delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 20);
    }
    const started = performance.now();
    try {
      return await write();
    } finally {
      const finished = performance.now();
      if (finished > acquired.expiresBy) {
        this.options.logger?.warn({ key, writeMs: Math.round(finished - started) }, 'a conditional write outlasted its write lock');
      }
      await this.release(lockKey, acquired.revision);
    }
  }

  /** Delete our own key only (compared on the revision that created it); a lost delete expires with the lease. */
  private async release(lockKey: string, revision: number): Promise<void> {
    await this.store.transaction([{ key: lockKey, modRevision: revision }], [{ type: 'delete', key: lockKey }]).catch((err: unknown) => {
      this.options.logger?.warn({ err, key: lockKey }, 'could not release a write lock (it expires with its lease)');
    });
  }
}
