import { CloudEvent as WireEvent, HTTP } from 'cloudevents';
import type { CloudEvent } from '../../core/events/cloudevent.ts';
import { silentLogger, type Logger } from '../../core/logging.ts';

/**
 * Delivers CloudEvents 1.0 over HTTP to a sink, the way LDS and the grading engine call their
 * webhooks: binary mode (`ce-*` headers + JSON body) or structured mode (`application/cloudevents+json`),
 * serialized by the `cloudevents` package's HTTP binding.
 *
 * - Order is preserved per ordering key (a session): the next event of a key waits until the one before
 *   it is delivered or dead-lettered. Different keys are delivered concurrently.
 * - A failed attempt is retried with exponential backoff when it may succeed later (connection error,
 *   timeout, 5xx, 408, 429; `Retry-After` is honoured up to `maxDelayMs`), up to `maxAttempts`.
 *   Any other 4xx is final. Final failures go to a bounded dead-letter list, which can be redelivered.
 * - With a sink token, every attempt carries `Authorization: Bearer <token>` (what the
 *   lablet-controller's sink requires); a 401 is final like any other 4xx.
 * - The sink URL and token, the mode and the retry policy can change at run time; the next attempt
 *   uses them.
 * - Injected faults, what a real event bus does to its subscribers now and then (each `true` = every
 *   event until turned off, or N = the next N events, taken when the event is enqueued):
 *   `sinkDown` (attempts fail as if the sink were unreachable; retried), `duplicate` (the event is sent
 *   twice, same id), `reorder` (the event is held and sent right after the next event of the same
 *   ordering key, or after `reorderHoldMs` when none comes) and `drop` (the event is lost for good:
 *   never sent, never dead-lettered, only counted).
 */

export type DeliveryMode = 'binary' | 'structured';

export interface RetryPolicy {
  /** Attempts per event, first one included (≥ 1). */
  maxAttempts: number;
  /** Delay before the second attempt. */
  initialDelayMs: number;
  /** Upper bound of any delay, `Retry-After` included. */
  maxDelayMs: number;
  /** Factor between consecutive delays. */
  multiplier: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 6,
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  multiplier: 2,
});

export interface DeliveryOptions {
  /** Where events go; `null`/absent = nowhere (events are dead-lettered with reason "no sink configured"). */
  sinkUrl?: string | null;
  /** Bearer token sent to the sink (`Authorization: Bearer <token>`); `null`/absent = no header. */
  sinkToken?: string | null;
  mode?: DeliveryMode;
  retry?: Partial<RetryPolicy>;
  /** Timeout of one HTTP attempt. */
  attemptTimeoutMs?: number;
  /** How many delivered records the snapshot keeps (most recent). */
  historyLimit?: number;
  /** How many dead letters are kept (oldest dropped first). */
  deadLetterLimit?: number;
  logger?: Logger;
  /** Outcome hooks (metrics). */
  observer?: DeliveryObserver;
  /** How long the `reorder` fault holds an event waiting for the next one of its key (default 10 s). */
  reorderHoldMs?: number;
}

/** An injected fault's setting: `true` = every event until `false`; N = the next N events. */
export type FaultSetting = boolean | number;

/** The delivery faults that act on events (not on attempts); see the class comment. */
export type EventFault = 'duplicate' | 'reorder' | 'drop';

export interface DeliveryObserver {
  delivered?(record: DeliveryRecord): void;
  attemptFailed?(event: CloudEvent, reason: string): void;
  deadLettered?(letter: DeadLetter): void;
}

export interface DeliveryRecord {
  eventId: string;
  type: string;
  subject?: string;
  orderingKey: string;
  sinkUrl: string;
  mode: DeliveryMode;
  attempts: number;
  status: number;
  deliveredAt: string;
}

export interface DeadLetter {
  event: CloudEvent;
  orderingKey: string;
  reason: string;
  attempts: number;
  /** HTTP status of the last attempt, when the sink answered. */
  lastStatus?: number;
  sinkUrl: string | null;
  deadLetteredAt: string;
}

