import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { EtcdCoordinationStore } from '../adapters/etcd/etcd-coordination.ts';
import { MemoryCoordinationCluster, type MemoryCoordinationStore } from '../adapters/memory/memory-coordination.ts';
import { awaitCandidates } from '../../test/support/contracts/coordination.contract.ts';
import { eventually } from '../../test/support/eventually.ts';
import type { CoordinationStore, WatchEvent } from '../ports/coordination.ts';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.ts';
import { Controller, serveControllerOps, type ControllerOptions, type Reconciler } from './controller.ts';
import type { InformerSource } from './informer.ts';

/** Clients of one coordination cluster, one per "process", and a way to make a process vanish. */
interface Backend {
  client(): Promise<CoordinationStore>;
  kill(client: CoordinationStore): void;
  /** Undo `kill` (the process reaches the cluster again), where the backend can. */
  revive?(client: CoordinationStore): void;
  close(): Promise<void>;
}

const backends: { name: string; make: () => Backend }[] = [
  {
    name: 'memory',
    make: () => {
      const cluster = new MemoryCoordinationCluster();
      const clients: MemoryCoordinationStore[] = [];
      return {
        client: async () => {
          const c = cluster.client();
          clients.push(c);
          return c;
        },
        kill: (c) => (c as MemoryCoordinationStore).disconnect(),
        close: async () => {
          await Promise.all(clients.map((c) => c.close()));
          cluster.close();
        },
      };
    },
  },
  {
    name: 'etcd',
    make: () => {
      const namespace = `/test-${randomUUID()}`;
      const endpoint = new URL(inject('etcdEndpoint'));
      const clients: { store: EtcdCoordinationStore; proxy: TcpProxy }[] = [];
      return {
        client: async () => {
          const proxy = await startTcpProxy({ port: Number(endpoint.port) });
          const store = new EtcdCoordinationStore({ endpoints: [proxy.url], namespace, requestTimeoutMs: 1000 });
          clients.push({ store, proxy });
          return store;
        },
        kill: (c) => clients.find((x) => x.store === c)!.proxy.cut(),
        revive: (c) => clients.find((x) => x.store === c)!.proxy.restore(),
        close: async () => {
          const admin = new EtcdCoordinationStore({ endpoints: [endpoint.href], namespace });
          await Promise.all(clients.map((c) => (c.proxy.mode === 'forward' ? c.store.close() : c.store.abandon())));
          await Promise.all(clients.map((c) => c.proxy.close()));
          await admin.deletePrefix('/');
          await admin.close();
        },
      };
    },
  },
];

/** The authoritative records (what GraphQL would list) shared by every "process" of a test. */
class Things {
  readonly ids = new Set<string>();
  async create(store: CoordinationStore, id: string): Promise<void> {
    this.ids.add(id);
    await store.put(`/lcm/things/${id}`, JSON.stringify({ id }));
  }
  source(): InformerSource<{ id: string }> {
    return {
      name: 'things',
      prefix: '/lcm/things/',
      list: async () => [...this.ids].map((id) => ({ id })),
      keyOf: (t) => t.id,
      decode: (event: WatchEvent) => {
        const id = event.key.slice('/lcm/things/'.length);
        return { key: id, object: event.type === 'put' ? { id } : null };
      },
    };
  }
}

const fastElection = { ttlSeconds: 1, renewIntervalMs: 150, renewDeadlineMs: 500, retryIntervalMs: 100 };

