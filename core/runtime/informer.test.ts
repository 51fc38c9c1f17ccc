import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryCoordinationCluster, type MemoryCoordinationStore } from '../adapters/memory/memory-coordination.ts';
import { eventually } from '../../test/support/eventually.ts';
import type { WatchEvent } from '../ports/coordination.ts';
import { Informer, type InformerSource } from './informer.ts';
import type { ControllerMetrics } from './metrics.ts';

interface Thing {
  id: string;
  version: number;
}

/**
 * A stand-in for a subgraph: the authoritative records (what GraphQL lists) and their projection in
 * the coordination store at `/lcm/things/<id>` (what the informer watches).
 */
class ThingService {
  readonly records = new Map<string, Thing>();
  listCalls = 0;
  failNextLists = 0;
  duringList: (() => Promise<void>) | undefined;
  constructor(readonly store: MemoryCoordinationStore) {}

  async save(id: string, version: number, { project = true } = {}): Promise<void> {
    this.records.set(id, { id, version });
    if (project) await this.store.put(`/lcm/things/${id}`, JSON.stringify({ id, version }));
  }

  async remove(id: string, { project = true } = {}): Promise<void> {
    this.records.delete(id);
    if (project) await this.store.delete(`/lcm/things/${id}`);
  }

  source(): InformerSource<Thing> {
    return {
      name: 'things',
      prefix: '/lcm/things/',
      list: async () => {
        this.listCalls++;
        if (this.failNextLists > 0) {
          this.failNextLists--;
          throw new Error('list failed');
        }
        const snapshot = [...this.records.values()].map((t) => ({ ...t }));
        if (this.duringList) await this.duringList();
        return snapshot;
      },
      keyOf: (t) => t.id,
      decode: (event: WatchEvent) => {
        const id = event.key.slice('/lcm/things/'.length);
        return event.type === 'delete' ? { key: id, object: null } : { key: id, object: JSON.parse(event.kv.value) as Thing };
      },
      versionOf: (t) => t.version,
    };
  }
}

function record(informer: Informer<Thing>) {
  const log: string[] = [];
  informer.addHandlers({
    onAdd: (key, t) => log.push(`add ${key}@${t.version}`),
    onUpdate: (key, prev, cur) => log.push(`update ${key}@${prev.version}->${cur.version}`),
    onDelete: (key) => log.push(`delete ${key}`),
  });
  return log;
}

