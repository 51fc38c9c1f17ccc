import type { Logger } from '../logging.ts';
import type { CoordinationStore, Watch, WatchEvent } from '../ports/coordination.ts';
import { noopControllerMetrics, type ControllerMetrics } from './metrics.ts';
import { tracing } from '../telemetry/tracing.ts';

/** Where an informer gets its objects from: an authoritative list, and a coordination prefix to watch. */
export interface InformerSource<T> {
  /** Names the informer in metrics and logs. */
  name: string;
  /**
   * The authoritative list (the controllers list through GraphQL). It may return the store revision
   * it reflects; otherwise the informer takes the store revision just before listing, so a change
   * made during the list is seen again by the watch rather than missed.
   */
  list(signal: AbortSignal): Promise<T[] | { items: T[]; revision: number }>;
  keyOf(object: T): string;
  /** The coordination prefix whose changes announce changes of these objects (e.g. `/lcm/sessions/`). */
  prefix: string;
  /**
   * The object a change under the prefix describes: `{ key, object }` for its new state,
   * `{ key, object: null }` for its deletion, or `undefined` to ignore the change. A source that
   * watches a subset (e.g. some statuses) reports an object outside it as deleted, with its new state
   * in `left`: it still exists, it merely is (or stayed) outside the set (handlers may tell the two apart).
   */
  decode(event: WatchEvent): { key: string; object: T | null; left?: T } | undefined;
  /** Optional ordering of object states: a cached state is never replaced by an older one. */
  versionOf?(object: T): number;
}

/**
 * Where a change came from, when the watch told it: the W3C `traceparent` the writer put in the
 * projection (tracing on; `core/subgraph/change-publisher.ts`), so that the reconcile it triggers
 * continues that trace. Absent for changes found by a (re-)list.
 */
export interface ChangeOrigin {
  traceparent?: string;
}

/** Change notifications (they typically enqueue the key; reconcile reads the current state). */
export interface InformerHandlers<T> {
  onAdd?(key: string, object: T, origin?: ChangeOrigin): void;
  /** Also called for every cached object on each resync (`previous` may equal `current`). */
  onUpdate?(key: string, previous: T, current: T, origin?: ChangeOrigin): void;
  /**
   * `previous` is undefined for an object the cache never held (a change of an object outside the
   * informer's set, or a delete of one it never saw). `left`: the object's new state when it still
   * exists but is outside the set (see `InformerSource.decode`); undefined for a real deletion and on
   * a re-list.
   */
  onDelete?(key: string, previous: T | undefined, left?: T, origin?: ChangeOrigin): void;
}

export interface InformerOptions<T> {
  store: CoordinationStore;
  source: InformerSource<T>;
  /**
   * Re-list this often, with ±10 % jitter: the safety net that makes the loop correct when a change was
   * missed (DESIGN.md §4). Default 5 minutes (controller-runtime: 10 h; the original system polled every
   * 30 s). 0 disables.
   */
  resyncPeriodMs?: number;
  /** Delay between attempts of a failed list (doubling, up to 30 s). Default 500 ms. */
  listRetryMs?: number;
  metrics?: ControllerMetrics;
  logger?: Logger;
}

/**
 * An informer in the sense of client-go: list, then watch the coordination prefix from the list's
 * revision, keeping a local cache and telling handlers what was added, updated and deleted. A watch
 * reset (the store compacted the history the watch needed) leads to a re-list, and so does the
 * periodic resync; each re-list is diffed against the cache.
 */
export class Informer<T> {
  readonly name: string;
  private readonly cache = new Map<string, T>();
  private readonly handlers = new Set<InformerHandlers<T>>();
  private watch: Watch | undefined;
  private synced = false;
  private connected = false;
  private running: AbortController | undefined;
  private listing: Promise<void> | undefined;
  private listAgain = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly source: InformerSource<T>;
  private readonly store: CoordinationStore;
  private readonly resyncPeriodMs: number;
  private readonly listRetryMs: number;
  private readonly metrics: ControllerMetrics;
  private readonly logger: Logger | undefined;

  constructor(options: InformerOptions<T>) {
    this.source = options.source;
    this.store = options.store;
    this.name = options.source.name;
    this.resyncPeriodMs = options.resyncPeriodMs ?? 5 * 60_000;
    this.listRetryMs = options.listRetryMs ?? 500;
    this.metrics = options.metrics ?? noopControllerMetrics;
    this.logger = options.logger;
  }

