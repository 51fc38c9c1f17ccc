/**
 * Runs tasks one at a time per key, in arrival order; different keys run concurrently. Every subgraph
 * serialises the changes of one aggregate inside a process with it, so concurrent requests on
 * one aggregate queue instead of colliding on its revision (conflicts then only come from other
 * replicas, and the conditional write still guards against those).
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
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
}
