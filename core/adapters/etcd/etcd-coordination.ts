import { Range, type Etcd3, type IKeyValue, type IWatchResponse } from 'etcd3';
import type { Logger } from '../../logging.ts';
import {
  CoordinationError,
  type CoordinationStore,
  type ElectionOptions,
  type KeyValue,
  type Candidacy,
  type Lease,
  type LeaseOptions,
  type TxnCompare,
  type TxnOp,
  type Watch,
  type WatchHandlers,
  type WatchOptions,
} from '../../ports/coordination.ts';
import { LeaseCandidacy } from '../coordination/lease-candidacy.ts';
import { RenewingLease, leaseTiming, sleep } from '../coordination/renewing-lease.ts';
import { createEtcdClient, isTransientEtcdError, toCoordinationError, type EtcdClientOptions } from './etcd-client.ts';
import { EtcdPrefixWatch, toKeyValue } from './etcd-watch.ts';

export interface EtcdCoordinationOptions extends EtcdClientOptions {
  /**
   * A prefix put in front of every key in etcd, invisible to callers (keys stay `/lcm/...`). Isolates
   * tests, or several deployments sharing one etcd. Default: none.
   */
  namespace?: string;
  /** Keys per page when listing a prefix (all pages are read at one revision). Default 1 000. */
  listPageSize?: number;
  /** Attempts of an idempotent call (get, list, put, delete, lease renewal) on transient errors. Default 3. */
  attempts?: number;
  logger?: Logger;
}

/**
 * The `CoordinationStore` on etcd ≥ 3.4 through the `etcd3` client (DESIGN.md §7). Watches, leases
 * and elections are implemented here rather than with etcd3's helpers, which lose watch events and
 * let two leaders act at once in failure cases; see docs/coordination.md for each known issue.
 */
export class EtcdCoordinationStore implements CoordinationStore {
  readonly client: Etcd3;
  private readonly keyPrefix: string;
  private readonly listPageSize: number;
  private readonly attempts: number;
  private readonly logger: Logger | undefined;
  private readonly leases = new Set<RenewingLease>();
  private readonly watches = new Set<EtcdPrefixWatch>();
  private closed = false;

  constructor(options: EtcdCoordinationOptions) {
    this.client = createEtcdClient(options);
    this.keyPrefix = options.namespace ?? '';
    this.listPageSize = options.listPageSize ?? 1000;
    this.attempts = options.attempts ?? 3;
    this.logger = options.logger;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return this.idempotent('get', async () => {
      const res = await this.client.get(this.full(key)).exec();
      const kv = res.kvs[0];
      return kv ? this.fromEtcd(kv) : undefined;
    });
  }

