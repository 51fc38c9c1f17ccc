/**
 * The coordination store port (DESIGN.md §4, §7): a consistent key-value store with revisions, prefix
 * watches, leases and leader election. etcd in production (`core/adapters/etcd`), an in-memory store
 * with the same semantics for the embedded default (`core/adapters/memory`). Both are held to one
 * contract test suite (`core/ports/coordination.contract.ts`).
 *
 * Keys are plain strings under `/lcm/` (see `CoordinationKeys`). Revisions are the store's global,
 * monotonically increasing revision (etcd's `mod_revision`).
 */
export interface KeyValue {
  key: string;
  value: string;
  /** Revision at which the key was created. */
  createRevision: number;
  /** Revision of the last change of this key. */
  modRevision: number;
  /** Number of changes since creation (1 after the first put). */
  version: number;
  /** Lease the key is attached to, if any. */
  lease?: string;
}

export type WatchEvent =
  | { type: 'put'; key: string; kv: KeyValue; prevKv?: KeyValue; revision: number }
  | { type: 'delete'; key: string; prevKv?: KeyValue; revision: number };

export interface WatchOptions {
  /** Deliver every change with revision >= fromRevision (etcd `start_revision`). Default: changes from now. */
  fromRevision?: number;
}

export interface WatchHandlers {
  /** Called for every change, in revision order, exactly once per revision and key. */
  onEvent(event: WatchEvent): void;
  /**
   * The store could not resume from the requested revision (it was compacted). The watch has re-listed
   * the prefix: `items` is the complete current state at `revision`, and events continue after it.
   * Consumers replace their cache with `items`.
   */
  onReset?(items: KeyValue[], revision: number): void;
  /** Connection state changes, for metrics and readiness. */
  onConnectionChange?(connected: boolean): void;
  /** An unrecoverable error; the watch is closed. */
  onError?(error: Error): void;
}

export interface Watch {
  /** The last revision delivered (or the start revision minus one before any delivery). */
  readonly lastRevision: number;
  close(): Promise<void>;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Resolves when the lease is lost (expired or revoked, or keep-alive failed past the TTL). */
  readonly lost: Promise<void>;
  isAlive(): boolean;
  revoke(): Promise<void>;
}

export interface TxnCompare {
  key: string;
  /** Expected mod revision; 0 means "the key must not exist". */
  modRevision: number;
}

export type TxnOp = { type: 'put'; key: string; value: string; lease?: string } | { type: 'delete'; key: string };

export interface CoordinationStore {
  get(key: string): Promise<KeyValue | undefined>;
  /** All keys under a prefix, with the store revision at which they were read. */
  list(prefix: string): Promise<{ items: KeyValue[]; revision: number }>;
  put(key: string, value: string, options?: { lease?: string }): Promise<{ revision: number }>;
  delete(key: string): Promise<{ revision: number; deleted: boolean }>;
  deletePrefix(prefix: string): Promise<{ revision: number; deleted: number }>;
  /**
   * Compare-and-swap: apply `ops` atomically if every comparison holds (etcd txn on `mod_revision`).
   */
  transaction(compares: TxnCompare[], ops: TxnOp[]): Promise<{ succeeded: boolean; revision: number }>;
  /** Watch every key under `prefix`. Resumes by itself after a disconnect; re-lists after compaction. */
  watchPrefix(prefix: string, handlers: WatchHandlers, options?: WatchOptions): Promise<Watch>;
  /** A lease with automatic keep-alive. */
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** Leader election among candidates of the same `name` (see `LeaderElection`). */
  election(name: string, candidateId: string, options: { ttlSeconds: number }): LeaderElection;
  /** The current store revision. */
  revision(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Leader election on a lease. `campaign()` resolves when this candidate leads; `leadership` is then an
 * AbortSignal that aborts as soon as leadership is lost (the lease is lost or resigned). A leader whose
 * lease could not be renewed stops acting before its TTL runs out, so no two leaders act at once.
 */
export interface LeaderElection {
  readonly candidateId: string;
  campaign(signal?: AbortSignal): Promise<AbortSignal>;
  isLeader(): boolean;
  /** The current leader's candidate id, if any. */
  leader(): Promise<string | undefined>;
  resign(): Promise<void>;
}

/** The key layout under `/lcm/` (research/lcm-domain.md §6). */
export const CoordinationKeys = {
  root: '/lcm/',
  sessions: '/lcm/sessions/',
  sessionStatus: (id: string) => `/lcm/sessions/${id}/status`,
  session: (id: string) => `/lcm/sessions/${id}/`,
  workers: '/lcm/workers/',
  workerStatus: (id: string) => `/lcm/workers/${id}/status`,
  workerCapacity: (id: string) => `/lcm/workers/${id}/capacity`,
  worker: (id: string) => `/lcm/workers/${id}/`,
  events: '/lcm/events/',
  elections: '/lcm/elections/',
} as const;
