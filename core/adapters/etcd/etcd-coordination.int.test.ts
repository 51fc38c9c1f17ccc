import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awaitCandidates, coordinationContract, WatchRecorder, type CoordinationHarness } from '../../../test/support/contracts/coordination.contract.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { startEtcd, type TestService } from '../../../test/support/services.ts';
import { startTcpProxy, type TcpProxy } from '../../../test/support/tcp-proxy.ts';
import { EtcdCoordinationStore } from './etcd-coordination.ts';

/** Clients of one etcd, each through its own TCP proxy so a test can cut one off like a dead process. */
function etcdHarness(endpoint: () => string): () => Promise<CoordinationHarness> {
  return async () => {
    const namespace = `/test-${randomUUID()}`;
    const port = Number(new URL(endpoint()).port);
    const clients: { store: EtcdCoordinationStore; proxy: TcpProxy }[] = [];
    const admin = new EtcdCoordinationStore({ endpoints: [endpoint()], namespace });
    return {
      async client() {
        const proxy = await startTcpProxy({ port });
        const store = new EtcdCoordinationStore({ endpoints: [proxy.url], namespace });
        clients.push({ store, proxy });
        return store;
      },
      compact: (revision) => admin.compact(revision),
      async kill(client) {
        const entry = clients.find((c) => c.store === client);
        if (!entry) throw new Error('not a client of this harness');
        entry.proxy.cut();
      },
      async close() {
        await Promise.all(clients.map((c) => (c.proxy.mode === 'forward' ? c.store.close() : c.store.abandon())));
        await Promise.all(clients.map((c) => c.proxy.close()));
        await admin.deletePrefix('/');
        await admin.close();
      },
    };
  };
}