for (const { name, make } of backends) {
  describe(`Controller on ${name}`, { timeout: 30_000 }, () => {
    let backend: Backend;
    const controllers: Controller[] = [];
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of controllers.splice(0)) await c.stop();
      for (const close of closers.splice(0)) await close();
      await backend.close();
    });

    const controller = async (things: Things, reconcile: Reconciler, extra: Partial<ControllerOptions> = {}) => {
      const store = await backend.client();
      const c = new Controller({
        name: 'things-controller',
        store,
        reconcile,
        watches: [{ source: things.source() }],
        leaderElection: fastElection,
        resyncPeriodMs: 0,
        ...extra,
      });
      controllers.push(c);
      return { controller: c, store };
    };

    it('reconciles listed and watched keys; honours requeue-after, and retries errors with backoff', async () => {
      backend = make();
      const things = new Things();
      const writer = await backend.client();
      await things.create(writer, 'listed');
      const calls: string[] = [];
      let failures = 0;
      const { controller: c } = await controller(
        things,
        async (key, { retries }) => {
          calls.push(`${key}#${retries}`);
          if (key === 'flaky' && failures < 2) {
            failures++;
            throw new Error('transient');
          }
          if (key === 'poll' && calls.filter((k) => k.startsWith('poll')).length < 3) return { requeueAfterMs: 30 };
          return undefined;
        },
        { rateLimit: { baseDelayMs: 20 } },
      );
      c.start();
      await eventually('the listed key', () => calls.includes('listed#0'), { timeoutMs: 5000 });
      expect(c.isLeader()).toBe(true);
      await things.create(writer, 'flaky');
      await things.create(writer, 'poll');
      await eventually('flaky retried to success', () => calls.filter((k) => k.startsWith('flaky')).length === 3, { timeoutMs: 5000 });
      expect(calls.filter((k) => k.startsWith('flaky'))).toEqual(['flaky#0', 'flaky#1', 'flaky#2']);
      await eventually('poll requeued', () => calls.filter((k) => k.startsWith('poll')).length === 3, { timeoutMs: 5000 });
      expect(calls.filter((k) => k.startsWith('poll'))).toEqual(['poll#0', 'poll#0', 'poll#0']);
      c.enqueue('manual');
      await eventually('a manually enqueued key', () => calls.includes('manual#0'), { timeoutMs: 5000 });
    });

    it('only the leader reconciles; when it stops, the standby takes over and reconciles everything', async () => {
      backend = make();
      const things = new Things();
      const writer = await backend.client();
      for (const id of ['a', 'b', 'c']) await things.create(writer, id);
      const byProcess: Record<string, string[]> = { one: [], two: [] };
      const one = await controller(things, async (key) => void byProcess.one!.push(key));
      const two = await controller(things, async (key) => void byProcess.two!.push(key));
      one.controller.start();
      await eventually('the first to lead', () => one.controller.isLeader(), { timeoutMs: 5000 });
      two.controller.start();
      // Positive signals: the standby has campaigned (its candidate key is there), and the leader keeps working.
      await awaitCandidates(writer, 'things-controller', 2);
      await things.create(writer, 'd');
      await eventually('the leader to see d', () => byProcess.one!.includes('d'), { timeoutMs: 5000 });
      expect(two.controller.isLeader()).toBe(false);
      expect(byProcess.two).toEqual([]);
      expect(await two.controller.readiness()).toEqual([]);
      await one.controller.stop();
      await eventually('the standby to lead', () => two.controller.isLeader(), { timeoutMs: 5000 });
      await eventually('the new leader to reconcile all', () => ['a', 'b', 'c', 'd'].every((k) => byProcess.two!.includes(k)), { timeoutMs: 5000 });
    });

    it('when the leader dies, its in-flight reconcile is aborted before the standby takes over', async () => {
      backend = make();
      const things = new Things();
      const writer = await backend.client();
      await things.create(writer, 'x');
      let abortedAt = 0;
      let takenOverAt = 0;
      const doomed = await controller(things, (_key, { signal }) => {
        // A long action that honours the signal.
        return new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            abortedAt = performance.now();
            resolve();
          });
        });
      });
      doomed.controller.start();
      await eventually('a reconcile in flight', () => doomed.controller.isLeader() && doomed.controller.queue?.inFlight === 1, { timeoutMs: 5000 });
      const successor = await controller(things, async () => {
        takenOverAt ||= performance.now();
      });
      successor.controller.start();
      await awaitCandidates(writer, 'things-controller', 2);
      expect(successor.controller.isLeader()).toBe(false);
      const killedAt = performance.now();
      backend.kill(doomed.store);
      await eventually('the successor to reconcile', () => takenOverAt > 0, { timeoutMs: 10_000 });
      expect(abortedAt).toBeGreaterThan(0);
      expect(abortedAt).toBeLessThan(takenOverAt);
      expect(abortedAt - killedAt).toBeLessThan(fastElection.ttlSeconds * 1000);
      expect(doomed.controller.isLeader()).toBe(false);
    });

    it.skipIf(name !== 'etcd')('a reconcile that ignores its abort does not keep a lost leadership: the leader metric drops at once, the term ends after the grace (counted), and the process leads again', async () => {
      backend = make();
      const things = new Things();
      const writer = await backend.client();
      await things.create(writer, 'stuck');
      const registry = new Registry();
      const seen: string[] = [];
      let release = () => {};
      let hung = false;
      const { controller: c, store } = await controller(
        things,
        (key) => {
          if (key === 'stuck' && !hung) {
            hung = true;
            // A call with no timeout that does not listen to the signal (what a hung client call looks like).
            return new Promise<undefined>((resolve) => (release = () => resolve(undefined)));
          }
          seen.push(key);
          return Promise.resolve(undefined);
        },
        { registry, abortGraceMs: 300 },
      );
      const gauge = async (metric: string) => Number(new RegExp(`${metric}\\{controller="things-controller"\\} (\\d+)`).exec(await registry.metrics())?.[1]);
      c.start();
      await eventually('the hung reconcile in flight', () => c.isLeader() && c.queue?.inFlight === 1, { timeoutMs: 5000 });
      expect(await gauge('lcm_controller_leader')).toBe(1);
      // etcd unreachable for a few seconds (the stores chaos test's compaction step): leadership is lost.
      backend.kill(store);
      await eventually('the leader metric to drop', async () => (await gauge('lcm_controller_leader')) === 0, { timeoutMs: 5000 });
      await eventually('the hung reconcile counted as abandoned', async () => (await gauge('lcm_controller_abandoned_reconciles')) === 1, { timeoutMs: 5000 });
      backend.revive?.(store);
      await things.create(writer, 'after');
      // Before the bound, lead() waited for the hung reconcile for good: no campaign, no new term.
      await eventually('the process to lead again and reconcile', () => seen.includes('after') && seen.includes('stuck'), { timeoutMs: 15_000 });
      expect(await gauge('lcm_controller_leader')).toBe(1);
      release();
      await eventually('the abandoned reconcile to be gone once it returns', async () => (await gauge('lcm_controller_abandoned_reconciles')) === 0, { timeoutMs: 5000 });
    });

    it('serves /healthz, /readyz and /metrics with reconcile outcomes, latency and leader status', async () => {
      backend = make();
      const things = new Things();
      const writer = await backend.client();
      await things.create(writer, 'ok');
      const registry = new Registry();
      let failed = false;
      const { controller: c } = await controller(
        things,
        async (key) => {
          if (key === 'bad' && !failed) {
            failed = true;
            throw new Error('once');
          }
        },
        { registry, rateLimit: { baseDelayMs: 10 } },
      );
      const ops = await serveControllerOps(0, [c], registry);
      closers.push(() => ops.close());
      c.start();
      await things.create(writer, 'bad');
      await eventually('metrics', async () => /result="error"/.test(await registry.metrics()) && /result="success"\} 2/.test(await registry.metrics()), { timeoutMs: 5000 });
      expect((await fetch(`${ops.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${ops.url}/readyz`);
      expect(ready.status).toBe(200);
      const metrics = await (await fetch(`${ops.url}/metrics`)).text();
      expect(metrics).toMatch(/lcm_controller_leader\{controller="things-controller"\} 1/);
      expect(metrics).toMatch(/lcm_controller_reconcile_total\{controller="things-controller",result="success"\} 2/);
      expect(metrics).toMatch(/lcm_controller_reconcile_total\{controller="things-controller",result="error"\} 1/);
      expect(metrics).toMatch(/lcm_controller_reconcile_time_seconds_count\{controller="things-controller"\} 3/);
      expect(metrics).toMatch(/lcm_workqueue_adds_total\{name="things-controller"\}/);
      expect(metrics).toMatch(/lcm_informer_watch_connected\{controller="things-controller",informer="things"\} 1/);
      await c.stop();
      expect(await registry.metrics()).toMatch(/lcm_controller_leader\{controller="things-controller"\} 0/);
    });

    it('a graceful stop drains the queued work, then gives up leadership at once', async () => {
      backend = make();
      const things = new Things();
      const writer = await backend.client();
      const ids = Array.from({ length: 8 }, (_, i) => `k${i}`);
      for (const id of ids) await things.create(writer, id);
      const done: string[] = [];
      let started = 0;
      const { controller: c } = await controller(
        things,
        async (key) => {
          started++;
          await new Promise((r) => setTimeout(r, 30));
          done.push(key);
        },
        { concurrency: 2 },
      );
      c.start();
      await eventually('work to start', () => started > 0, { timeoutMs: 5000 });
      await c.stop();
      expect(done.sort()).toEqual(ids);
      expect(c.isLeader()).toBe(false);
      const other = await backend.client();
      expect(await other.election('things-controller', 'observer', fastElection).leader()).toBeUndefined();
    });
  });
}

