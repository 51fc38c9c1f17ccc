import { randomBytes } from 'node:crypto';
import type { CloudEvent, EventTopic } from '../../events/cloudevent.ts';
import { cursorExpired, type EventBus, type EventListener, type SubscribeOptions } from '../../ports/event-bus.ts';

export interface MemoryEventBusOptions {
  /** How long a topic's events are kept for resuming subscriptions, in seconds. Default 300; 0 = no time limit. */
  retentionSeconds?: number;
  /** Keep at most this many events per topic. Default 10 000; 0 keeps none (no resuming). */
  maxEventsPerTopic?: number;
  /** The clock (tests). */
  now?: () => number;
}

interface TopicLog {
  entries: { seq: number; at: number; event: CloudEvent }[];
  /** Sequence of the newest event dropped from `entries` (0: none yet). */
  droppedThrough: number;
  listeners: Set<EventListener>;
}

/**
 * The event bus of one process: synchronous fan-out, order preserved. Like the etcd bus it keeps each
 * topic's recent events (same retention defaults) so a subscription can resume after a cursor. The
 * cursor is `<bus instance>.<sequence>`: a cursor of another instance (the process restarted) is
 * refused as expired, since this bus cannot know what happened in between.
 */
export class MemoryEventBus implements EventBus {
  private readonly topics = new Map<EventTopic, TopicLog>();
  private readonly instance = randomBytes(4).toString('hex');
  private sequence = 0;
  private readonly retentionMs: number;
  private readonly maxEventsPerTopic: number;
  private readonly now: () => number;

  constructor(options: MemoryEventBusOptions = {}) {
    this.retentionMs = (options.retentionSeconds ?? 300) * 1000;
    this.maxEventsPerTopic = options.maxEventsPerTopic ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  publish(topic: EventTopic, event: CloudEvent): Promise<void> {
    const log = this.log(topic);
    const seq = ++this.sequence;
    log.entries.push({ seq, at: this.now(), event });
    this.trim(log);
    const cursor = this.cursor(seq);
    for (const listener of [...log.listeners]) deliver(listener, event, cursor);
    return Promise.resolve();
  }

  subscribe(topic: EventTopic, listener: EventListener, options: SubscribeOptions = {}): () => void {
    const log = this.log(topic);
    const stop = () => void log.listeners.delete(listener);
    if (options.after === undefined) {
      log.listeners.add(listener);
      return stop;
    }
    this.trim(log);
    const after = this.parse(options.after);
    const why =
      after === undefined
        ? 'it is not a cursor of this event bus (was the server restarted?)'
        : after < log.droppedThrough
          ? 'the events after it are older than the retention of the event bus'
          : undefined;
    if (why !== undefined) {
      const error = cursorExpired(options.after, why);
      queueMicrotask(() => options.onError?.(error));
      return stop;
    }
    // Synchronous: no event can be published between the replay and the live stream.
    for (const entry of log.entries) if (entry.seq > after!) deliver(listener, entry.event, this.cursor(entry.seq));
    log.listeners.add(listener);
    return stop;
  }

  close(): Promise<void> {
    this.topics.clear();
    return Promise.resolve();
  }

  private log(topic: EventTopic): TopicLog {
    let log = this.topics.get(topic);
    if (!log) {
      log = { entries: [], droppedThrough: 0, listeners: new Set() };
      this.topics.set(topic, log);
    }
    return log;
  }

  private trim(log: TopicLog): void {
    const oldest = this.retentionMs > 0 ? this.now() - this.retentionMs : -Infinity;
    let drop = 0;
    while (
      drop < log.entries.length &&
      (log.entries.length - drop > this.maxEventsPerTopic || log.entries[drop]!.at < oldest)
    ) {
      drop++;
    }
    if (drop === 0) return;
    log.droppedThrough = log.entries[drop - 1]!.seq;
    log.entries.splice(0, drop);
  }

  private cursor(seq: number): string {
    return `${this.instance}.${seq}`;
  }

  /** The sequence of one of this bus's cursors, or undefined. */
  private parse(cursor: string): number | undefined {
    const match = /^([0-9a-f]{8})\.(\d{1,15})$/.exec(cursor);
    if (!match || match[1] !== this.instance) return undefined;
    const seq = Number(match[2]);
    return seq <= this.sequence ? seq : undefined;
  }
}

function deliver(listener: EventListener, event: CloudEvent, cursor: string): void {
  try {
    listener(event, cursor);
  } catch {
    // A listener's failure is its own; the bus keeps delivering to the others.
  }
}
