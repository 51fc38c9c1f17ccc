import { randomBytes } from 'node:crypto';
import type { CloudEvent, EventTopic } from '../../events/cloudevent.ts';
import type { Logger } from '../../logging.ts';
import { CoordinationKeys, type CoordinationStore, type KeyValue, type Lease, type Watch } from '../../ports/coordination.ts';
import { ErrorCode, LcmError } from '../../errors.ts';
import { cursorExpired, type EventBus, type EventListener, type SubscribeOptions } from '../../ports/event-bus.ts';

/** A listener and where it stands: events at or below `floor` are not delivered to it again. */
interface Subscriber {
  listener: EventListener;
  floor: number;
  /** Live events that arrived while the stored ones were being replayed (resuming). */
  pending?: { kv: KeyValue; event: CloudEvent }[];
}

export interface EtcdEventBusOptions {
  /**
   * How long an event stays in the store, in seconds (it is attached to a lease without keep-alive).
   * Leases are rotated every half retention, so an event lives between half and the full retention.
   * Default 300 (the five minutes of watch history Kubernetes keeps). 0 disables time retention.
   */
  retentionSeconds?: number;
  /** Keep at most this many events per topic (older ones are deleted). Default 10 000; 0 = no limit. */
  maxEventsPerTopic?: number;
  logger?: Logger;
}

/**
 * The event bus shared by every replica (DESIGN.md §5), on the coordination store — etcd in
 * production, the in-memory store in the embedded default.
 *
 * `publish` puts the CloudEvent JSON at `/lcm/events/<topic>/<time-ordered unique id>`; every bus
 * (every process, with its own client) watches `/lcm/events/` and hands each new event to the
 * listeners of its topic. Delivery follows the watch: every event once, in etcd revision order, so in
 * publication order per entity (a subgraph publishes an entity's events one after the other). Old
 * events are removed by lease expiry (time) and by trimming (count). After a compaction the bus is
 * reset: events it had not delivered yet and that are still stored are delivered, in revision order.
 *
 * An event's cursor is its store revision (decimal). `subscribe(..., { after })` lists the topic,
 * replays the stored events after the cursor in revision order, then the live events the watch
 * delivered meanwhile (deduplicated by revision), then live ones. The cursor is honoured while its own
 * event is stored and younger than half the retention: leases rotate every half retention, so every
 * later event is then still stored too (each lives at least half the retention); trimming removes the
 * oldest first. Past that the subscriber gets `SUBSCRIPTION_CURSOR_EXPIRED`.
 */
export class EtcdEventBus implements EventBus {
  private readonly listeners = new Map<string, Set<Subscriber>>();
  private watch: Watch | undefined;
  private lastDelivered = 0;
  private lease: { lease: Lease; grantedAt: number } | undefined;
  private granting: Promise<Lease> | undefined;
  private readonly published = new Map<string, number>();
  private readonly trimming = new Set<string>();
  private readonly trimAgain = new Set<string>();
  private closed = false;
  private sequence = 0;
  private readonly instance = randomBytes(4).toString('hex');
  private readonly retentionSeconds: number;
  private readonly maxEventsPerTopic: number;
  private readonly logger: Logger | undefined;

  private constructor(
    private readonly store: CoordinationStore,
    options: EtcdEventBusOptions,
  ) {
    this.retentionSeconds = options.retentionSeconds ?? 300;
    this.maxEventsPerTopic = options.maxEventsPerTopic ?? 10_000;
    this.logger = options.logger;
  }

  /** Start a bus: it sees every event published (by any replica) after this resolves. */
  static async start(store: CoordinationStore, options: EtcdEventBusOptions = {}): Promise<EtcdEventBus> {
    const bus = new EtcdEventBus(store, options);
    bus.watch = await store.watchPrefix(CoordinationKeys.events, {
      onEvent: (event) => {
        if (event.type === 'put' && event.kv.version === 1) bus.dispatch(event.kv);
      },
      onReset: (items) => bus.recover(items),
      onConnectionChange: (connected) => bus.logger?.info({ connected }, 'event bus watch connection'),
    });
    bus.lastDelivered = Math.max(bus.lastDelivered, bus.watch.lastRevision);
    return bus;
  }

  async publish(topic: EventTopic, event: CloudEvent): Promise<void> {
    if (this.closed) throw new Error('the event bus is closed');
    const key = `${CoordinationKeys.eventTopic(topic)}${this.eventId()}`;
    const lease = await this.retentionLease();
    await this.store.put(key, JSON.stringify(event), lease ? { lease: lease.id } : {});
    this.afterPublish(topic);
  }

