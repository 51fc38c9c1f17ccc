import { ErrorCode, LcmError } from '../errors.ts';

export interface KeyedSerializerOptions {
  /**
   * How long one task may hold its key. Past it the task's caller gets an error and the next task of
   * the key starts: one operation that never settles (a dependency's promise lost on a dead
   * connection) must not wedge every later change of that key for good (issue 12). Default: no limit.
   */
  timeoutMs?: number;
  /** Called when a task overran `timeoutMs` (to log which key, and where the task was). */
  onTimeout?: (key: string, timeoutMs: number) => void;
}

/**
 * Runs tasks one at a time per key, in arrival order; different keys run concurrently. Every subgraph
 * serialises the changes of one aggregate inside a process with it, so concurrent requests on
 * one aggregate queue instead of colliding on its revision (conflicts then only come from other
 * replicas, and the conditional write still guards against those).
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly options: KeyedSerializerOptions = {}) {}

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(() => this.bounded(key, task));
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with queued or running tasks (for tests and metrics). */
  get activeKeys(): number {
    return this.tails.size;
  }

  private bounded<T>(key: string, task: () => Promise<T>): Promise<T> {
    const timeoutMs = this.options.timeoutMs;
    const running = task();
    if (timeoutMs === undefined) return running;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.options.onTimeout?.(key, timeoutMs);
        reject(new LcmError(ErrorCode.INTERNAL_SERVER_ERROR, `a change of ${key} did not finish within ${timeoutMs} ms`, { id: key }));
      }, timeoutMs);
      running.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}