  /** Register handlers; returns a function that removes them. */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.handlers.add(handlers);
    return () => this.handlers.delete(handlers);
  }

  /** True once the first list has been applied. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Whether the watch is currently connected to the store. */
  isWatchConnected(): boolean {
    return this.connected;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /**
   * List and start watching. Resolves once the cache is synced (a failing list is retried with
   * backoff until it succeeds or `stop()` is called).
   */
  async start(): Promise<void> {
    if (this.running) throw new Error(`informer ${this.name} is already running`);
    const running = new AbortController();
    this.running = running;
    const revision = await this.listUntilDone(running.signal);
    if (revision === undefined || running.signal.aborted) return;
    this.watch = await this.watchFrom(revision + 1, running.signal);
    if (running.signal.aborted) await this.watch?.close();
  }

  /** Stop watching and resyncing. The cache keeps its last content. */
  async stop(): Promise<void> {
    this.running?.abort('informer stopped');
    this.running = undefined;
    clearTimeout(this.resyncTimer);
    const watch = this.watch;
    this.watch = undefined;
    await watch?.close();
    await this.listing?.catch(() => undefined);
    this.connected = false;
  }

  /** Re-list now and diff against the cache (every cached object is reported). */
  resync(): Promise<void> {
    const signal = this.running?.signal;
    if (!signal || signal.aborted) return Promise.resolve();
    if (this.listing) {
      this.listAgain = true;
      return this.listing;
    }
    this.listing = (async () => {
      try {
        do {
          this.listAgain = false;
          await this.listUntilDone(signal);
        } while (this.listAgain && !signal.aborted);
      } finally {
        this.listing = undefined;
      }
    })();
    return this.listing;
  }

  /** List (retrying) and apply; returns the revision the list reflects, or undefined if stopped. */
  private async listUntilDone(signal: AbortSignal): Promise<number | undefined> {
    let delay = this.listRetryMs;
    for (;;) {
      if (signal.aborted) return undefined;
      try {
        const before = await this.store.revision();
        const listed = await this.source.list(signal);
        if (signal.aborted) return undefined;
        const { items, revision } = Array.isArray(listed) ? { items: listed, revision: before } : listed;
        this.replace(items);
        this.synced = true;
        this.scheduleResync(signal);
        return revision;
      } catch (e) {
        if (signal.aborted) return undefined;
        this.logger?.warn({ informer: this.name, err: e, retryInMs: delay }, 'informer list failed; retrying');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  private async watchFrom(fromRevision: number, signal: AbortSignal): Promise<Watch | undefined> {
    let delay = this.listRetryMs;
    for (;;) {
      if (signal.aborted) return undefined;
      try {
        const watch = await this.store.watchPrefix(
          this.source.prefix,
          {
            onEvent: (event) => this.onWatchEvent(event),
            onReset: () => {
              this.metrics.informerReset(this.name);
              this.logger?.info({ informer: this.name }, 'watch reset (compaction); re-listing');
              void this.resync();
            },
            onConnectionChange: (connected) => {
              this.connected = connected;
              this.metrics.watchConnected(this.name, connected);
            },
            onError: (error) => this.logger?.error({ informer: this.name, err: error }, 'informer watch failed'),
          },
          { fromRevision },
        );
        this.connected = true;
        this.metrics.watchConnected(this.name, true);
        return watch;
      } catch (e) {
        this.logger?.warn({ informer: this.name, err: e }, 'informer watch could not start; retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  private onWatchEvent(event: WatchEvent): void {
    let decoded: { key: string; object: T | null; left?: T } | undefined;
    try {
      decoded = this.source.decode(event);
    } catch (e) {
      this.logger?.warn({ informer: this.name, key: event.key, err: e }, 'could not decode a change; ignored');
      return;
    }
    if (!decoded) return;
    const { key, object, left } = decoded;
    const origin = tracing.on && event.type === 'put' ? originOf(event.kv.value) : undefined;
    const previous = this.cache.get(key);
    if (object === null) {
      // Even for an object not in the cache, a delete is worth telling (handlers see `previous`
      // undefined and decide whether it concerns them).
      this.cache.delete(key);
      this.emit('delete', key, previous, left, origin);
      return;
    }
    if (previous !== undefined && this.isOlder(object, previous)) return;
    this.cache.set(key, object);
    this.emit(previous === undefined ? 'add' : 'update', key, previous, object, origin);
  }

  /** Replace the cache with a fresh list: adds, updates (every listed object) and deletes. */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const object of items) {
      const key = this.source.keyOf(object);
      seen.add(key);
      const previous = this.cache.get(key);
      if (previous === undefined) {
        this.cache.set(key, object);
        this.emit('add', key, undefined, object);
      } else {
        const current = this.isOlder(object, previous) ? previous : object;
        this.cache.set(key, current);
        this.emit('update', key, previous, current);
      }
    }
    for (const [key, previous] of [...this.cache]) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.emit('delete', key, previous, undefined);
    }
  }

  private isOlder(candidate: T, cached: T): boolean {
    const versionOf = this.source.versionOf;
    return versionOf !== undefined && versionOf(candidate) < versionOf(cached);
  }

  private emit(kind: 'add' | 'update' | 'delete', key: string, previous: T | undefined, current: T | undefined, origin?: ChangeOrigin): void {
    this.metrics.informerEvent(this.name, kind);
    for (const handlers of [...this.handlers]) {
      try {
        if (kind === 'add') handlers.onAdd?.(key, current as T, origin);
        else if (kind === 'update') handlers.onUpdate?.(key, previous as T, current as T, origin);
        else handlers.onDelete?.(key, previous, current, origin);
      } catch (e) {
        this.logger?.warn({ informer: this.name, key, err: e }, 'informer handler threw');
      }
    }
  }

  private scheduleResync(signal: AbortSignal): void {
    clearTimeout(this.resyncTimer);
    if (this.resyncPeriodMs <= 0 || signal.aborted) return;
    const jitter = 1 + (Math.random() * 0.2 - 0.1);
    this.resyncTimer = setTimeout(() => void this.resync(), Math.round(this.resyncPeriodMs * jitter));
    this.resyncTimer.unref?.();
  }
}

const TRACEPARENT_FIELD = /"traceparent":"(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"/;

/** The `traceparent` a writer put in a projection's JSON (a search, not a second parse). */
function originOf(value: string): ChangeOrigin | undefined {
  const m = TRACEPARENT_FIELD.exec(value);
  return m ? { traceparent: m[1]! } : undefined;
}
