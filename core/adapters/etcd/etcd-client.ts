import { ClientClosedError, Etcd3, EtcdLeaseInvalidError, isRecoverableError, type IOptions } from 'etcd3';
import { CoordinationError } from '../../ports/coordination.ts';

/** How to reach etcd, and the fault-handling knobs of the etcd3 client (see docs/coordination.md). */
export interface EtcdClientOptions {
  /** Client URLs, e.g. `['http://127.0.0.1:2379']` (`LCM_ETCD_ENDPOINTS`). */
  endpoints: string[];
  /** Deadline of every unary call (get, put, txn, lease grant…). Default 5 000 ms. */
  requestTimeoutMs?: number;
  /** Cap of the reconnect backoff of watch streams and gRPC channels. Default 2 000 ms (etcd3: 30 s). */
  reconnectMaxDelayMs?: number;
  /**
   * Per-endpoint circuit breaker: after this many consecutive transient failures the endpoint is
   * skipped for `halfOpenAfterMs` (so calls go to another endpoint). Default 3 failures, 1 000 ms
   * (etcd3: 5 000 ms, which blocks a single-endpoint client for 5 s after an etcd restart).
   */
  circuitBreaker?: { consecutiveFailures: number; halfOpenAfterMs: number };
  /** gRPC keep-alive ping interval, to notice a dead connection. Default 10 000 ms (etcd accepts ≥ 5 s). */
  keepaliveIntervalMs?: number;
  auth?: IOptions['auth'];
  credentials?: IOptions['credentials'];
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;
type Backoff = NonNullable<FaultHandling['watchBackoff']>;

/**
 * An etcd3 client with fault handling suited to a control plane:
 * - no global retry policy: etcd3 retries every call 3× by default, including transactions, so a txn
 *   whose response was lost is re-sent and reports `succeeded: false` after it did apply. The store
 *   retries only idempotent calls itself (`EtcdCoordinationStore`);
 * - a short circuit breaker per endpoint, a per-call deadline, and a capped reconnect backoff.
 */
export function createEtcdClient(options: EtcdClientOptions): Etcd3 {
  if (options.endpoints.length === 0) throw new RangeError('at least one etcd endpoint is required');
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  const maxDelay = options.reconnectMaxDelayMs ?? 2000;
  const breaker = options.circuitBreaker ?? { consecutiveFailures: 3, halfOpenAfterMs: 1000 };
  const keepalive = options.keepaliveIntervalMs ?? 10_000;
  return new Etcd3({
    hosts: options.endpoints.map(normalizeEndpoint),
    auth: options.auth,
    credentials: options.credentials,
    dialTimeout: requestTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
    grpcOptions: {
      'grpc.keepalive_time_ms': keepalive,
      'grpc.keepalive_timeout_ms': Math.min(keepalive, 5000),
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': Math.min(100, maxDelay),
      'grpc.max_reconnect_backoff_ms': maxDelay,
    },
    faultHandling: {
      global: passThroughPolicy(),
      host: () => circuitBreakerPolicy(breaker.consecutiveFailures, breaker.halfOpenAfterMs),
      watchBackoff: exponentialBackoff(100, maxDelay, -1),
    },
  });
}

/** `http://host:port` from an endpoint URL (gRPC rejects a trailing slash or a path). */
export function normalizeEndpoint(endpoint: string): string {
  const url = new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`);
  return `${url.protocol}//${url.host}`;
}

/** A policy that runs the call once (etcd3 only ever calls `execute`). */
function passThroughPolicy(): Policy {
  return { execute: (fn: (context: unknown) => unknown) => Promise.resolve().then(() => fn({ signal: new AbortController().signal })) } as unknown as Policy;
}

/** The error a call gets while an endpoint's circuit is open. */
export class EndpointUnavailableError extends Error {
  constructor(until: number) {
    super(`etcd endpoint skipped after repeated failures (circuit open for ${Math.max(0, Math.round(until - Date.now()))} ms)`);
    this.name = 'EndpointUnavailableError';
  }
}

/** Consecutive-failure circuit breaker: open for `halfOpenAfterMs`, then one trial call. */
function circuitBreakerPolicy(threshold: number, halfOpenAfterMs: number): Policy {
  let failures = 0;
  let openUntil = 0;
  let trialInFlight = false;
  return {
    async execute(fn: (context: unknown) => unknown) {
      const now = Date.now();
      const open = failures >= threshold;
      if (open && (now < openUntil || trialInFlight)) throw new EndpointUnavailableError(openUntil);
      const trial = open;
      if (trial) trialInFlight = true;
      try {
        const result = await fn({ signal: new AbortController().signal });
        failures = 0;
        return result;
      } catch (e) {
        if (e instanceof Error && isRecoverableError(e)) {
          failures++;
          if (failures >= threshold) openUntil = Date.now() + halfOpenAfterMs;
        }
        throw e;
      } finally {
        if (trial) trialInFlight = false;
      }
    },
  } as unknown as Policy;
}

/** Exponential backoff with full jitter, capped (etcd3 watch reconnects). */
function exponentialBackoff(initialMs: number, maxMs: number, attempt = 0): Backoff {
  const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
  return {
    duration: Math.round(ceiling / 2 + (Math.random() * ceiling) / 2),
    next: () => exponentialBackoff(initialMs, maxMs, attempt + 1),
  } as unknown as Backoff;
}

/** Whether a failed call may be retried (the request did not reach etcd, or etcd was unavailable). */
export function isTransientEtcdError(e: unknown): boolean {
  return e instanceof EndpointUnavailableError || (e instanceof Error && isRecoverableError(e));
}

/** Map an etcd3 error to a `CoordinationError` with a stable code. */
export function toCoordinationError(e: unknown, what: string): CoordinationError {
  if (e instanceof CoordinationError) return e;
  if (e instanceof ClientClosedError) return new CoordinationError('CLOSED', `${what}: the etcd client is closed`, { cause: e });
  if (e instanceof EtcdLeaseInvalidError) return new CoordinationError('LEASE_LOST', `${what}: lease not found`, { cause: e });
  const message = e instanceof Error ? e.message : String(e);
  return new CoordinationError('UNAVAILABLE', `${what}: ${message}`, { cause: e });
}
