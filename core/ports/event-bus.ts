import type { CloudEvent, EventTopic } from '../events/cloudevent.ts';

/**
 * The event bus port: subgraphs publish domain events (CloudEvents); subscribers (the subgraphs'
 * GraphQL subscriptions, and through them the gateway) receive every event of a topic, from every
 * replica, in order per entity. In-memory for one process; etcd for many (`core/adapters/etcd`).
 */
export interface EventBus {
  publish(topic: EventTopic, event: CloudEvent): Promise<void>;
  /** Listen to a topic. Returns a function that stops listening. */
  subscribe(topic: EventTopic, listener: (event: CloudEvent) => void): () => void;
  close(): Promise<void>;
}

/**
 * Turn a bus subscription into an async iterator (what GraphQL subscription resolvers return).
 * Events are buffered up to `maxBuffer`; past that the oldest are dropped (a slow subscriber must not
 * hold memory without bound).
 */
export function subscribeIterator<T>(
  bus: EventBus,
  topic: EventTopic,
  map: (event: CloudEvent) => T | undefined,
  maxBuffer = 1024,
): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let wake: ((r: IteratorResult<T>) => void) | undefined;
  let done = false;
  const unsubscribe = bus.subscribe(topic, (event) => {
    if (done) return;
    const value = map(event);
    if (value === undefined) return;
    if (wake) {
      const w = wake;
      wake = undefined;
      w({ value, done: false });
      return;
    }
    queue.push(value);
    if (queue.length > maxBuffer) queue.shift();
  });
  const finish = (): Promise<IteratorResult<T>> => {
    done = true;
    unsubscribe();
    queue.length = 0;
    if (wake) {
      const w = wake;
      wake = undefined;
      w({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  };
  return {
    next(): Promise<IteratorResult<T>> {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift() as T, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        wake = resolve;
      });
    },
    return: finish,
    throw(error?: unknown) {
      void finish();
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