describe('Informer', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const setup = (resyncPeriodMs = 0) => {
    const cluster = new MemoryCoordinationCluster();
    const store = cluster.client();
    const service = new ThingService(store);
    const resets: string[] = [];
    const metrics: ControllerMetrics = {
      reconciled() {},
      leader() {},
      informerEvent() {},
      informerReset: (name) => resets.push(name),
      watchConnected() {},
      abandoned() {},
    };
    const informer = new Informer<Thing>({ store, source: service.source(), resyncPeriodMs, listRetryMs: 10, metrics });
    cleanups.push(async () => {
      await informer.stop();
      await store.close();
      cluster.close();
    });
    return { cluster, store, service, informer, resets };
  };

  it('lists, then follows the watch: adds, updates and deletes reach the cache and the handlers', async () => {
    const { service, informer } = setup();
    await service.save('a', 1);
    await service.save('b', 1);
    const log = record(informer);
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    expect(log).toEqual(['add a@1', 'add b@1']);
    await service.save('a', 2);
    await service.save('c', 1);
    await service.remove('b');
    await eventually('watch events', () => log.length === 5, { timeoutMs: 2000 });
    expect(log.slice(2)).toEqual(['update a@1->2', 'add c@1', 'delete b']);
    expect(informer.get('a')).toEqual({ id: 'a', version: 2 });
    expect(informer.keys().sort()).toEqual(['a', 'c']);
    expect(informer.isWatchConnected()).toBe(true);
  });

  it('does not miss a change made while the list is running (the watch starts at the revision before the list)', async () => {
    const { service, informer } = setup();
    await service.save('a', 1);
    service.duringList = async () => {
      service.duringList = undefined;
      await service.save('a', 2);
    };
    const log = record(informer);
    await informer.start();
    await eventually('the change made during the list', () => informer.get('a')?.version === 2, { timeoutMs: 2000 });
    expect(log).toEqual(['add a@1', 'update a@1->2']);
  });

  it('never replaces a cached object with an older state', async () => {
    const { service, store, informer } = setup();
    await service.save('a', 5);
    const log = record(informer);
    await informer.start();
    await store.put('/lcm/things/a', JSON.stringify({ id: 'a', version: 3 }));
    await service.save('a', 6);
    await eventually('the newer state', () => informer.get('a')?.version === 6, { timeoutMs: 2000 });
    expect(log).toEqual(['add a@5', 'update a@5->6']);
  });

  it('retries a failing list until it succeeds', async () => {
    const { service, informer } = setup();
    await service.save('a', 1);
    service.failNextLists = 2;
    await informer.start();
    expect(service.listCalls).toBe(3);
    expect(informer.get('a')).toBeDefined();
  });

  it('the periodic resync re-lists: every object is reported again and changes that were never watched are found', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
    const { service, informer } = setup(60_000);
    await service.save('a', 1);
    await service.save('b', 1);
    const log = record(informer);
    await informer.start();
    // Changes the watch never sees (no projection written): only a re-list can find them.
    await service.save('c', 1, { project: false });
    await service.remove('b', { project: false });
    await vi.advanceTimersByTimeAsync(50_000);
    expect(service.listCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(service.listCalls).toBe(2);
    expect(log.slice(2).sort()).toEqual(['add c@1', 'delete b', 'update a@1->1']);
    await vi.advanceTimersByTimeAsync(70_000);
    expect(service.listCalls).toBe(3);
  });

  it('re-lists when its watch is reset by compaction', async () => {
    const { cluster, store, service, informer, resets } = setup();
    await service.save('a', 1);
    const log = record(informer);
    await informer.start();
    store.disconnect();
    const writer = cluster.client();
    cleanups.push(() => writer.close());
    // Changes while this client is cut off, then the history they were in is compacted.
    service.records.set('a', { id: 'a', version: 2 });
    await writer.put('/lcm/things/a', JSON.stringify({ id: 'a', version: 2 }));
    service.records.set('b', { id: 'b', version: 1 });
    await writer.put('/lcm/things/b', JSON.stringify({ id: 'b', version: 1 }));
    cluster.compact(cluster.revision);
    store.reconnect();
    await eventually('a re-list after the reset', () => service.listCalls === 2 && log.length === 3, { timeoutMs: 2000 });
    expect(resets).toEqual(['things']);
    expect(log.slice(1).sort()).toEqual(['add b@1', 'update a@1->2']);
    // The watch goes on after the reset.
    await service.save('c', 1);
    await eventually('a change after the reset', () => informer.get('c') !== undefined, { timeoutMs: 2000 });
  });

  it('stop ends the watch; a handler that throws does not stop the others', async () => {
    const { service, informer } = setup();
    informer.addHandlers({
      onAdd: () => {
        throw new Error('bad handler');
      },
    });
    const log = record(informer);
    await informer.start();
    await service.save('a', 1);
    await eventually('the add', () => log.length === 1, { timeoutMs: 2000 });
    await informer.stop();
    // Positive signal first: a watch still open on the same prefix sees the next change.
    const seen: string[] = [];
    const control = await service.store.watchPrefix('/lcm/things/', { onEvent: (e) => seen.push(e.key) });
    cleanups.push(() => control.close());
    await service.save('b', 1);
    await eventually('the change to reach an open watch', () => seen.includes('/lcm/things/b'), { timeoutMs: 2000 });
    expect(log).toEqual(['add a@1']);
    expect(informer.isWatchConnected()).toBe(false);
  });
});

describe('Informer: objects leaving the watched set', () => {
  it('reports an object that leaves the set as a delete with its new state, and one it never held with previous undefined', async () => {
    const cluster = new MemoryCoordinationCluster();
    const store = cluster.client();
    const source: InformerSource<{ id: string; on: boolean }> = {
      name: 'on-things',
      prefix: '/lcm/switches/',
      list: async () => [],
      keyOf: (t) => t.id,
      decode: (event: WatchEvent) => {
        const id = event.key.slice('/lcm/switches/'.length);
        if (event.type === 'delete') return { key: id, object: null };
        const t = JSON.parse(event.kv.value) as { id: string; on: boolean };
        return t.on ? { key: id, object: t } : { key: id, object: null, left: t };
      },
    };
    const informer = new Informer({ store, source, resyncPeriodMs: 0 });
    const log: string[] = [];
    informer.addHandlers({ onDelete: (key, previous, left) => log.push(`${key} ${previous ? 'held' : 'never held'} ${left ? `left on=${left.on}` : 'gone'}`) });
    await informer.start();
    await store.put('/lcm/switches/a', JSON.stringify({ id: 'a', on: true }));
    await store.put('/lcm/switches/a', JSON.stringify({ id: 'a', on: false }));
    await store.put('/lcm/switches/b', JSON.stringify({ id: 'b', on: false }));
    await store.delete('/lcm/switches/b');
    await eventually('the deletes', () => log.length === 3, { timeoutMs: 2000 });
    expect(log).toEqual(['a held left on=false', 'b never held left on=false', 'b never held gone']);
    expect(informer.keys()).toEqual([]);
    await informer.stop();
    await store.close();
    cluster.close();
  });
});