export interface DeliverySnapshot {
  sinkUrl: string | null;
  /** Whether a sink token is set (the token itself is never shown). */
  sinkTokenSet: boolean;
  mode: DeliveryMode;
  retry: RetryPolicy;
  attemptTimeoutMs: number;
  /** Injected sink outage: `true` = every attempt fails, a number = that many next attempts fail. */
  sinkDown: boolean | number;
  /** Injected event faults (`true` = every event, a number = that many next events). */
  duplicate: FaultSetting;
  reorder: FaultSetting;
  drop: FaultSetting;
  /** Events waiting or being delivered (held ones included). */
  pending: number;
  /** Events held by the `reorder` fault, waiting for the next event of their key. */
  held: number;
  stats: {
    enqueued: number;
    delivered: number;
    failedAttempts: number;
    deadLettered: number;
    /** Events the injected faults sent twice, held back, or lost. */
    duplicated: number;
    reordered: number;
    dropped: number;
  };
  /** The last events lost to the `drop` fault (ids and types, most recent last). */
  dropped: Array<{ eventId: string; type: string; orderingKey: string; droppedAt: string }>;
  delivered: DeliveryRecord[];
  deadLetters: DeadLetter[];
}

interface QueuedEvent {
  event: CloudEvent;
  orderingKey: string;
  attempts: number;
}

type AttemptResult =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; reason: string; status?: number; retryAfterMs?: number }
  | { kind: 'final'; reason: string; status?: number };

function checkFaultSetting(name: string, value: FaultSetting): FaultSetting {
  if (typeof value === 'number' && (!Number.isInteger(value) || value < 0)) throw new TypeError(`${name} must be a boolean or an integer ≥ 0`);
  return value === 0 ? false : value;
}

