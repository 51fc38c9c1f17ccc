/**
 * Rate limiters for the work queue, after client-go's `workqueue` package
 * (`default_rate_limiters.go`; defaults in research/control-loop-anchors.md §1).
 */

/** Decides how long an item waits before it is retried. */
export interface RateLimiter<K> {
  /** Records a retry of `item` and returns how long (ms) it must wait. */
  when(item: K): number;
  /** Clears the item's failure history (after a success). */
  forget(item: K): void;
  /** How many times the item was retried since it was last forgotten. */
  retries(item: K): number;
}

export interface ExponentialBackoffOptions {
  /** Delay of the first retry. Default 5 ms (client-go). */
  baseDelayMs?: number;
  /** Cap of the delay. Default 1 000 s (client-go). */
  maxDelayMs?: number;
}

/** Per-item exponential backoff: `base × 2^failures`, capped. */
export class ItemExponentialBackoff<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;

  constructor(options: ExponentialBackoffOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1_000_000;
    if (!(this.baseDelayMs > 0) || !(this.maxDelayMs >= this.baseDelayMs)) {
      throw new RangeError('backoff needs 0 < baseDelayMs <= maxDelayMs');
    }
  }

  when(item: K): number {
    const n = this.failures.get(item) ?? 0;
    this.failures.set(item, n + 1);
    // 2^n overflows to Infinity for large n, which the cap handles.
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** n);
  }

  forget(item: K): void {
    this.failures.delete(item);
  }

  retries(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}

export interface TokenBucketOptions {
  /** Sustained rate, tokens per second. Default 10 (client-go). */
  qps?: number;
  /** Bucket size (bursts). Default 100 (client-go). */
  burst?: number;
  /** Monotonic clock in ms. Default `performance.now()`. */
  now?: () => number;
}

/**
 * Overall token bucket shared by all items: each retry takes a token; when the bucket is empty the
 * retry is delayed until its token is due (reservations, like Go's `rate.Limiter.Reserve`).
 */
export class TokenBucketRateLimiter<K> implements RateLimiter<K> {
  private tokens: number;
  private last: number;
  readonly qps: number;
  readonly burst: number;
  private readonly now: () => number;

  constructor(options: TokenBucketOptions = {}) {
    this.qps = options.qps ?? 10;
    this.burst = options.burst ?? 100;
    if (!(this.qps > 0) || !(this.burst >= 1)) throw new RangeError('token bucket needs qps > 0 and burst >= 1');
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.last = this.now();
  }

  when(_item: K): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }

  forget(_item: K): void {}

  retries(_item: K): number {
    return 0;
  }
}

/** The longest delay of several limiters (client-go `MaxOfRateLimiter`). */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters;
  }

  when(item: K): number {
    let delay = 0;
    for (const limiter of this.limiters) delay = Math.max(delay, limiter.when(item));
    return delay;
  }

  forget(item: K): void {
    for (const limiter of this.limiters) limiter.forget(item);
  }

  retries(item: K): number {
    let n = 0;
    for (const limiter of this.limiters) n = Math.max(n, limiter.retries(item));
    return n;
  }
}

export interface ControllerRateLimiterOptions extends ExponentialBackoffOptions, Omit<TokenBucketOptions, 'now'> {
  now?: () => number;
}

/**
 * client-go's `DefaultControllerRateLimiter`: per-item exponential backoff (5 ms … 1 000 s) and an
 * overall bucket (10 qps, burst 100), whichever delays more.
 */
export function defaultControllerRateLimiter<K>(options: ControllerRateLimiterOptions = {}): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(
    new ItemExponentialBackoff<K>(options),
    new TokenBucketRateLimiter<K>({ qps: options.qps, burst: options.burst, now: options.now }),
  );
}
