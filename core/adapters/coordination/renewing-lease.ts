import type { Logger } from '../../logging.ts';
import { CoordinationError, isCoordinationError, type Lease, type LeaseOptions } from '../../ports/coordination.ts';

/** What a store must provide for `RenewingLease`: one renewal, and revocation. */
export interface LeaseBackend {
  /**
   * Renew the lease once. Resolves with the TTL (seconds) the store granted; 0 or less means the lease
   * no longer exists. Rejects on a transient failure (the caller retries).
   */
  keepAliveOnce(timeoutMs: number): Promise<number>;
  /** Revoke the lease in the store (keys attached to it are deleted). */
  revoke(timeoutMs: number): Promise<void>;
}

export interface RenewingLeaseOptions extends LeaseOptions {
  /** Monotonic clock in milliseconds. Default `performance.now()`. */
  now?: () => number;
  logger?: Logger;
}

/** Resolved renewal timing for a TTL (see `LeaseOptions`), validated. */
export function leaseTiming(ttlSeconds: number, options: LeaseOptions = {}): { renewIntervalMs: number; renewDeadlineMs: number } {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new RangeError(`a lease TTL is a whole number of seconds >= 1, got ${ttlSeconds}`);
  }
  const ttlMs = ttlSeconds * 1000;
  const renewDeadlineMs = options.renewDeadlineMs ?? Math.floor((ttlMs * 2) / 3);
  const renewIntervalMs = options.renewIntervalMs ?? Math.floor(ttlMs / 3);
  if (!(renewDeadlineMs > 0 && renewDeadlineMs < ttlMs)) {
    throw new RangeError(`renewDeadlineMs must be in (0, TTL=${ttlMs}), got ${renewDeadlineMs}`);
  }
  if (!(renewIntervalMs > 0 && renewIntervalMs < renewDeadlineMs)) {
    throw new RangeError(`renewIntervalMs must be in (0, renewDeadlineMs=${renewDeadlineMs}), got ${renewIntervalMs}`);
  }
  return { renewIntervalMs, renewDeadlineMs };
}

/**
 * A lease kept alive by periodic single renewals, that declares itself lost by its own clock.
 *
 * The store holds a lease for at least TTL after it received the last renewal, and it received it
 * after we sent it; so the lease is certainly valid until `sentAt(last acknowledged renewal) + TTL`.
 * The lease counts as lost at `sentAt + renewDeadline` (< TTL) if no later renewal was acknowledged:
 * the holder stops acting while the store still holds the lease, and nobody else can acquire what the
 * lease protects before the store expires it. This is what keeps two leaders from acting at once.
 * (etcd3's own `Lease` only emits `lost` after 2×TTL without a keep-alive, too late for that.)
 */
export class RenewingLease implements Lease {
  readonly lost: Promise<void>;
  private resolveLost!: () => void;
  private alive = true;
  private lastAckSentAt: number;
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly renewIntervalMs: number;
  private readonly renewDeadlineMs: number;
  private revoking: Promise<void> | undefined;
  /** Why the lease was lost (for logs and tests). */
  lostReason: string | undefined;

  /**
   * @param grantSentAt the clock value just before the grant request was sent.
   */
  constructor(
    readonly id: string,
    readonly ttlSeconds: number,
    grantSentAt: number,
    private readonly backend: LeaseBackend,
    private readonly options: RenewingLeaseOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    const timing = leaseTiming(ttlSeconds, options);
    this.renewIntervalMs = timing.renewIntervalMs;
    this.renewDeadlineMs = timing.renewDeadlineMs;
    this.lastAckSentAt = grantSentAt;
    this.lost = new Promise<void>((resolve) => (this.resolveLost = resolve));
    if (options.keepAlive === false) {
      // Not renewed: the store expires it TTL after the grant.
      this.armDeadline(ttlSeconds * 1000, 'expired (not kept alive)');
    } else {
      this.armDeadline(this.renewDeadlineMs, 'not renewed within the renew deadline');
      this.scheduleRenewal(this.renewIntervalMs);
    }
  }

  isAlive(): boolean {
    return this.alive;
  }

  async revoke(): Promise<void> {
    this.markLost('revoked');
    this.revoking ??= this.backend.revoke(Math.max(1000, this.renewIntervalMs)).catch((e: unknown) => {
      if (!isCoordinationError(e, 'LEASE_LOST') && !isCoordinationError(e, 'CLOSED')) {
        this.options.logger?.warn({ lease: this.id, err: e }, 'lease revoke failed; it expires after its TTL');
      }
    });
    await this.revoking;
  }

  /** Stop renewing without revoking (the store expires the lease after its TTL); `lost` resolves. */
  release(): void {
    this.markLost('released');
  }

  private armDeadline(afterAckMs: number, reason: string): void {
    clearTimeout(this.deadlineTimer);
    const delay = Math.max(0, this.lastAckSentAt + afterAckMs - this.now());
    this.deadlineTimer = setTimeout(() => this.onDeadline(afterAckMs, reason), delay);
    this.deadlineTimer.unref?.();
  }

  private onDeadline(afterAckMs: number, reason: string): void {
    if (!this.alive) return;
    // A renewal may have been acknowledged while the timer was pending.
    if (this.now() < this.lastAckSentAt + afterAckMs) {
      this.armDeadline(afterAckMs, reason);
      return;
    }
    this.options.logger?.warn({ lease: this.id }, `lease lost: ${reason}`);
    this.markLost(reason);
    // Free the slot early if the store is reachable again; otherwise it expires by itself.
    void this.revoke();
  }

  private scheduleRenewal(delayMs: number): void {
    if (!this.alive) return;
    this.renewTimer = setTimeout(() => void this.renew(), delayMs);
    this.renewTimer.unref?.();
  }

  private async renew(): Promise<void> {
    if (!this.alive) return;
    const sentAt = this.now();
    try {
      const ttl = await this.backend.keepAliveOnce(this.renewIntervalMs);
      if (!this.alive) return;
      if (ttl <= 0) {
        this.markLost('expired or revoked in the store');
        return;
      }
      if (sentAt > this.lastAckSentAt) this.lastAckSentAt = sentAt;
      this.scheduleRenewal(this.renewIntervalMs);
    } catch (e) {
      if (!this.alive) return;
      if (isCoordinationError(e, 'LEASE_LOST')) {
        this.markLost('expired or revoked in the store');
        return;
      }
      // Transient: retry soon; the deadline timer decides when it is too late.
      this.scheduleRenewal(Math.min(this.renewIntervalMs, 250));
    }
  }

  private markLost(reason: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.lostReason = reason;
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    this.resolveLost();
  }
}

/** Rejects with CoordinationError ABORTED if the signal is (or gets) aborted, else settles like `promise`. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function abortError(signal: AbortSignal): CoordinationError {
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
  return new CoordinationError('ABORTED', `aborted${detail ? `: ${detail}` : ''}`, { cause: reason });
}

/** A delay that resolves early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