  subscribe(topic: EventTopic, listener: EventListener, options: SubscribeOptions = {}): () => void {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
    }
    const subscriber: Subscriber = { listener, floor: 0 };
    set.add(subscriber);
    const stop = () => void set.delete(subscriber);
    if (options.after !== undefined) {
      subscriber.pending = [];
      void this.resume(topic, subscriber, options.after).catch((error: unknown) => {
        if (!set.delete(subscriber)) return;
        options.onError?.(
          error instanceof LcmError ? error : new LcmError(ErrorCode.INTERNAL_SERVER_ERROR, 'the event bus could not replay stored events'),
        );
        if (!(error instanceof LcmError)) this.logger?.warn({ topic, err: error }, 'resuming a subscription failed');
      });
    }
    return stop;
  }

  /** Replays the stored events of `topic` after the cursor, then lets the live ones through. */
  private async resume(topic: string, subscriber: Subscriber, after: string): Promise<void> {
    const revision = /^[1-9]\d{0,15}$/.test(after) ? Number(after) : undefined;
    if (revision === undefined) throw cursorExpired(after, 'it is not a cursor of this event bus');
    const { items, revision: listed } = await this.store.list(CoordinationKeys.eventTopic(topic));
    const own = items.find((kv) => kv.modRevision === revision && kv.version === 1);
    if (!own) {
      throw cursorExpired(
        after,
        revision > listed ? 'it is not a cursor of this event bus' : 'its event is older than the retention of the event bus',
      );
    }
    const publishedAt = Number(own.key.slice(own.key.lastIndexOf('/') + 1).split('-', 1)[0]);
    if (this.retentionSeconds > 0 && Date.now() - publishedAt >= (this.retentionSeconds * 1000) / 2) {
      throw cursorExpired(after, `its event is older than half the retention of the event bus (${this.retentionSeconds / 2} s)`);
    }
    const stored = items.filter((kv) => kv.modRevision > revision && kv.version === 1).sort((a, b) => a.modRevision - b.modRevision);
    subscriber.floor = revision;
    for (const kv of stored) {
      const event = parseEvent(kv, this.logger);
      if (event) this.deliver(topic, subscriber, kv, event);
    }
    const pending = subscriber.pending ?? [];
    subscriber.pending = undefined;
    for (const { kv, event } of pending) this.deliver(topic, subscriber, kv, event);
  }

  private deliver(topic: string, subscriber: Subscriber, kv: KeyValue, event: CloudEvent): void {
    if (kv.modRevision <= subscriber.floor) return;
    subscriber.floor = kv.modRevision;
    try {
      subscriber.listener(event, String(kv.modRevision));
    } catch (e) {
      // A listener's failure is its own; the bus keeps delivering to the others.
      this.logger?.warn({ topic, err: e }, 'event listener threw');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await this.watch?.close();
  }

  /** Time-ordered, unique across replicas: `<ms since epoch, 15 digits>-<instance>-<sequence>`. */
  private eventId(): string {
    this.sequence = (this.sequence + 1) % 1e9;
    return `${String(Date.now()).padStart(15, '0')}-${this.instance}-${String(this.sequence).padStart(9, '0')}`;
  }

  private dispatch(kv: KeyValue): void {
    if (kv.modRevision <= this.lastDelivered) return;
    this.lastDelivered = kv.modRevision;
    const topic = kv.key.slice(CoordinationKeys.events.length).split('/', 1)[0]!;
    const set = this.listeners.get(topic);
    if (!set || set.size === 0) return;
    const event = parseEvent(kv, this.logger);
    if (!event) return;
    for (const subscriber of [...set]) {
      if (subscriber.pending) subscriber.pending.push({ kv, event });
      else this.deliver(topic, subscriber, kv, event);
    }
  }

  /** After a compaction: deliver the stored events this bus had not delivered yet, in revision order. */
  private recover(items: KeyValue[]): void {
    const missed = items.filter((kv) => kv.modRevision > this.lastDelivered && kv.version === 1);
    missed.sort((a, b) => a.modRevision - b.modRevision);
    this.logger?.warn({ recovered: missed.length }, 'event bus watch was reset (compaction); some events may be lost');
    for (const kv of missed) this.dispatch(kv);
  }

  /** The lease events are attached to, rotated every half retention. */
  private async retentionLease(): Promise<Lease | undefined> {
    if (this.retentionSeconds <= 0) return undefined;
    const current = this.lease;
    const now = performance.now();
    if (current && current.lease.isAlive() && now - current.grantedAt < (this.retentionSeconds * 1000) / 2) return current.lease;
    this.granting ??= this.store
      .grantLease(this.retentionSeconds, { keepAlive: false })
      .then((lease) => {
        this.lease = { lease, grantedAt: performance.now() };
        return lease;
      })
      .finally(() => (this.granting = undefined));
    return this.granting;
  }

  /**
   * Every tenth of the limit, trim the topic to `maxEventsPerTopic` (oldest first). A trim asked for
   * while one runs is not dropped: it runs right after, so the topic never stays above the limit.
   */
  private afterPublish(topic: string): void {
    if (this.maxEventsPerTopic <= 0) return;
    const count = (this.published.get(topic) ?? 0) + 1;
    this.published.set(topic, count);
    if (count % Math.max(1, Math.floor(this.maxEventsPerTopic / 10)) !== 0) return;
    if (this.trimming.has(topic)) {
      this.trimAgain.add(topic);
      return;
    }
    this.trimming.add(topic);
    const run = (): void => {
      this.trimAgain.delete(topic);
      void this.trim(topic)
        .catch((e: unknown) => this.logger?.warn({ topic, err: e }, 'trimming events failed'))
        .finally(() => {
          if (this.trimAgain.has(topic) && !this.closed) run();
          else this.trimming.delete(topic);
        });
    };
    run();
  }

  private async trim(topic: string): Promise<void> {
    const { items } = await this.store.list(CoordinationKeys.eventTopic(topic));
    const excess = items.length - this.maxEventsPerTopic;
    if (excess <= 0) return;
    const oldest = items.sort((a, b) => a.createRevision - b.createRevision).slice(0, excess);
    // etcd allows 128 operations per transaction by default.
    for (let i = 0; i < oldest.length; i += 100) {
      await this.store.transaction(
        [],
        oldest.slice(i, i + 100).map((kv) => ({ type: 'delete' as const, key: kv.key })),
      );
    }
  }
}

function parseEvent(kv: KeyValue, logger: Logger | undefined): CloudEvent | undefined {
  try {
    return JSON.parse(kv.value) as CloudEvent;
  } catch (e) {
    logger?.warn({ key: kv.key, err: e }, 'ignoring an event that is not JSON');
    return undefined;
  }
}