/** Validate a sink URL (http or https); throws a TypeError naming the problem. */
export function checkSinkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`sink URL "${url}" is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`sink URL "${url}" must use http or https`);
  }
  return url;
}

/** Validate a sink token (sent in an HTTP header); throws a TypeError naming the problem. */
export function checkSinkToken(token: string): string {
  if (token.length === 0 || !/^[\x21-\x7e]+$/.test(token)) throw new TypeError('sink token must be non-empty printable ASCII without spaces');
  return token;
}

/** Validate a retry policy; throws a TypeError naming the bad field. */
export function checkRetryPolicy(policy: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new TypeError('retry.maxAttempts must be an integer ≥ 1');
  if (!(policy.initialDelayMs >= 0)) throw new TypeError('retry.initialDelayMs must be ≥ 0');
  if (!(policy.maxDelayMs >= 0)) throw new TypeError('retry.maxDelayMs must be ≥ 0');
  if (!(policy.multiplier >= 1)) throw new TypeError('retry.multiplier must be ≥ 1');
  return { ...policy };
}

/** The delay before attempt `attempt + 1` after `attempt` failed attempts (1-based). */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  const exponential = policy.initialDelayMs * policy.multiplier ** Math.max(0, attempt - 1);
  const wanted = retryAfterMs !== undefined ? Math.max(retryAfterMs, exponential) : exponential;
  return Math.min(policy.maxDelayMs, wanted);
}

const RETRYABLE_STATUS = (status: number): boolean => status >= 500 || status === 408 || status === 429;

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export class CloudEventDelivery {
  private sink: string | null;
  private token: string | null;
  private deliveryMode: DeliveryMode;
  private policy: RetryPolicy;
  private timeoutMs: number;
  private down: boolean | number = false;
  private readonly eventFaults: Record<EventFault, FaultSetting> = { duplicate: false, reorder: false, drop: false };
  /** Events held by `reorder`, by ordering key, with the timer that releases them if nothing follows. */
  private readonly held = new Map<string, { item: QueuedEvent; timer: NodeJS.Timeout }>();
  private readonly reorderHoldMs: number;
  private readonly droppedEvents: DeliverySnapshot['dropped'] = [];
  private readonly historyLimit: number;
  private readonly deadLetterLimit: number;
  private readonly logger: Logger;
  private readonly observer: DeliveryObserver;

  private readonly queues = new Map<string, QueuedEvent[]>();
  private readonly delivered: DeliveryRecord[] = [];
  private readonly deadLetters: DeadLetter[] = [];
  private readonly stats = { enqueued: 0, delivered: 0, failedAttempts: 0, deadLettered: 0, duplicated: 0, reordered: 0, dropped: 0 };
  private readonly idleWaiters: Array<() => void> = [];
  private readonly sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private readonly running = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private closed = false;

  constructor(options: DeliveryOptions = {}) {
    this.sink = options.sinkUrl ? checkSinkUrl(options.sinkUrl) : null;
    this.token = options.sinkToken ? checkSinkToken(options.sinkToken) : null;
    this.deliveryMode = options.mode ?? 'binary';
    this.policy = checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.timeoutMs = options.attemptTimeoutMs ?? 5_000;
    this.historyLimit = options.historyLimit ?? 200;
    this.deadLetterLimit = options.deadLetterLimit ?? 1_000;
    this.logger = options.logger ?? silentLogger;
    this.observer = options.observer ?? {};
    this.reorderHoldMs = options.reorderHoldMs ?? 10_000;
  }

  get sinkUrl(): string | null {
    return this.sink;
  }
  /** Change the sink; `null` stops delivery (new events are dead-lettered). */
  setSinkUrl(url: string | null): void {
    this.sink = url === null ? null : checkSinkUrl(url);
  }

  /** Whether attempts carry a bearer token (the token itself is not readable back). */
  get hasSinkToken(): boolean {
    return this.token !== null;
  }
  /** Change the bearer token sent to the sink; `null` sends none. */
  setSinkToken(token: string | null): void {
    this.token = token === null ? null : checkSinkToken(token);
  }

  get mode(): DeliveryMode {
    return this.deliveryMode;
  }
  setMode(mode: DeliveryMode): void {
    if (mode !== 'binary' && mode !== 'structured') throw new TypeError(`mode must be "binary" or "structured", got "${String(mode)}"`);
    this.deliveryMode = mode;
  }

  get retry(): RetryPolicy {
    return { ...this.policy };
  }
  setRetry(patch: Partial<RetryPolicy>): void {
    this.policy = checkRetryPolicy({ ...this.policy, ...patch });
  }

  get attemptTimeoutMs(): number {
    return this.timeoutMs;
  }
  setAttemptTimeoutMs(ms: number): void {
    if (!(ms > 0)) throw new TypeError('attemptTimeoutMs must be > 0');
    this.timeoutMs = ms;
  }

  /** Injected outage: `true` fails every attempt until `false`; a number fails that many next attempts. */
  setSinkDown(down: boolean | number): void {
    if (typeof down === 'number' && (!Number.isInteger(down) || down < 0)) throw new TypeError('sinkDown must be a boolean or an integer ≥ 0');
    this.down = down === 0 ? false : down;
  }
  get sinkDown(): boolean | number {
    return this.down;
  }

  /** Arm or clear an event fault (`duplicate`, `reorder`, `drop`): `true`, `false` or the next N events. */
  setEventFault(fault: EventFault, value: FaultSetting): void {
    if (!(fault in this.eventFaults)) throw new TypeError(`unknown delivery fault "${String(fault)}"`);
    this.eventFaults[fault] = checkFaultSetting(fault, value);
  }
  eventFault(fault: EventFault): FaultSetting {
    return this.eventFaults[fault];
  }

  /** Take one use of an event fault: true when it applies to the event being enqueued. */
  private takeFault(fault: EventFault): boolean {
    const v = this.eventFaults[fault];
    if (v === false) return false;
    if (typeof v === 'number') this.eventFaults[fault] = v - 1 <= 0 ? false : v - 1;
    return true;
  }

  /**
   * Queue `event` for delivery after every earlier event with the same `orderingKey` (default: the
   * event's subject, else its id). Returns false when the delivery is closed.
   */
  enqueue(event: CloudEvent, orderingKey: string = event.subject ?? event.id): boolean {
    if (this.closed) return false;
    this.stats.enqueued++;
    const item: QueuedEvent = { event, orderingKey, attempts: 0 };
    // An event held back by `reorder` goes right after this one.
    const before = this.held.get(orderingKey);
    if (this.takeFault('drop')) {
      this.recordDropped(item);
    } else if (!before && this.takeFault('reorder')) {
      this.stats.reordered++;
      const timer = setTimeout(() => this.releaseHeld(orderingKey), this.reorderHoldMs);
      timer.unref?.();
      this.held.set(orderingKey, { item, timer });
    } else {
      this.push(item);
      if (this.takeFault('duplicate')) {
        this.stats.duplicated++;
        this.push({ event, orderingKey, attempts: 0 });
      }
    }
    if (before && this.held.get(orderingKey) === before) this.releaseHeld(orderingKey);
    return true;
  }

  /** Queue the event `reorder` held for this key (the next event came, or the hold ran out). */
  private releaseHeld(orderingKey: string): void {
    const h = this.held.get(orderingKey);
    if (!h) return;
    clearTimeout(h.timer);
    this.held.delete(orderingKey);
    if (this.closed) return;
    this.push(h.item);
  }

  private recordDropped(item: QueuedEvent): void {
    this.stats.dropped++;
    this.droppedEvents.push({ eventId: item.event.id, type: item.event.type, orderingKey: item.orderingKey, droppedAt: new Date().toISOString() });
    if (this.droppedEvents.length > this.historyLimit) this.droppedEvents.shift();
    this.logger.warn({ eventId: item.event.id, type: item.event.type }, 'event dropped (injected fault drop)');
  }

  /** Put dead letters back in their queues (all, or those whose event id is listed). Returns how many. */
  redeliverDeadLetters(eventIds?: readonly string[]): number {
    if (this.closed) return 0;
    const wanted = eventIds ? new Set(eventIds) : undefined;
    const again: DeadLetter[] = [];
    for (let i = 0; i < this.deadLetters.length; ) {
      const letter = this.deadLetters[i] as DeadLetter;
      if (!wanted || wanted.has(letter.event.id)) {
        again.push(letter);
        this.deadLetters.splice(i, 1);
      } else {
        i++;
      }
    }
    for (const letter of again) this.push({ event: letter.event, orderingKey: letter.orderingKey, attempts: 0 });
    return again.length;
  }

  /** Forget delivered records and dead letters (a simulator reset); queued events stay queued. */
  clearHistory(): void {
    this.delivered.length = 0;
    this.deadLetters.length = 0;
    this.droppedEvents.length = 0;
    for (const key of Object.keys(this.stats) as Array<keyof typeof this.stats>) this.stats[key] = 0;
  }

  /** Number of events waiting or being delivered (held by `reorder` included). */
  get pending(): number {
    let n = this.held.size;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** Resolves once nothing is queued or held (every event delivered, dead-lettered or dropped). */
  idle(): Promise<void> {
    if ((this.queues.size === 0 && this.held.size === 0) || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  snapshot(): DeliverySnapshot {
    return {
      sinkUrl: this.sink,
      sinkTokenSet: this.token !== null,
      mode: this.deliveryMode,
      retry: this.retry,
      attemptTimeoutMs: this.timeoutMs,
      sinkDown: this.down,
      ...this.eventFaults,
      pending: this.pending,
      held: this.held.size,
      stats: { ...this.stats },
      delivered: [...this.delivered],
      deadLetters: [...this.deadLetters],
      dropped: [...this.droppedEvents],
    };
  }

  /** Stop: cancel waits and in-flight requests; queued events are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.shutdown.abort();
    for (const s of this.sleeping) {
      clearTimeout(s.timer);
      s.wake();
    }
    this.sleeping.clear();
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
    await Promise.allSettled([...this.running]);
    this.queues.clear();
    this.notifyIdle();
  }

  private push(item: QueuedEvent): void {
    const queue = this.queues.get(item.orderingKey);
    if (queue) {
      queue.push(item);
      return;
    }
    this.queues.set(item.orderingKey, [item]);
    const run = this.drain(item.orderingKey).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async drain(key: string): Promise<void> {
    const queue = this.queues.get(key) as QueuedEvent[];
    while (queue.length > 0 && !this.closed) {
      const item = queue[0] as QueuedEvent;
      item.attempts++;
      const result = await this.attempt(item.event);
      if (this.closed) break;
      if (result.kind === 'delivered') {
        queue.shift();
        this.recordDelivered(item, result.status);
        continue;
      }
      this.stats.failedAttempts++;
      this.observer.attemptFailed?.(item.event, result.reason);
      if (result.kind === 'final' || item.attempts >= this.policy.maxAttempts) {
        queue.shift();
        const reason = result.kind === 'final' ? result.reason : `gave up after ${item.attempts} attempts: ${result.reason}`;
        this.recordDeadLetter(item, reason, result.status);
        continue;
      }
      const delay = backoffDelay(this.policy, item.attempts, result.retryAfterMs);
      this.logger.debug({ eventId: item.event.id, attempt: item.attempts, delay, reason: result.reason }, 'delivery retry');
      await this.sleep(delay);
    }
    this.queues.delete(key);
    if (this.queues.size === 0 && this.held.size === 0) this.notifyIdle();
  }

  private async attempt(event: CloudEvent): Promise<AttemptResult> {
    const sink = this.sink;
    if (sink === null) return { kind: 'final', reason: 'no sink configured' };
    if (this.down !== false) {
      if (typeof this.down === 'number') this.down = this.down - 1 === 0 ? false : this.down - 1;
      return { kind: 'retry', reason: 'sink unreachable (injected fault sinkDown)' };
    }
    const wire = new WireEvent({ ...event });
    const message = this.deliveryMode === 'binary' ? HTTP.binary(wire) : HTTP.structured(wire);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.headers)) if (value !== undefined) headers[name] = String(value);
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    const body = typeof message.body === 'string' ? message.body : JSON.stringify(message.body ?? null);
    try {
      const response = await fetch(sink, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.shutdown.signal]),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return { kind: 'delivered', status: response.status };
      const reason = `sink answered ${response.status} ${response.statusText}`.trim();
      if (RETRYABLE_STATUS(response.status)) {
        return { kind: 'retry', reason, status: response.status, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) };
      }
      return { kind: 'final', reason, status: response.status };
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const reason = (e as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (e as Error).message);
      return { kind: 'retry', reason: `sink unreachable: ${reason}` };
    }
  }

  private recordDelivered(item: QueuedEvent, status: number): void {
    const record: DeliveryRecord = {
      eventId: item.event.id,
      type: item.event.type,
      orderingKey: item.orderingKey,
      sinkUrl: this.sink ?? '',
      mode: this.deliveryMode,
      attempts: item.attempts,
      status,
      deliveredAt: new Date().toISOString(),
    };
    if (item.event.subject !== undefined) record.subject = item.event.subject;
    this.stats.delivered++;
    this.delivered.push(record);
    if (this.delivered.length > this.historyLimit) this.delivered.shift();
    this.observer.delivered?.(record);
  }

  private recordDeadLetter(item: QueuedEvent, reason: string, status: number | undefined): void {
    const letter: DeadLetter = {
      event: item.event,
      orderingKey: item.orderingKey,
      reason,
      attempts: item.attempts,
      sinkUrl: this.sink,
      deadLetteredAt: new Date().toISOString(),
    };
    if (status !== undefined) letter.lastStatus = status;
    this.stats.deadLettered++;
    this.deadLetters.push(letter);
    if (this.deadLetters.length > this.deadLetterLimit) this.deadLetters.shift();
    this.logger.warn({ eventId: item.event.id, type: item.event.type, reason }, 'event dead-lettered');
    this.observer.deadLettered?.(letter);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeping.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.sleeping.add(entry);
    });
  }

  private notifyIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
