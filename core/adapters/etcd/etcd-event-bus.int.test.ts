import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { cloudEvent, EventTopic, type CloudEvent } from '../../events/cloudevent.ts';
import { CoordinationKeys, type CoordinationStore } from '../../ports/coordination.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { subscribeIterator } from '../../ports/event-bus.ts';
import { MemoryCoordinationCluster } from '../memory/memory-coordination.ts';
import { EtcdCoordinationStore } from './etcd-coordination.ts';
import { EtcdEventBus, type EtcdEventBusOptions } from './etcd-event-bus.ts';

const sessionEvent = (id: string, n: number): CloudEvent =>
  cloudEvent({ source: 'test', type: 'lablet_session.updated', subject: id, data: { id, n }, entityversion: n });

type Backend = { clients(): [CoordinationStore, CoordinationStore]; close(): Promise<void> };

const backends: { name: string; make: () => Backend }[] = [
  {
    name: 'etcd (two clients)',
    make: () => {
      const namespace = `/test-${randomUUID()}`;
      const stores = [0, 1].map(() => new EtcdCoordinationStore({ endpoints: [inject('etcdEndpoint')], namespace }));
      return {
        clients: () => [stores[0]!, stores[1]!],
        close: async () => {
          await stores[0]!.deletePrefix('/');
          await Promise.all(stores.map((s) => s.close()));
        },
      };
    },
  },
  {
    name: 'memory (two clients)',
    make: () => {
      const cluster = new MemoryCoordinationCluster();
      const stores = [cluster.client(), cluster.client()];
      return {
        clients: () => [stores[0]!, stores[1]!],
        close: async () => {
          await Promise.all(stores.map((s) => s.close()));
          cluster.close();
        },
      };
    },
  },
];

