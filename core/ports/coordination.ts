/**
 * The coordination store port (DESIGN.md §4, §7): a consistent key-value store with revisions, prefix
 * watches, leases and leader election. etcd in production (`core/adapters/etcd`), an in-memory store
 * with the same semantics for the embedded default (`core/adapters/memory`). Both are held to one
 * contract test suite (`test/support/contracts/coordination.contract.ts`).
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
  /**
   * Resolves when the lease is lost: expired or revoked in the store, or not renewed within its renew
   * deadline (the holder then treats it as gone before the store can expire it). Never rejects.
   */
  readonly lost: Promise<void>;
  isAlive(): boolean;
  /** Give the lease up: keys attached to it are deleted. Idempotent; `lost` resolves. */
  revoke(): Promise<void>;
}

/** How a lease is kept alive (see `Lease.lost`). */
export interface LeaseOptions {
  /**
   * Renew the lease automatically (default true). A lease granted without keep-alive simply expires
   * after its TTL, with every key attached to it (bounded retention).
   */
  keepAlive?: boolean;
  /** Interval between renewals. Default: a third of the TTL (etcd's Go client and etcd3 do the same). */
  renewIntervalMs?: number;
  /**
   * The lease counts as lost when no renewal has succeeded for this long after the last acknowledged
   * renewal was sent. Must be below the TTL; the gap is the margin in which the holder has stopped
   * acting but the store still holds the lease. Default: two thirds of the TTL (Kubernetes: 10 s of 15 s).
   */
  renewDeadlineMs?: number;
}

/** Options of a leader election: the lease TTL and how it is renewed. */
export interface ElectionOptions extends Omit<LeaseOptions, 'keepAlive'> {
  /** How long a leader that stopped renewing holds the slot at most (Kubernetes LeaseDuration). */
  ttlSeconds: number;
  /** Delay before a failed campaign step (store unavailable) is retried. Default 1 s. */
  retryIntervalMs?: number;
}

/** Stable codes of coordination failures. */
export const CoordinationErrorCode = {
  /** The store could not be reached (or answered with a transient error). A write may or may not have applied. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** The store (or client) was closed. */
  CLOSED: 'CLOSED',
  /** The lease does not exist any more (expired or revoked). */
  LEASE_LOST: 'LEASE_LOST',
  /** The operation was aborted through its AbortSignal. */
  ABORTED: 'ABORTED',
} as const;
export type CoordinationErrorCode = (typeof CoordinationErrorCode)[keyof typeof CoordinationErrorCode];

/** A failure of a coordination store operation, with a stable `code`. */
export class CoordinationError extends Error {
  readonly code: CoordinationErrorCode;

  constructor(code: CoordinationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CoordinationError';
    this.code = code;
  }
}

export const isCoordinationError = (e: unknown, code?: CoordinationErrorCode): e is CoordinationError =>
  e instanceof CoordinationError && (code === undefined || e.code === code);

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
  /** A lease, kept alive automatically unless `options.keepAlive` is false (see `LeaseOptions`). */
  grantLease(ttlSeconds: number, options?: LeaseOptions): Promise<Lease>;
  /** Leader election among candidates of the same `name` (see `Candidacy`). */
  election(name: string, candidateId: string, options: ElectionOptions): Candidacy;
  /** The current store revision. */
  revision(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Leader election on a lease. `campaign()` resolves when this candidate leads, with an AbortSignal that
 * aborts as soon as leadership is lost (the lease is lost, the candidate key disappears, or `resign()`).
 * A leader whose lease could not be renewed stops acting before its TTL runs out, so no two leaders act
 * at once. `campaign()` keeps trying through store outages until elected or until `signal` aborts (it
 * then rejects with `CoordinationError` ABORTED). After leadership is lost, `campaign()` may be called
 * again.
 */
export interface Candidacy {
  readonly candidateId: string;
  campaign(signal?: AbortSignal): Promise<AbortSignal>;
  isLeader(): boolean;
  /** The current leader's candidate id, if any (read from the store). */
  leader(): Promise<string | undefined>;
  /** Stop leading (the leadership signal aborts first) or stop campaigning; frees the slot at once. */
  resign(): Promise<void>;
}

/** The key layout under `/lcm/` (research/lcm-domain.md §6). */
export const CoordinationKeys = {
  root: '/lcm/',
  definitions: '/lcm/definitions/',
  definitionStatus: (id: string) => `/lcm/definitions/${id}/status`,
  sessions: '/lcm/sessions/',
  sessionStatus: (id: string) => `/lcm/sessions/${id}/status`,
  session: (id: string) => `/lcm/sessions/${id}/`,
  workers: '/lcm/workers/',
  workerStatus: (id: string) => `/lcm/workers/${id}/status`,
  workerCapacity: (id: string) => `/lcm/workers/${id}/capacity`,
  worker: (id: string) => `/lcm/workers/${id}/`,
  events: '/lcm/events/',
  /** Events of one topic: `/lcm/events/<topic>/<time-ordered id>` (see `core/adapters/etcd/etcd-event-bus.ts`). */
  eventTopic: (topic: string) => `/lcm/events/${topic}/`,
  elections: '/lcm/elections/',
  /** Candidates of one election: `/lcm/elections/<name>/<lease id>`, value = candidate id. */
  election: (name: string) => `/lcm/elections/${name}/`,
} as const;
