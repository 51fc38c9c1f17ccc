import type { IKeyValue, IWatchResponse, Namespace, Watcher } from 'etcd3';
import type { Logger } from '../../logging.ts';
import type { KeyValue, Watch, WatchEvent, WatchHandlers } from '../../ports/coordination.ts';
import { sleep } from '../coordination/renewing-lease.ts';

/** Lists a prefix consistently: the items and the revision they were read at. */
export type PrefixLister = (prefix: string) => Promise<{ items: KeyValue[]; revision: number }>;

/** Convert an etcd3 key-value to the port's `KeyValue`. */
export function toKeyValue(kv: IKeyValue): KeyValue {
  const out: KeyValue = {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
  };
  if (kv.lease && kv.lease !== '0') out.lease = kv.lease;
  return out;
}

/**
 * A prefix watch on etcd that keeps the port's promise: every change after the start revision is
 * delivered once, in revision order, across disconnects, etcd restarts and compaction.
 *
 * It uses the etcd3 `Watcher` (which reconnects by itself) but owns the resume revision, because
 * etcd3 1.1.2 gets it wrong in ways that lose events (docs/coordination.md):
 * - on (re)connect etcd3 sets the resume revision to the *create response's* header revision + 1,
 *   i.e. "now", before the catch-up events arrive; and after a catch-up batch it uses the batch's
 *   header revision (the store's current revision), not the last event's. A disconnect during the
 *   catch-up then skips events. Here the resume revision is always the last delivered revision + 1,
 *   re-applied on every `connected`, `data` and `disconnected`;
 * - on compaction etcd cancels the watch and etcd3 only emits `error` ("Watcher canceled") and drops
 *   the watcher. Here any server-side cancel leads to a re-list (`onReset`) and a new watcher from the
 *   list's revision + 1. The dropped watcher is never `cancel()`ed: its stale id may by then belong to
 *   another watcher on the same stream, which etcd would cancel instead;
 * - if etcd comes back with a revision below what was already delivered (restored from a backup or
 *   wiped), the watch resets instead of waiting forever for a revision that will not come;
 * - events at or below the last delivered revision (replays) are dropped;
 * - progress notifications are not used to advance the resume revision (etcd < 3.4.24 could send one
 *   ahead of pending events, etcd-io/etcd#15220).
 */
export class EtcdPrefixWatch implements Watch {
  private last: number;
  private watcher: Watcher | undefined;
  private closed = false;
  private resetting = false;
  private resetFailures = 0;
  private connected = false;

  private constructor(
    private readonly ns: Namespace,
    private readonly prefix: string,
    private readonly handlers: WatchHandlers,
    startRevision: number,
    private readonly list: PrefixLister,
    private readonly logger?: Logger,
  ) {
    this.last = startRevision - 1;
  }

  /** Start watching `prefix` from `startRevision` (inclusive). */
  static start(
    ns: Namespace,
    prefix: string,
    handlers: WatchHandlers,
    startRevision: number,
    list: PrefixLister,
    logger?: Logger,
  ): EtcdPrefixWatch {
    const watch = new EtcdPrefixWatch(ns, prefix, handlers, startRevision, list, logger);
    watch.attach();
    return watch;
  }

  get lastRevision(): number {
    return this.last;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) await watcher.cancel().catch(() => undefined);
  }

  private attach(): void {
    if (this.closed) return;
    const watcher = this.ns.watch().prefix(this.prefix).withPreviousKV().startRevision(String(this.last + 1)).watcher();
    this.watcher = watcher;
    const current = () => this.watcher === watcher && !this.closed;
    watcher.on('connected', (res: IWatchResponse) => {
      if (!current()) return;
      this.resume(watcher);
      if (Number(res.header.revision) < this.last) {
        this.logger?.warn({ prefix: this.prefix, store: res.header.revision, delivered: this.last }, 'etcd revision went backwards; re-listing');
        this.dropAndReset(watcher, true);
        return;
      }
      this.setConnected(true);
    });
    watcher.on('data', (res: IWatchResponse) => {
      if (!current()) return;
      this.deliver(res);
      this.resume(watcher);
    });
    watcher.on('disconnected', () => {
      if (!current()) return;
      this.resume(watcher);
      this.setConnected(false);
    });
    watcher.on('error', (error: Error) => {
      if (!current()) return;
      // A server-side cancel (compaction, or anything else etcd refuses to continue): re-list.
      this.logger?.info({ prefix: this.prefix, err: error.message, from: this.last + 1 }, 'etcd watch canceled; re-listing');
      this.dropAndReset(watcher, false);
    });
  }

  /** Make etcd3 resume from our last delivered revision, whatever it computed itself. */
  private resume(watcher: Watcher): void {
    (watcher.request as { start_revision?: string | number }).start_revision = String(this.last + 1);
  }

  private deliver(res: IWatchResponse): void {
    const base = this.last;
    let max = base;
    for (const ev of res.events) {
      const revision = Number(ev.kv.mod_revision);
      if (revision <= base) continue;
      const key = ev.kv.key.toString();
      let event: WatchEvent;
      if (ev.type === 'Put') {
        event = { type: 'put', key, kv: toKeyValue(ev.kv), revision };
        if (ev.prev_kv) event.prevKv = toKeyValue(ev.prev_kv);
      } else {
        event = { type: 'delete', key, revision };
        if (ev.prev_kv) event.prevKv = toKeyValue(ev.prev_kv);
      }
      this.safely(() => this.handlers.onEvent(event));
      if (revision > max) max = revision;
      if (this.closed) break;
    }
    // etcd never splits one revision's events over two responses, so the revision is complete.
    this.last = max;
  }

  /**
   * Forget `watcher` and re-list. `cancel` only for a watcher etcd3 still tracks: one that etcd
   * canceled is already dropped by etcd3, and cancelling it would send its stale id.
   */
  private dropAndReset(watcher: Watcher, cancel: boolean): void {
    this.watcher = undefined;
    if (cancel) void watcher.cancel().catch(() => undefined);
    this.setConnected(false);
    void this.reset();
  }

  private async reset(): Promise<void> {
    if (this.resetting || this.closed) return;
    this.resetting = true;
    try {
      while (!this.closed) {
        try {
          const { items, revision } = await this.list(this.prefix);
          if (this.closed) return;
          this.last = revision;
          this.resetFailures = 0;
          this.safely(() => this.handlers.onReset?.(items, revision));
          this.attach();
          return;
        } catch (e) {
          this.resetFailures++;
          this.logger?.warn({ prefix: this.prefix, err: e }, 're-list after a canceled watch failed; retrying');
          await sleep(Math.min(2000, 100 * 2 ** Math.min(this.resetFailures, 5)));
        }
      }
    } finally {
      this.resetting = false;
    }
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.safely(() => this.handlers.onConnectionChange?.(connected));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.logger?.error({ prefix: this.prefix, err: e }, 'watch handler threw; delivery continues');
    }
  }
}
