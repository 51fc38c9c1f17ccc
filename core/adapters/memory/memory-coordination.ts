import { randomUUID } from 'node:crypto';
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
  type WatchEvent,
  type WatchHandlers,
  type WatchOptions,
} from '../../ports/coordination.ts';
import { LeaseCandidacy } from '../coordination/lease-candidacy.ts';
import { RenewingLease, leaseTiming } from '../coordination/renewing-lease.ts';

export interface MemoryCoordinationOptions {
  /**
   * How many change events the cluster keeps for watches that resume from a past revision. Older
   * history is compacted: a watch that falls behind it is reset (`onReset`), as with etcd compaction.
   */
  historyLimit?: number;
  /** Monotonic clock in milliseconds (leases). Default `performance.now()`. */
  now?: () => number;
  logger?: Logger;
}

interface StoredLease {
  ttlSeconds: number;
  keys: Set<string>;
  timer: NodeJS.Timeout;
}

/**
 * The in-memory stand-in for an etcd cluster (DESIGN.md §7): one keyspace with a global revision,
 * a bounded change history (watches resume from a revision; falling behind it means compaction),
 * leases that expire after their TTL unless renewed, and transactions on mod revisions.
 *
 * Clients (`client()`, or `new MemoryCoordinationStore(cluster)`) are what the rest of the code uses;
 * several clients of one cluster behave like several processes on one etcd. A client can be cut off
 * (`disconnect()`) to simulate a partition: its calls fail with UNAVAILABLE, its leases are not
 * renewed (and are lost by their renew deadline, then expire in the cluster), and its watches pause
 * and resume from their last revision on `reconnect()`.
 */
export class MemoryCoordinationCluster {
  private readonly data = new Map<string, KeyValue>();
  private rev = 1;
  private readonly history: WatchEvent[] = [];
  /** Every change with revision >= firstRetained is in `history`. */
  private firstRetained = 1;
  private readonly leases = new Map<string, StoredLease>();
  private nextLeaseId = 1;
  private readonly watches = new Set<MemoryWatch>();
  readonly historyLimit: number;
  readonly now: () => number;
  readonly logger: Logger | undefined;

  constructor(options: MemoryCoordinationOptions = {}) {
    this.historyLimit = options.historyLimit ?? 10_000;
    this.now = options.now ?? (() => performance.now());
    this.logger = options.logger;
  }

  /** A new client (connection) of this cluster. */
  client(): MemoryCoordinationStore {
    return new MemoryCoordinationStore(this);
  }

  /** The current revision. */
  get revision(): number {
    return this.rev;
  }

  /** The oldest revision a watch can still resume from. */
  get compactRevision(): number {
    return this.firstRetained;
  }

  /** Discard history before `revision` (etcd `compact`): watches behind it are reset. */
  compact(revision: number): void {
    if (revision > this.rev) throw new RangeError(`cannot compact to ${revision}: current revision is ${this.rev}`);
    if (revision <= this.firstRetained) return;
    let drop = 0;
    while (drop < this.history.length && this.history[drop]!.revision < revision) drop++;
    this.history.splice(0, drop);
    this.firstRetained = revision;
    this.wakeWatches();
  }

  /** Expire a lease now, as the store does when its TTL runs out (test hook). */
  expireLease(id: string): void {
    this.revokeLease(id);
  }

  /** Lease ids currently held by the cluster (test and debugging aid). */
  leaseIds(): string[] {
    return [...this.leases.keys()];
  }

  // --- operations used by clients ---

  get(key: string): KeyValue | undefined {
    return this.data.get(key);
  }

  list(prefix: string): { items: KeyValue[]; revision: number } {
    const items: KeyValue[] = [];
    for (const [key, kv] of this.data) if (key.startsWith(prefix)) items.push(kv);
    items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { items, revision: this.rev };
  }

  transaction(compares: TxnCompare[], ops: TxnOp[]): { succeeded: boolean; revision: number; deleted: number } {
    const holds = compares.every((c) => (this.data.get(c.key)?.modRevision ?? 0) === c.modRevision);
    if (!holds) return { succeeded: false, revision: this.rev, deleted: 0 };
    for (const op of ops) {
      if (op.type === 'put' && op.lease !== undefined && !this.leases.has(op.lease)) {
        throw new CoordinationError('LEASE_LOST', `lease ${op.lease} not found`);
      }
    }
    const { deleted } = this.apply(ops);
    return { succeeded: true, revision: this.rev, deleted };
  }