describe('Controller without leader election', () => {
  it('runs at once and stops cleanly', async () => {
    const cluster = new MemoryCoordinationCluster();
    const store = cluster.client();
    const things = new Things();
    await things.create(store, 'solo');
    const seen: string[] = [];
    const c = new Controller({ name: 'solo', store, reconcile: async (k) => void seen.push(k), watches: [{ source: things.source(), keysFor: (k) => [k, `${k}-related`] }], leaderElection: false });
    c.start();
    await eventually('both keys', () => seen.length === 2, { timeoutMs: 2000 });
    expect(seen.sort()).toEqual(['solo', 'solo-related']);
    expect(c.isLeader()).toBe(true);
    await c.stop();
    expect(c.isLeader()).toBe(false);
    await store.close();
    cluster.close();
  });
});

describe('Controller: what keysFor is told', () => {
  /** Things with a colour; the informer watches the red ones and reports the others as having left. */
  const colouredSource = (): InformerSource<{ id: string; colour: string }> => ({
    name: 'red-things',
    prefix: '/lcm/coloured/',
    list: async () => [],
    keyOf: (t) => t.id,
    decode: (event: WatchEvent) => {
      const id = event.key.slice('/lcm/coloured/'.length);
      if (event.type === 'delete') return { key: id, object: null };
      const thing = JSON.parse(event.kv.value) as { id: string; colour: string };
      return thing.colour === 'red' ? { key: id, object: thing } : { key: id, object: null, left: thing };
    },
  });

  it('tells an add, an update, a leaving object (with its new state), one never held and a real deletion apart', async () => {
    const cluster = new MemoryCoordinationCluster();
    const store = cluster.client();
    const changes: string[] = [];
    const c = new Controller({
      name: 'colours',
      store,
      reconcile: async () => undefined,
      watches: [
        {
          source: colouredSource(),
          keysFor: (key, object, change) => {
            const state = (t: { colour: string } | undefined) => t?.colour ?? '-';
            changes.push(`${change.kind} ${key} ${state(change.previous)}->${state(change.current)} (object ${state(object)})`);
            return [];
          },
        },
      ],
      leaderElection: false,
      resyncPeriodMs: 0,
    });
    c.start();
    await eventually('the informer to sync', async () => (await c.readiness()).length === 0, { timeoutMs: 2000 });
    const put = (id: string, colour: string) => store.put(`/lcm/coloured/${id}`, JSON.stringify({ id, colour }));
    await put('a', 'red');
    await put('a', 'red');
    await put('a', 'blue');
    await put('b', 'green');
    await put('c', 'red');
    await store.delete('/lcm/coloured/c');
    await store.delete('/lcm/coloured/b');
    await eventually('every change', () => changes.length === 7, { timeoutMs: 2000 });
    expect(changes).toEqual([
      'add a -->red (object red)',
      'update a red->red (object red)',
      'delete a red->blue (object red)',
      'delete b -->green (object -)',
      'add c -->red (object red)',
      'delete c red->- (object red)',
      'delete b -->- (object -)',
    ]);
    await c.stop();
    await store.close();
    cluster.close();
  });

  it('coalesceMs: the changes of a burst make one reconcile of a shared key', async () => {
    const cluster = new MemoryCoordinationCluster();
    const store = cluster.client();
    const things = new Things();
    const reconciled: string[] = [];
    const c = new Controller({
      name: 'coalesced',
      store,
      reconcile: async (k) => void reconciled.push(k),
      watches: [{ source: things.source(), keysFor: () => ['all'], coalesceMs: 50 }],
      leaderElection: false,
      resyncPeriodMs: 0,
    });
    c.start();
    await eventually('the informer to sync', async () => (await c.readiness()).length === 0, { timeoutMs: 2000 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => things.create(store, `t${i}`)));
    await eventually('the reconcile', () => reconciled.length >= 1, { timeoutMs: 2000 });
    // Positive signal first (one reconcile happened); then no second one follows the same burst.
    await new Promise((r) => setTimeout(r, 150));
    expect(reconciled).toEqual(['all']);
    await c.stop();
    await store.close();
    cluster.close();
  });
});