for (const { name, make: makeBackend } of backends) {
  describe(`EtcdEventBus on ${name}`, () => {
    let backend: Backend;
    const buses: EtcdEventBus[] = [];
    const start = async (store: CoordinationStore, options?: EtcdEventBusOptions) => {
      const bus = await EtcdEventBus.start(store, options);
      buses.push(bus);
      return bus;
    };
    afterEach(async () => {
      for (const bus of buses.splice(0)) await bus.close();
      await backend.close();
    });

    it('every replica sees every event, in publication order per entity', async () => {
      backend = makeBackend();
      const [a, b] = backend.clients();
      const publisher = await start(a);
      const replica = await start(b);
      const seenByReplica: CloudEvent[] = [];
      const seenByPublisher: CloudEvent[] = [];
      replica.subscribe(EventTopic.session, (e) => seenByReplica.push(e));
      publisher.subscribe(EventTopic.session, (e) => seenByPublisher.push(e));
      const entities = ['s1', 's2', 's3'];
      await Promise.all(
        entities.map(async (id) => {
          for (let n = 1; n <= 20; n++) await publisher.publish(EventTopic.session, sessionEvent(id, n));
        }),
      );
      await eventually('all events on both buses', () => seenByReplica.length === 60 && seenByPublisher.length === 60, { timeoutMs: 10_000 });
      for (const id of entities) {
        const order = seenByReplica.filter((e) => e.subject === id).map((e) => e.entityversion);
        expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      }
      expect(seenByPublisher.map((e) => e.id)).toEqual(seenByReplica.map((e) => e.id));
    });

    it('listeners only get their topic, and stop getting events once unsubscribed', async () => {
      backend = makeBackend();
      const [a, b] = backend.clients();
      const publisher = await start(a);
      const replica = await start(b);
      const workers: CloudEvent[] = [];
      const sessions: CloudEvent[] = [];
      replica.subscribe(EventTopic.worker, (e) => workers.push(e));
      const unsubscribe = replica.subscribe(EventTopic.session, (e) => sessions.push(e));
      await publisher.publish(EventTopic.session, sessionEvent('s1', 1));
      await eventually('the session event', () => sessions.length === 1, { timeoutMs: 5000 });
      unsubscribe();
      await publisher.publish(EventTopic.session, sessionEvent('s1', 2));
      await publisher.publish(EventTopic.worker, cloudEvent({ source: 'test', type: 'cml_worker.updated', data: {} }));
      await eventually('the worker event', () => workers.length === 1, { timeoutMs: 5000 });
      expect(sessions).toHaveLength(1);
    });

    it('serves GraphQL subscription iterators (subscribeIterator)', async () => {
      backend = makeBackend();
      const [a, b] = backend.clients();
      const publisher = await start(a);
      const replica = await start(b);
      const iterator = subscribeIterator(replica, EventTopic.session, (e) => (e.data as { n: number }).n);
      await publisher.publish(EventTopic.session, sessionEvent('s1', 1));
      await publisher.publish(EventTopic.session, sessionEvent('s1', 2));
      expect((await iterator.next()).value).toBe(1);
      expect((await iterator.next()).value).toBe(2);
      await iterator.return?.();
    });

    it('keeps at most maxEventsPerTopic events of a topic', async () => {
      backend = makeBackend();
      const [a] = backend.clients();
      const publisher = await start(a, { maxEventsPerTopic: 20 });
      for (let n = 1; n <= 61; n++) await publisher.publish(EventTopic.session, sessionEvent('s1', n));
      const topic = CoordinationKeys.eventTopic(EventTopic.session);
      await eventually('the topic to be trimmed', async () => (await a.list(topic)).items.length <= 21, { timeoutMs: 5000 });
      const kept = (await a.list(topic)).items.map((kv) => (JSON.parse(kv.value) as CloudEvent).entityversion!);
      // The newest events are the ones kept.
      expect(Math.max(...kept)).toBe(61);
      expect(Math.min(...kept)).toBeGreaterThan(61 - 21);
    });

    it('every event carries its cursor; resuming after one replays exactly the events after it, then live ones', async () => {
      backend = makeBackend();
      const [a, b] = backend.clients();
      const publisher = await start(a);
      const replica = await start(b);
      const first: { n: number; cursor: string }[] = [];
      const stop = replica.subscribe(EventTopic.session, (e, cursor) => first.push({ n: e.entityversion!, cursor }));
      for (let n = 1; n <= 3; n++) await publisher.publish(EventTopic.session, sessionEvent('s1', n));
      await eventually('three events', () => first.length === 3, { timeoutMs: 5000 });
      stop();
      // Missed while away: 4..8 (and a worker event, which is another topic).
      for (let n = 4; n <= 8; n++) await publisher.publish(EventTopic.session, sessionEvent('s1', n));
      await publisher.publish(EventTopic.worker, cloudEvent({ source: 'test', type: 'cml_worker.updated', data: {} }));
      const resumed: { n: number; cursor: string }[] = [];
      const errors: unknown[] = [];
      replica.subscribe(EventTopic.session, (e, cursor) => resumed.push({ n: e.entityversion!, cursor }), {
        after: first[2]!.cursor,
        onError: (e) => errors.push(e),
      });
      // Published while the replay runs, and after it.
      const live = (async () => {
        for (let n = 9; n <= 12; n++) await publisher.publish(EventTopic.session, sessionEvent('s1', n));
      })();
      await live;
      await eventually('the missed and the live events', () => resumed.length >= 9, { timeoutMs: 5000 });
      await publisher.publish(EventTopic.session, sessionEvent('s1', 13));
      await eventually('the next live event', () => resumed.some((r) => r.n === 13), { timeoutMs: 5000 });
      expect(resumed.map((r) => r.n)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
      expect(new Set(resumed.map((r) => r.cursor)).size).toBe(10);
      expect(resumed.map((r) => Number(r.cursor))).toEqual([...resumed.map((r) => Number(r.cursor))].sort((x, y) => x - y));
      expect(errors).toEqual([]);
    });

    it('a cursor older than the retention (trimmed) is refused with SUBSCRIPTION_CURSOR_EXPIRED, never skipped', async () => {
      backend = makeBackend();
      const [a, b] = backend.clients();
      const publisher = await start(a, { maxEventsPerTopic: 10 });
      const replica = await start(b);
      const cursors: string[] = [];
      replica.subscribe(EventTopic.session, (_, cursor) => cursors.push(cursor));
      for (let n = 1; n <= 40; n++) await publisher.publish(EventTopic.session, sessionEvent('s1', n));
      await eventually('all events', () => cursors.length === 40, { timeoutMs: 5000 });
      const topic = CoordinationKeys.eventTopic(EventTopic.session);
      await eventually('the topic to be trimmed', async () => (await a.list(topic)).items.length <= 11, { timeoutMs: 5000 });
      const refused = (after: string) =>
        new Promise<{ code: string; delivered: number }>((resolve) => {
          let delivered = 0;
          replica.subscribe(EventTopic.session, () => delivered++, { after, onError: (e) => resolve({ code: e.code, delivered }) });
        });
      expect(await refused(cursors[0]!)).toEqual({ code: 'SUBSCRIPTION_CURSOR_EXPIRED', delivered: 0 });
      expect(await refused('not-a-cursor')).toEqual({ code: 'SUBSCRIPTION_CURSOR_EXPIRED', delivered: 0 });
      // A recent cursor still resumes.
      const after: number[] = [];
      replica.subscribe(EventTopic.session, (e) => after.push(e.entityversion!), { after: cursors[37]! });
      await eventually('the two events after it', () => after.length === 2, { timeoutMs: 5000 });
      expect(after).toEqual([39, 40]);
    });

    it('subscribeIterator resumes after a cursor and rejects with the code when it expired', async () => {
      backend = makeBackend();
      const [a] = backend.clients();
      const bus = await start(a, { retentionSeconds: 2 });
      const cursors: string[] = [];
      bus.subscribe(EventTopic.session, (_, cursor) => cursors.push(cursor));
      for (let n = 1; n <= 3; n++) await bus.publish(EventTopic.session, sessionEvent('s1', n));
      await eventually('three events', () => cursors.length === 3, { timeoutMs: 5000 });
      const resumed = subscribeIterator(bus, EventTopic.session, (e) => (e.data as { n: number }).n, { after: cursors[0]! });
      expect((await resumed.next()).value).toBe(2);
      expect((await resumed.next()).value).toBe(3);
      await resumed.return?.();
      // Half the retention later, the cursor is no longer honoured (later events may have expired).
      await new Promise((r) => setTimeout(r, 1100));
      const expired = subscribeIterator(bus, EventTopic.session, (e) => (e.data as { n: number }).n, { after: cursors[0]! });
      await expect(expired.next()).rejects.toHaveProperty('code', 'SUBSCRIPTION_CURSOR_EXPIRED');
    });

    it('events expire after the retention time', async () => {
      backend = makeBackend();
      const [a] = backend.clients();
      const publisher = await start(a, { retentionSeconds: 1 });
      await publisher.publish(EventTopic.session, sessionEvent('s1', 1));
      const topic = CoordinationKeys.eventTopic(EventTopic.session);
      expect((await a.list(topic)).items).toHaveLength(1);
      await eventually('the event to expire', async () => (await a.list(topic)).items.length === 0, { timeoutMs: 5000 });
    });
  });
}

describe('EtcdEventBus after a compaction', () => {
  it('delivers the stored events it had not delivered yet, in order, once', async () => {
    const cluster = new MemoryCoordinationCluster();
    const [a, b] = [cluster.client(), cluster.client()];
    const publisher = await EtcdEventBus.start(a);
    const replica = await EtcdEventBus.start(b);
    const seen: number[] = [];
    replica.subscribe(EventTopic.session, (e) => seen.push(e.entityversion!));
    await publisher.publish(EventTopic.session, sessionEvent('s1', 1));
    await eventually('one event', () => seen.length === 1);
    b.disconnect();
    for (let n = 2; n <= 4; n++) await publisher.publish(EventTopic.session, sessionEvent('s1', n));
    cluster.compact(cluster.revision);
    b.reconnect();
    await eventually('four events', () => seen.length === 4);
    // Positive signal that nothing else is on its way: a later event arrives next (delivery is in order).
    await publisher.publish(EventTopic.session, sessionEvent('s1', 5));
    await eventually('the fifth event', () => seen.includes(5));
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    await Promise.all([publisher.close(), replica.close(), a.close(), b.close()]);
    cluster.close();
  });
});