  deletePrefix(prefix: string): { revision: number; deleted: number } {
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix));
    const { deleted } = this.apply(keys.map((key) => ({ type: 'delete', key })));
    return { revision: this.rev, deleted };
  }

  grantLease(ttlSeconds: number): { id: string; ttlSeconds: number } {
    const id = (this.nextLeaseId++).toString(16).padStart(16, '0');
    const timer = this.leaseTimer(id, ttlSeconds);
    this.leases.set(id, { ttlSeconds, keys: new Set(), timer });
    return { id, ttlSeconds };
  }

  /** Renew a lease; returns its TTL, or 0 if it does not exist. */
  keepAlive(id: string): number {
    const lease = this.leases.get(id);
    if (!lease) return 0;
    clearTimeout(lease.timer);
    lease.timer = this.leaseTimer(id, lease.ttlSeconds);
    return lease.ttlSeconds;
  }

  revokeLease(id: string): boolean {
    const lease = this.leases.get(id);
    if (!lease) return false;
    clearTimeout(lease.timer);
    this.leases.delete(id);
    if (lease.keys.size > 0) this.apply([...lease.keys].map((key) => ({ type: 'delete', key })));
    return true;
  }

  addWatch(watch: MemoryWatch): void {
    this.watches.add(watch);
  }

  removeWatch(watch: MemoryWatch): void {
    this.watches.delete(watch);
  }

  /**
   * Changes under `prefix` after `afterRevision`, or 'compacted' if some of them are gone.
   */
  changesSince(afterRevision: number, prefix: string): WatchEvent[] | 'compacted' {
    if (afterRevision + 1 < this.firstRetained) return 'compacted';
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.revision <= afterRevision) lo = mid + 1;
      else hi = mid;
    }
    const out: WatchEvent[] = [];
    for (let i = lo; i < this.history.length; i++) {
      const event = this.history[i]!;
      if (event.key.startsWith(prefix)) out.push(event);
    }
    return out;
  }

  /** Stop every lease timer (the cluster is discarded). */
  close(): void {
    for (const lease of this.leases.values()) clearTimeout(lease.timer);
    this.leases.clear();
    for (const watch of this.watches) watch.detach();
    this.watches.clear();
  }

  private leaseTimer(id: string, ttlSeconds: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.logger?.debug({ lease: id }, 'lease expired');
      this.revokeLease(id);
    }, ttlSeconds * 1000);
    timer.unref?.();
    return timer;
  }

  /** Apply ops as one revision (if anything changes) and notify watches. */
  private apply(ops: TxnOp[]): { deleted: number } {
    const revision = this.rev + 1;
    const events: WatchEvent[] = [];
    let deleted = 0;
    for (const op of ops) {
      const prev = this.data.get(op.key);
      if (op.type === 'put') {
        if (prev?.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(op.key);
        const kv: KeyValue = {
          key: op.key,
          value: op.value,
          createRevision: prev?.createRevision ?? revision,
          modRevision: revision,
          version: (prev?.version ?? 0) + 1,
        };
        if (op.lease !== undefined) {
          kv.lease = op.lease;
          this.leases.get(op.lease)?.keys.add(op.key);
        }
        this.data.set(op.key, kv);
        events.push(prev ? { type: 'put', key: op.key, kv, prevKv: prev, revision } : { type: 'put', key: op.key, kv, revision });
      } else if (prev) {
        if (prev.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(op.key);
        this.data.delete(op.key);
        deleted++;
        events.push({ type: 'delete', key: op.key, prevKv: prev, revision });
      }
    }
    // etcd bumps the revision for every successful write transaction, even one that changes nothing.
    this.rev = revision;
    if (events.length > 0) {
      this.history.push(...events);
      this.trimHistory();
      this.wakeWatches();
    }
    return { deleted };
  }

  private trimHistory(): void {
    if (this.history.length <= this.historyLimit) return;
    // Keep whole revisions: drop up to the first revision that fits, not part of one.
    const cut = this.history[this.history.length - this.historyLimit]!.revision;
    this.compact(cut);
  }

  private wakeWatches(): void {
    for (const watch of this.watches) watch.wake();
  }
}

/**
 * A client of a `MemoryCoordinationCluster`: the in-memory `CoordinationStore` (the embedded default).
 * `new MemoryCoordinationStore()` starts its own cluster.
 */
export class MemoryCoordinationStore implements CoordinationStore {
  readonly cluster: MemoryCoordinationCluster;
  private connected = true;
  private closed = false;
  private readonly leases = new Set<RenewingLease>();
  private readonly watches = new Set<MemoryWatch>();

  constructor(cluster: MemoryCoordinationCluster | MemoryCoordinationOptions = {}) {
    this.cluster = cluster instanceof MemoryCoordinationCluster ? cluster : new MemoryCoordinationCluster(cluster);
  }

  /** Cut this client off the cluster (simulated partition). */
  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    for (const watch of this.watches) watch.setConnected(false);
  }

  /** Restore the connection: watches resume from their last revision (or reset if compacted). */
  reconnect(): void {
    if (this.connected || this.closed) return;
    this.connected = true;
    for (const watch of this.watches) watch.setConnected(true);
  }

  isConnected(): boolean {
    return this.connected && !this.closed;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    await this.call();
    return this.cluster.get(key);
  }

  async list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    await this.call();
    return this.cluster.list(prefix);
  }

  async put(key: string, value: string, options: { lease?: string } = {}): Promise<{ revision: number }> {
    await this.call();
    const { revision } = this.cluster.transaction([], [{ type: 'put', key, value, lease: options.lease }]);
    return { revision };
  }

  async delete(key: string): Promise<{ revision: number; deleted: boolean }> {
    await this.call();
    const { revision, deleted } = this.cluster.transaction([], [{ type: 'delete', key }]);
    return { revision, deleted: deleted > 0 };
  }

  async deletePrefix(prefix: string): Promise<{ revision: number; deleted: number }> {
    await this.call();
    return this.cluster.deletePrefix(prefix);
  }

  async transaction(compares: TxnCompare[], ops: TxnOp[]): Promise<{ succeeded: boolean; revision: number }> {
    await this.call();
    const { succeeded, revision } = this.cluster.transaction(compares, ops);
    return { succeeded, revision };
  }

  async watchPrefix(prefix: string, handlers: WatchHandlers, options: WatchOptions = {}): Promise<Watch> {
    await this.call();
    const start = options.fromRevision ?? this.cluster.revision + 1;
    const watch = new MemoryWatch(this.cluster, prefix, handlers, start - 1, () => this.watches.delete(watch));
    this.watches.add(watch);
    this.cluster.addWatch(watch);
    watch.wake();
    return watch;
  }

  async grantLease(ttlSeconds: number, options: LeaseOptions = {}): Promise<Lease> {
    leaseTiming(ttlSeconds, options);
    const sentAt = this.cluster.now();
    await this.call();
    const keepAlive = options.keepAlive !== false;
    const { id } = this.cluster.grantLease(ttlSeconds);
    const lease = new RenewingLease(
      id,
      ttlSeconds,
      sentAt,
      {
        keepAliveOnce: async () => {
          await this.call();
          return this.cluster.keepAlive(id);
        },
        revoke: async () => {
          await this.call();
          this.cluster.revokeLease(id);
        },
      },
      { ...options, now: this.cluster.now, logger: this.cluster.logger },
    );
    if (keepAlive) {
      this.leases.add(lease);
      void lease.lost.then(() => this.leases.delete(lease));
    }
    return lease;
  }

  election(name: string, candidateId: string, options: ElectionOptions): Candidacy {
    return new LeaseCandidacy(this, name, candidateId, options, this.cluster.logger);
  }

  async revision(): Promise<number> {
    await this.call();
    return this.cluster.revision;
  }

  /**
   * Close the client: kept-alive leases are revoked (their keys deleted at once) if the cluster is
   * reachable, else abandoned (they expire after their TTL, as when a process dies); watches end.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.connected) await Promise.allSettled([...this.leases].map((l) => l.revoke()));
    for (const lease of this.leases) lease.release();
    this.closed = true;
    for (const watch of [...this.watches]) await watch.close();
  }

  /** Every call is asynchronous (like a network call) and fails while disconnected or closed. */
  private async call(): Promise<void> {
    await Promise.resolve();
    if (this.closed) throw new CoordinationError('CLOSED', 'the coordination client is closed');
    if (!this.connected) throw new CoordinationError('UNAVAILABLE', 'the coordination store is unreachable (disconnected)');
  }
}

