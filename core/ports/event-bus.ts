import type { CloudEvent, EventTopic } from '../events/cloudevent.ts';
import { ErrorCode, LcmError } from '../errors.ts';

/**
 * A listener of a topic: every event with its cursor, the event's position on the bus (an opaque
 * string: the store revision on the etcd bus). A subscriber that remembers the last cursor it saw can
 * resume after it (`SubscribeOptions.after`) and miss nothing.
 */
export type EventListener = (event: CloudEvent, cursor: string) => void;

export interface SubscribeOptions {
  /**
   * Resume: first deliver the stored events of the topic after this cursor, in order, then the live
   * ones — no gap between them and no event twice. A cursor the bus no longer holds (older than its
   * retention, trimmed, or from another bus) is refused through `onError` with
   * `SUBSCRIPTION_CURSOR_EXPIRED`: the subscriber must re-list, never silently skip.
   */
  after?: string;
  /** The subscription failed (an expired cursor) and delivers nothing more. */
  onError?: (error: LcmError) => void;
}

/**
 * The event bus port: subgraphs publish domain events (CloudEvents); subscribers (the subgraphs'
 * GraphQL subscriptions, and through them the gateway) receive every event of a topic, from every
 * replica, in order per entity. Each bus keeps a topic's events for a retention window, so a
 * subscription can resume from a cursor. In-memory for one process; etcd for many (`core/adapters/etcd`).
 */
export interface EventBus {
  publish(topic: EventTopic, event: CloudEvent): Promise<void>;
  /** Listen to a topic (from now, or after `options.after`). Returns a function that stops listening. */
  subscribe(topic: EventTopic, listener: EventListener, options?: SubscribeOptions): () => void;
  close(): Promise<void>;
}

/** The refusal of a cursor the bus does not hold any more. */
export const cursorExpired = (after: string, why: string): LcmError =>
  new LcmError(
    ErrorCode.SUBSCRIPTION_CURSOR_EXPIRED,
    `cannot resume after cursor "${after.slice(0, 64)}": ${why}; events may have been missed, re-list and subscribe without "after"`,
    { after: after.slice(0, 64) },
  );

/**
 * The cursor of the event a value yielded by `subscribeIterator` was made from. The subgraph's
 * graphql-ws server puts it in each `next` payload's `extensions.cursor` (a side table, so the
 * domain values stay as they are).
 */
const cursors = new WeakMap<object, string>();
export const eventCursorOf = (value: unknown): string | undefined =>
  value !== null && typeof value === 'object' ? cursors.get(value) : undefined;

export interface SubscribeIteratorOptions {
  /** Resume after this cursor (see `SubscribeOptions.after`). */
  after?: string | null;
  /** Values buffered before the oldest are dropped (a slow subscriber must not hold memory without bound). */
  maxBuffer?: number;
}

/**
 * Turn a bus subscription into an async iterator (what GraphQL subscription resolvers return).
 * Events are buffered up to `maxBuffer`; past that the oldest are dropped. Each object yielded is
 * tagged with its event's cursor (`eventCursorOf`). A refused cursor makes `next()` reject with the
 * `LcmError` once the values before it are read.
 */
export function subscribeIterator<T>(
  bus: EventBus,
  topic: EventTopic,
  map: (event: CloudEvent) => T | undefined,
  options: SubscribeIteratorOptions = {},
): AsyncIterableIterator<T> {
  const maxBuffer = options.maxBuffer ?? 1024;
  const queue: T[] = [];
  let wake: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | undefined;
  let done = false;
  let failure: Error | undefined;
  // A bus may deliver (or refuse the cursor) before `subscribe` returns.
  let unsubscribe: () => void = () => {};
  const stop = bus.subscribe(
    topic,
    (event, cursor) => {
      if (done) return;
      const value = map(event);
      if (value === undefined) return;
      if (value !== null && typeof value === 'object') cursors.set(value, cursor);
      if (wake) {
        const w = wake;
        wake = undefined;
        w.resolve({ value, done: false });
        return;
      }
      queue.push(value);
      if (queue.length > maxBuffer) queue.shift();
    },
    {
      ...(options.after ? { after: options.after } : {}),
      onError: (error) => {
        if (done) return;
        done = true;
        queueMicrotask(() => unsubscribe());
        if (wake) {
          const w = wake;
          wake = undefined;
          w.reject(error);
        } else {
          failure = error; // the next `next()` after the buffered values
        }
      },
    },
  );
  unsubscribe = stop;
  const finish = (): Promise<IteratorResult<T>> => {
    done = true;
    failure = undefined;
    unsubscribe();
    queue.length = 0;
    if (wake) {
      const w = wake;
      wake = undefined;
      w.resolve({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  };
  return {
    next(): Promise<IteratorResult<T>> {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift() as T, done: false });
      if (failure) {
        const error = failure;
        failure = undefined;
        return Promise.reject(error);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => {
        wake = { resolve, reject };
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