describe('EtcdCoordinationStore', () => {
  let etcd: TestService;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  coordinationContract('etcd', etcdHarness(() => etcd.url));

  describe('failures etcd-only', { timeout: 30_000 }, () => {
    let proxy: TcpProxy;
    let viaProxy: EtcdCoordinationStore;
    let direct: EtcdCoordinationStore;
    let root: string;

    beforeEach(async () => {
      proxy = await startTcpProxy({ port: Number(new URL(etcd.url).port) });
      viaProxy = new EtcdCoordinationStore({ endpoints: [proxy.url] });
      direct = new EtcdCoordinationStore({ endpoints: [etcd.url] });
      root = `/lcm/etcd-only/${randomUUID()}/`;
    });
    afterEach(async () => {
      proxy.restore();
      await viaProxy.close();
      await direct.close();
      await proxy.close();
    });

    it('a watch resumes after its connection is cut, without losing or repeating an event', async () => {
      const recorder = new WatchRecorder();
      const states: boolean[] = [];
      const watch = await viaProxy.watchPrefix(`${root}`, { ...handlersOf(recorder), onConnectionChange: (c) => states.push(c) });
      await direct.put(`${root}a`, '1');
      await eventually('first event', () => recorder.events.length === 1, { timeoutMs: 5000 });
      proxy.cut();
      await eventually('the watch to notice the cut', () => states.includes(false), { timeoutMs: 5000 });
      for (let i = 2; i <= 20; i++) await direct.put(`${root}a`, String(i));
      await direct.delete(`${root}a`);
      proxy.restore();
      await eventually('the events written while cut', () => recorder.events.length === 21, { timeoutMs: 10_000 });
      expect(recorder.events.map((e) => (e.type === 'put' ? e.kv.value : 'deleted'))).toEqual([
        ...Array.from({ length: 20 }, (_, i) => String(i + 1)),
        'deleted',
      ]);
      expect(recorder.resets).toHaveLength(0);
      await eventually('reconnected', () => states.at(-1) === true, { timeoutMs: 5000 });
      await watch.close();
    });

    it('a watch cut in the middle of a large catch-up resumes from the last delivered revision', async () => {
      // More than 1 000 revisions, so etcd sends the catch-up in several responses.
      const first = await direct.put(`${root}bulk/0`, '0');
      const total = 1500;
      for (let i = 1; i < total; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, total - i) }, (_, j) => direct.put(`${root}bulk/${i + j}`, String(i + j))),
        );
      }
      let cuts = 0;
      const recorder = new WatchRecorder();
      const watch = await viaProxy.watchPrefix(
        root,
        {
          ...handlersOf(recorder),
          onEvent: (e) => {
            recorder.onEvent(e);
            // Cut right after the first response of the catch-up (etcd3 would resume from "now").
            if (cuts === 0) {
              cuts++;
              proxy.cut();
              setTimeout(() => proxy.restore(), 300);
            }
          },
        },
        { fromRevision: first.revision },
      );
      await eventually(`${total} events`, () => recorder.events.length >= total, { timeoutMs: 20_000 });
      // Positive signal that no repeat is still on its way: a later write arrives next (events are in order).
      await direct.put(`${root}after`, 'x');
      await eventually('the write after the catch-up', () => recorder.events.some((e) => e.key === `${root}after`), { timeoutMs: 5000 });
      expect(recorder.events).toHaveLength(total + 1);
      expect(new Set(recorder.events.map((e) => e.key)).size).toBe(total + 1);
      expect(recorder.resets).toHaveLength(0);
      await watch.close();
    });

    it('a watch resumes through a re-list when history was compacted while it was cut off', async () => {
      await direct.put(`${root}keep`, 'k');
      const recorder = new WatchRecorder();
      const watch = await viaProxy.watchPrefix(root, recorder);
      await direct.put(`${root}x`, '1');
      await eventually('first event', () => recorder.events.length === 1, { timeoutMs: 5000 });
      proxy.cut();
      await direct.put(`${root}x`, '2');
      await direct.delete(`${root}keep`);
      const last = await direct.put(`${root}y`, '3');
      await direct.compact(last.revision);
      proxy.restore();
      await eventually('a reset', () => recorder.resets.length === 1, { timeoutMs: 10_000 });
      expect(recorder.resets[0]!.items.map((kv) => [kv.key, kv.value])).toEqual([
        [`${root}x`, '2'],
        [`${root}y`, '3'],
      ]);
      const after = await direct.put(`${root}z`, '4');
      await eventually('the event after the reset', () => recorder.events.length === 2, { timeoutMs: 5000 });
      expect(recorder.events[1]).toMatchObject({ key: `${root}z`, revision: after.revision });
      await watch.close();
    });

    it('a leader whose client closes resigns with it: the successor is elected at once', async () => {
      const name = `close-${randomUUID()}`;
      const closing = new EtcdCoordinationStore({ endpoints: [etcd.url] });
      const leadership = await closing.election(name, 'closing', { ttlSeconds: 10 }).campaign();
      const successor = direct.election(name, 'successor', { ttlSeconds: 10 });
      const next = successor.campaign();
      await awaitCandidates(direct, name, 2);
      const closedAt = performance.now();
      await closing.close();
      await next;
      expect(performance.now() - closedAt).toBeLessThan(2000);
      expect(leadership.aborted).toBe(true);
      await successor.resign();
    });

    it('a leader whose process exits without resigning is replaced within the lease TTL', async () => {
      const name = `exit-${randomUUID()}`;
      const ttlSeconds = 2;
      const exiting = new EtcdCoordinationStore({ endpoints: [etcd.url] });
      await exiting.election(name, 'exiting', { ttlSeconds }).campaign();
      const successor = direct.election(name, 'successor', { ttlSeconds });
      const next = successor.campaign();
      await awaitCandidates(direct, name, 2);
      expect(successor.isLeader()).toBe(false);
      const exitedAt = performance.now();
      await exiting.abandon();
      await next;
      const after = performance.now() - exitedAt;
      expect(after).toBeLessThan(ttlSeconds * 1000 + 1500);
      expect(after).toBeGreaterThan(500);
      await successor.resign();
    });

    it('a silently partitioned leader stops acting before a successor is elected', async () => {
      const name = `partition-${randomUUID()}`;
      const ttlSeconds = 2;
      const leader = viaProxy.election(name, 'partitioned', { ttlSeconds });
      const successor = direct.election(name, 'successor', { ttlSeconds });
      const leadership = await leader.campaign();
      let abortedAt = 0;
      leadership.addEventListener('abort', () => (abortedAt = performance.now()));
      const next = successor.campaign();
      await awaitCandidates(direct, name, 2);
      expect(successor.isLeader()).toBe(false);
      const partitionedAt = performance.now();
      proxy.blackhole();
      await next;
      const electedAt = performance.now();
      expect(abortedAt).toBeGreaterThan(0);
      expect(abortedAt).toBeLessThan(electedAt);
      expect(abortedAt - partitionedAt).toBeLessThan(ttlSeconds * 1000);
      expect(leader.isLeader()).toBe(false);
      await successor.resign();
    });
  });

  describe('etcd restarts', { timeout: 60_000 }, () => {
    let own: TestService;
    const stores: EtcdCoordinationStore[] = [];
    beforeEach(async () => {
      own = await startEtcd();
    });
    afterEach(async () => {
      for (const store of stores.splice(0)) await store.abandon();
      await own.stop();
    });
    const client = () => {
      const store = new EtcdCoordinationStore({ endpoints: [own.url] });
      stores.push(store);
      return store;
    };

    it('a watch continues after etcd is restarted', async () => {
      const store = client();
      const recorder = new WatchRecorder();
      const states: boolean[] = [];
      const watch = await store.watchPrefix('/lcm/r/', { ...handlersOf(recorder), onConnectionChange: (c) => states.push(c) });
      await store.put('/lcm/r/1', 'before');
      await eventually('event before the restart', () => recorder.events.length === 1, { timeoutMs: 5000 });
      await own.kill();
      await eventually('the watch to notice', () => states.includes(false), { timeoutMs: 10_000 });
      await own.restart();
      await eventually('etcd back', async () => (await store.put('/lcm/r/2', 'after').then(() => true, () => false)), { timeoutMs: 15_000 });
      await eventually('event after the restart', () => recorder.events.some((e) => e.key === '/lcm/r/2'), { timeoutMs: 15_000 });
      expect(recorder.events.map((e) => e.key)[0]).toBe('/lcm/r/1');
      expect(recorder.resets).toHaveLength(0);
      await watch.close();
    });

    it('a watch resets when etcd comes back with its data wiped (revision went backwards)', async () => {
      const store = client();
      for (let i = 0; i < 30; i++) await store.put(`/lcm/w/${i}`, String(i));
      const recorder = new WatchRecorder();
      const watch = await store.watchPrefix('/lcm/w/', recorder);
      await own.kill();
      (await import('node:fs')).rmSync(own.dataDir, { recursive: true, force: true });
      await own.restart();
      await eventually('a reset', () => recorder.resets.length === 1, { timeoutMs: 20_000 });
      expect(recorder.resets[0]!.items).toEqual([]);
      await store.put('/lcm/w/new', 'n');
      await eventually('the new event', () => recorder.events.some((e) => e.key === '/lcm/w/new'), { timeoutMs: 10_000 });
      await watch.close();
    });

    it('never two leaders across an etcd restart (etcd3 #158), and one leader afterwards', async () => {
      const name = 'restart';
      const ttlSeconds = 2;
      const observer = client();
      const elections = [client(), client(), client()].map((s, i) => s.election(name, `c${i}`, { ttlSeconds }));
      const leading = new Set<number>();
      let overlap = 0;
      const stop = new AbortController();
      const loops = elections.map(async (election, i) => {
        while (!stop.signal.aborted) {
          let signal: AbortSignal;
          try {
            signal = await election.campaign(stop.signal);
          } catch {
            return;
          }
          leading.add(i);
          if (leading.size > 1) overlap++;
          await new Promise<void>((resolve) => {
            if (signal.aborted) return resolve();
            signal.addEventListener('abort', () => resolve(), { once: true });
            stop.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          leading.delete(i);
          if (stop.signal.aborted) await election.resign();
        }
      });
      await eventually('a first leader', () => leading.size === 1, { timeoutMs: 10_000 });
      // A short outage (below the renew deadline) and a long one (past the TTL): the outage lengths are
      // the scenario, so those two waits are timed; everything else waits for a condition.
      await own.kill();
      await new Promise((r) => setTimeout(r, 500));
      await own.restart();
      await eventually('etcd back after the short outage', () => observer.revision().then(() => true), { timeoutMs: 15_000 });
      await eventually('a leader after the short outage', () => leading.size === 1, { timeoutMs: 20_000 });
      await own.kill();
      await new Promise((r) => setTimeout(r, ttlSeconds * 1000 + 1500));
      expect(leading.size).toBe(0);
      await own.restart();
      await eventually('a leader after the restart', () => leading.size === 1, { timeoutMs: 20_000 });
      // Positive signal: the other two candidates are back in the election, waiting.
      await awaitCandidates(observer, name, 3, 20_000);
      expect(leading.size).toBe(1);
      expect(overlap).toBe(0);
      stop.abort('done');
      await Promise.all(loops);
    });
  });
});

function handlersOf(recorder: WatchRecorder) {
  return {
    onEvent: (e: Parameters<WatchRecorder['onEvent']>[0]) => recorder.onEvent(e),
    onReset: (items: Parameters<WatchRecorder['onReset']>[0], revision: number) => recorder.onReset(items, revision),
    onError: (e: Error) => recorder.onError(e),
  };
}
