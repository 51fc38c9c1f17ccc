import { noopWorkQueueMetrics, type WorkQueueMetrics } from './metrics.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';

export interface WorkQueueOptions<K> {
  /** Names the queue in metrics and logs. */
  name: string;
  /** Delays of `addRateLimited`. Default: client-go's controller rate limiter (5 ms…1 000 s, 10 qps/100). */
  rateLimiter?: RateLimiter<K>;
  metrics?: WorkQueueMetrics;
  /** Monotonic clock in ms. Default `performance.now()`. */
  now?: () => number;
}

/**
 * A rate-limited work queue of keys, with the guarantees of client-go's `workqueue`:
 * - an item added while it is queued is queued once (dedupe);
 * - an item is never handed to two workers at once: added while being processed, it is queued again
 *   when that worker calls `done()`;
 * - `addAfter` delays an add (the earliest pending delay wins), `addRateLimited` delays it by the rate
 *   limiter (per-item exponential backoff and an overall token bucket); `forget` resets the backoff;
 * - `shutdown()` stops at once (queued and delayed items are dropped), `shutdownWithDrain()` hands out
 *   what is queued first (workers must still be calling `get()`); both resolve when every handed-out
 *   item is `done()`. Items added after shutdown are ignored.
 */
export class WorkQueue<K = string> {
  readonly name: string;
  private readonly queue: K[] = [];
  /** Items that need processing: queued, or re-added while processing. */
  private readonly dirty = new Set<K>();
  /** Items handed out and not yet done, with the time they were handed out. */
  private readonly processing = new Map<K, number>();
  /** Add times of queued items (queue latency). */
  private readonly addedAt = new Map<K, number>();
  /** Pending delayed adds: when each becomes ready, and its timer. */
  private readonly waiting = new Map<K, { readyAt: number; timer: NodeJS.Timeout }>();
  private readonly getters: ((item: K | undefined) => void)[] = [];
  private shuttingDown = false;
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  private readonly doneWaiters = new Map<K, (() => void)[]>();
  private readonly rateLimiter: RateLimiter<K>;
  private readonly metrics: WorkQueueMetrics;
  private readonly now: () => number;

  constructor(options: WorkQueueOptions<K>) {
    this.name = options.name;
    this.now = options.now ?? (() => performance.now());
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<K>({ now: this.now });
    this.metrics = options.metrics ?? noopWorkQueueMetrics;
    this.metrics.trackProcessing(() => this.processing.values(), this.now);
  }

  /** Items waiting to be handed out. */
  get length(): number {
    return this.queue.length;
  }

  /** Items handed out and not done yet. */
  get inFlight(): number {
    return this.processing.size;
  }

  /** The items handed out and not done yet, with how long each has been processed (ms). */
  inFlightItems(): Array<{ item: K; runningMs: number }> {
    const now = this.now();
    return [...this.processing].map(([item, startedAt]) => ({ item, runningMs: now - startedAt }));
  }

