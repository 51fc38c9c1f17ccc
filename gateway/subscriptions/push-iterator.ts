/**
 * An async generator fed by pushes: what graphql-ws consumes for a subscription. `return()` (client
 * completes or disconnects) runs `onReturn` once. The buffer is bounded: a consumer that falls
 * `maxBuffered` events behind is ended with `overflowValue` (if given) instead of holding memory.
 */
export class PushIterator<T> implements AsyncGenerator<T, undefined, unknown> {
  private readonly buffer: T[] = [];
  private waiting: ((result: IteratorResult<T, undefined>) => void) | undefined;
  private done = false;
  private returned = false;

  constructor(
    private readonly onReturn: () => void,
    private readonly maxBuffered = 1000,
    private readonly overflowValue?: () => T,
  ) {}

  /** Delivers a value; returns false if the iterator is finished. */
  push(value: T): boolean {
    if (this.done) return false;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value, done: false });
      return true;
    }
    if (this.buffer.length >= this.maxBuffered) {
      this.buffer.length = 0;
      if (this.overflowValue) this.buffer.push(this.overflowValue());
      this.end();
      return false;
    }
    this.buffer.push(value);
    return true;
  }

  /** Ends after the buffered values (no `onReturn`: the producer is ending it). */
  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this.buffer.length = 0;
    this.end();
    if (!this.returned) {
      this.returned = true;
      this.onReturn();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<T, undefined>> {
    void this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