/**
 * A prefix watch of a memory client: it pulls changes from the cluster history after `lastRevision`,
 * in revision order, on a microtask after each change (so delivery is asynchronous, as with etcd).
 */
class MemoryWatch implements Watch {
  private scheduled = false;
  private closed = false;
  private connected = true;
  readonly id = randomUUID();

  constructor(
    private readonly cluster: MemoryCoordinationCluster,
    private readonly prefix: string,
    private readonly handlers: WatchHandlers,
    private last: number,
    private readonly onClose: () => void,
  ) {}

  get lastRevision(): number {
    return this.last;
  }

  wake(): void {
    if (this.scheduled || this.closed || !this.connected) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  setConnected(connected: boolean): void {
    if (this.closed || this.connected === connected) return;
    this.connected = connected;
    safely(() => this.handlers.onConnectionChange?.(connected));
    if (connected) this.wake();
  }

  detach(): void {
    this.closed = true;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.cluster.removeWatch(this);
      this.onClose();
    }
    return Promise.resolve();
  }

  private pump(): void {
    if (this.closed || !this.connected) return;
    const upTo = this.cluster.revision;
    const changes = this.cluster.changesSince(this.last, this.prefix);
    if (changes === 'compacted') {
      const { items, revision } = this.cluster.list(this.prefix);
      this.last = revision;
      safely(() => this.handlers.onReset?.(items, revision));
      return;
    }
    // Deliver whole revisions; stop between revisions if the watch was closed or cut off meanwhile.
    let i = 0;
    while (i < changes.length) {
      if (this.closed || !this.connected) return;
      const revision = changes[i]!.revision;
      for (; i < changes.length && changes[i]!.revision === revision; i++) {
        const event = changes[i]!;
        safely(() => this.handlers.onEvent(event));
      }
      this.last = revision;
    }
    // Every change up to `upTo` has been seen (the others are not under the prefix).
    if (!this.closed && this.connected) this.last = Math.max(this.last, upTo);
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A handler's failure is its own; delivery continues (as with the etcd adapter).
  }
}