  /** Resolves when `item` is not being processed (at once if it is not). */
  whenDone(item: K): Promise<void> {
    if (!this.processing.has(item)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.doneWaiters.get(item);
      if (waiters) waiters.push(resolve);
      else this.doneWaiters.set(item, [resolve]);
    });
  }

  /** Items waiting for a delayed add. */
  get delayed(): number {
    return this.waiting.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Queue `item` for processing (ignored after shutdown). */
  add(item: K): void {
    if (this.shuttingDown || this.dirty.has(item)) return;
    this.metrics.added();
    this.dirty.add(item);
    if (this.processing.has(item)) return;
    this.enqueue(item);
  }

  /** Queue `item` after `delayMs` (at once if ≤ 0). A pending earlier delay for the item wins. */
  addAfter(item: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(item);
      return;
    }
    const readyAt = this.now() + delayMs;
    const pending = this.waiting.get(item);
    if (pending && pending.readyAt <= readyAt) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.waiting.delete(item);
      this.add(item);
    }, delayMs);
    this.waiting.set(item, { readyAt, timer });
  }

  /** Queue `item` after the rate limiter's delay (a retry: its backoff grows). */
  addRateLimited(item: K): void {
    if (this.shuttingDown) return;
    this.metrics.retried();
    this.addAfter(item, this.rateLimiter.when(item));
  }

  /** Reset the item's backoff (after it was processed successfully). */
  forget(item: K): void {
    this.rateLimiter.forget(item);
  }

  /** How many times the item was retried since it was last forgotten. */
  retries(item: K): number {
    return this.rateLimiter.retries(item);
  }

  /**
   * The next item to process; the caller must call `done(item)` when finished. Resolves `undefined`
   * once the queue is shut down (after draining, with `shutdownWithDrain`).
   */
  get(): Promise<K | undefined> {
    const item = this.take();
    if (item !== undefined || this.shuttingDown) return Promise.resolve(item);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Mark `item` as processed. If it was added meanwhile, it is queued again now. */
  done(item: K): void {
    const startedAt = this.processing.get(item);
    if (startedAt === undefined) return;
    this.processing.delete(item);
    this.metrics.processed(this.now() - startedAt);
    for (const resolve of this.doneWaiters.get(item) ?? []) resolve();
    this.doneWaiters.delete(item);
    // Re-added while processing: queue it again (not after shutdown, when no worker may be left to take it).
    if (this.dirty.has(item) && !this.shuttingDown) this.enqueue(item);
    this.checkIdle();
  }

  /** Stop now: queued and delayed items are dropped; resolves when the items in flight are done. */
  shutdown(): Promise<void> {
    this.beginShutdown(false);
    return this.whenIdle();
  }

  /** Stop accepting items, hand out what is queued, and resolve when all of it is done. */
  shutdownWithDrain(): Promise<void> {
    this.beginShutdown(true);
    return this.whenIdle();
  }

  private beginShutdown(drain: boolean): void {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      this.draining = drain;
      for (const { timer } of this.waiting.values()) clearTimeout(timer);
      this.waiting.clear();
    } else if (!drain) {
      this.draining = false;
    }
    if (!this.draining) {
      for (const item of this.queue) this.dirty.delete(item);
      this.queue.length = 0;
      this.addedAt.clear();
      this.metrics.depth(0);
    }
    this.wakeGetters();
    this.checkIdle();
  }

  private enqueue(item: K): void {
    this.queue.push(item);
    this.addedAt.set(item, this.now());
    this.metrics.depth(this.queue.length);
    this.wakeGetters();
  }

  private take(): K | undefined {
    if (this.queue.length === 0) return undefined;
    const item = this.queue.shift()!;
    this.dirty.delete(item);
    const now = this.now();
    this.processing.set(item, now);
    this.metrics.dequeued(now - (this.addedAt.get(item) ?? now));
    this.addedAt.delete(item);
    this.metrics.depth(this.queue.length);
    return item;
  }

  private wakeGetters(): void {
    while (this.getters.length > 0) {
      const item = this.take();
      if (item === undefined) {
        if (!this.shuttingDown) return;
        // Shut down and nothing left to hand out: release every waiting worker.
        for (const resolve of this.getters.splice(0)) resolve(undefined);
        return;
      }
      this.getters.shift()!(item);
    }
  }

  private whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.processing.size === 0 && (this.queue.length === 0 || !this.draining);
  }

  private checkIdle(): void {
    if (!this.shuttingDown || !this.isIdle()) return;
    // Draining and the last item is done: waiting workers get `undefined`.
    this.wakeGetters();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/**
 * Run `concurrency` workers on `queue`: each takes an item, runs `process`, and marks it done (also
 * when `process` throws). Resolves when the queue is shut down and every worker has stopped.
 */
export async function runWorkers<K>(queue: WorkQueue<K>, concurrency: number, process: (item: K) => Promise<void>): Promise<void> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${concurrency}`);
  const worker = async () => {
    for (;;) {
      const item = await queue.get();
      if (item === undefined) return;
      try {
        await process(item);
      } catch {
        // `process` owns its error handling (requeue, logging); a throw must not stop the worker.
      } finally {
        queue.done(item);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