  list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    return this.idempotent('list', () => this.listOnce(prefix));
  }

  async put(key: string, value: string, options: { lease?: string } = {}): Promise<{ revision: number }> {
    return this.idempotent('put', async () => {
      let builder = this.client.put(this.full(key)).value(value);
      if (options.lease !== undefined) builder = builder.lease(options.lease);
      const res = await builder.exec();
      return { revision: Number(res.header.revision) };
    });
  }

  async delete(key: string): Promise<{ revision: number; deleted: boolean }> {
    return this.idempotent('delete', async () => {
      const res = await this.client.delete().key(this.full(key)).exec();
      return { revision: Number(res.header.revision), deleted: Number(res.deleted) > 0 };
    });
  }

  async deletePrefix(prefix: string): Promise<{ revision: number; deleted: number }> {
    return this.idempotent('deletePrefix', async () => {
      const res = await this.client.delete().prefix(this.full(prefix)).exec();
      return { revision: Number(res.header.revision), deleted: Number(res.deleted) };
    });
  }

  /**
   * Not retried: a transaction whose answer was lost may have applied, and a blind retry would then
   * report a failed comparison. A transient failure is reported as UNAVAILABLE; callers re-read.
   */
  async transaction(compares: TxnCompare[], ops: TxnOp[]): Promise<{ succeeded: boolean; revision: number }> {
    this.assertOpen('transaction');
    try {
      const res = await this.client.kv.txn({
        compare: compares.map((c) => ({
          key: Buffer.from(this.full(c.key)),
          target: 'Mod' as const,
          result: 'Equal' as const,
          mod_revision: String(c.modRevision),
        })),
        success: ops.map((op) =>
          op.type === 'delete'
            ? { request_delete_range: { key: Buffer.from(this.full(op.key)) } }
            : {
                request_put: {
                  key: Buffer.from(this.full(op.key)),
                  value: Buffer.from(op.value),
                  ...(op.lease !== undefined ? { lease: op.lease } : {}),
                },
              },
        ),
        failure: [],
      });
      return { succeeded: res.succeeded, revision: Number(res.header.revision) };
    } catch (e) {
      throw toCoordinationError(e, 'transaction');
    }
  }

  async watchPrefix(prefix: string, handlers: WatchHandlers, options: WatchOptions = {}): Promise<Watch> {
    this.assertOpen('watchPrefix');
    const start = options.fromRevision ?? (await this.revision()) + 1;
    const watch = EtcdPrefixWatch.start(
      this.client,
      this.full(prefix),
      this.stripping(handlers),
      start,
      async (p) => this.idempotent('list', () => this.listOnce(this.strip(p))),
      this.logger,
    );
    this.watches.add(watch);
    const close = watch.close.bind(watch);
    return {
      get lastRevision() {
        return watch.lastRevision;
      },
      close: async () => {
        this.watches.delete(watch);
        await close();
      },
    };
  }

  async grantLease(ttlSeconds: number, options: LeaseOptions = {}): Promise<Lease> {
    const timing = leaseTiming(ttlSeconds, options);
    this.assertOpen('grantLease');
    const sentAt = performance.now();
    const granted = await this.idempotent('grantLease', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }));
    const id = granted.ID;
    const lease = new RenewingLease(
      id,
      ttlSeconds,
      sentAt,
      {
        keepAliveOnce: (timeoutMs) => this.keepAliveOnce(id, Math.min(timeoutMs, timing.renewIntervalMs)),
        revoke: async (timeoutMs) => {
          try {
            await this.client.leaseClient.leaseRevoke({ ID: id }, { deadline: Date.now() + timeoutMs });
          } catch (e) {
            throw toCoordinationError(e, 'revoke lease');
          }
        },
      },
      { ...options, logger: this.logger },
    );
    if (options.keepAlive !== false) {
      this.leases.add(lease);
      void lease.lost.then(() => this.leases.delete(lease));
    }
    return lease;
  }

  election(name: string, candidateId: string, options: ElectionOptions): Candidacy {
    return new LeaseCandidacy(this, name, candidateId, options, this.logger);
  }

  async revision(): Promise<number> {
    return this.idempotent('revision', async () => {
      const res = await this.client.get(this.full('/')).exec();
      return Number(res.header.revision);
    });
  }

  /** Compact etcd's history up to `revision` (maintenance; watches behind it are reset). */
  async compact(revision: number): Promise<void> {
    try {
      await this.client.kv.compact({ revision: String(revision), physical: true });
    } catch (e) {
      throw toCoordinationError(e, 'compact');
    }
  }

  /** Close: revoke kept-alive leases (their keys go at once), end watches, close the client. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled([...this.leases].map((l) => l.revoke()));
    await this.shutdown();
  }

  /**
   * Close without revoking anything, as a crashed process would: leases stop being renewed and expire
   * in etcd after their TTL (tests of takeover).
   */
  async abandon(): Promise<void> {
    // Close the connection first, so that nothing (not even a revoke on the way out) reaches etcd.
    this.closed = true;
    this.client.close();
    for (const lease of this.leases) lease.release();
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.watches].map((w) => w.close()));
    this.watches.clear();
    this.client.close();
  }

  /** One keep-alive on its own short stream: resolves with the granted TTL (0 = the lease is gone). */
  private async keepAliveOnce(id: string, timeoutMs: number): Promise<number> {
    this.assertOpen('keepAlive');
    try {
      const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
      try {
        const res = await new Promise<{ TTL: string }>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.on('end', () => reject(new CoordinationError('UNAVAILABLE', 'keep-alive stream ended')));
          stream.write({ ID: id });
        });
        return Number(res.TTL);
      } finally {
        stream.end();
      }
    } catch (e) {
      throw toCoordinationError(e, 'keep-alive');
    }
  }

  private async listOnce(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    const full = this.full(prefix);
    const end = Range.prefix(full).end;
    const items: KeyValue[] = [];
    let start: Buffer = Buffer.from(full);
    let revision: string | undefined;
    for (;;) {
      let builder = this.client.getAll().inRange({ start, end }).limit(this.listPageSize);
      if (revision !== undefined) builder = builder.revision(revision);
      const res = await builder.exec();
      revision ??= res.header.revision;
      for (const kv of res.kvs) items.push(this.fromEtcd(kv));
      const lastKey = res.kvs.at(-1)?.key;
      if (!res.more || !lastKey) break;
      start = Buffer.concat([lastKey, Buffer.from([0])]);
    }
    return { items, revision: Number(revision) };
  }

  /** Run an idempotent call, retrying transient failures with a short backoff. */
  private async idempotent<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen(what);
      try {
        return await fn();
      } catch (e) {
        if (this.closed) throw new CoordinationError('CLOSED', `${what}: the etcd client is closed`, { cause: e });
        if (attempt >= this.attempts || !isTransientEtcdError(e)) throw toCoordinationError(e, what);
        await sleep(50 * 2 ** (attempt - 1));
      }
    }
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new CoordinationError('CLOSED', `${what}: the etcd client is closed`);
  }

  private full(key: string): string {
    return this.keyPrefix + key;
  }

  private strip(key: string): string {
    return key.startsWith(this.keyPrefix) ? key.slice(this.keyPrefix.length) : key;
  }

  private fromEtcd(kv: IKeyValue): KeyValue {
    const out = toKeyValue(kv);
    out.key = this.strip(out.key);
    return out;
  }

  /** Handlers that see keys without the namespace prefix. */
  private stripping(handlers: WatchHandlers): WatchHandlers {
    const fix = (kv: KeyValue): KeyValue => ({ ...kv, key: this.strip(kv.key) });
    return {
      onEvent: (event) => {
        const key = this.strip(event.key);
        if (event.type === 'put') handlers.onEvent({ ...event, key, kv: fix(event.kv), ...(event.prevKv ? { prevKv: fix(event.prevKv) } : {}) });
        else handlers.onEvent({ ...event, key, ...(event.prevKv ? { prevKv: fix(event.prevKv) } : {}) });
      },
      onReset: handlers.onReset && ((items, revision) => handlers.onReset!(items, revision)),
      onConnectionChange: handlers.onConnectionChange && ((c) => handlers.onConnectionChange!(c)),
      onError: handlers.onError && ((e) => handlers.onError!(e)),
    };
  }
}

export type { IWatchResponse };
