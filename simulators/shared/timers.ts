/**
 * Timers a simulator owns: every one can be cancelled by key (a session's pending step) or all at once
 * (`close()`), so a stopped simulator leaves nothing running. Timers are `unref`'d: a pending simulated
 * step never keeps a process alive by itself.
 */
export class TimerSet {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  /**
   * Run `fn` after `ms`, replacing any timer already scheduled under `key`. `fn` errors are passed to
   * `onError` (a timer callback has nobody else to tell).
   */
  schedule(key: string, ms: number, fn: () => void | Promise<void>, onError: (e: unknown) => void = () => {}): void {
    if (this.closed) return;
    this.cancel(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      try {
        const result = fn();
        if (result instanceof Promise) result.catch(onError);
      } catch (e) {
        onError(e);
      }
    }, Math.max(0, ms));
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Cancel the timer under `key`; true when one was pending. */
  cancel(key: string): boolean {
    const timer = this.timers.get(key);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(key);
    return true;
  }

  /** Cancel every timer whose key starts with `prefix`. */
  cancelPrefix(prefix: string): void {
    for (const key of [...this.timers.keys()]) if (key.startsWith(prefix)) this.cancel(key);
  }

  has(key: string): boolean {
    return this.timers.has(key);
  }

  get size(): number {
    return this.timers.size;
  }

  /** Cancel everything and refuse new timers. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** Cancel everything but keep accepting new timers (a simulator reset). */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

/** A promise that resolves after `ms` (or at once for 0). */
export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
