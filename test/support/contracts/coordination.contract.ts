/**
 * The contract every `CoordinationStore` adapter is held to (DESIGN.md §7): one suite of vitest tests,
 * registered by `coordinationContract(name, makeHarness)` from each adapter's test file, so the etcd
 * adapter and the in-memory stand-in keep exactly the same semantics.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CoordinationKeys,
  isCoordinationError,
  type CoordinationStore,
  type KeyValue,
  type WatchEvent,
  type WatchHandlers,
} from '../../../core/ports/coordination.ts';
import { eventually } from '../eventually.ts';

/** What a test needs from an adapter: clients of one cluster, and the cluster-level test hooks. */
export interface CoordinationHarness {
  /** A new client of the same cluster (like another process). The harness closes it. */
  client(): Promise<CoordinationStore>;
  /** Discard the history before `revision`; watches that are behind must be reset. */
  compact(revision: number): Promise<void>;
  /**
   * Make a client vanish the way a crashed or partitioned process does: no revoke, no goodbye. Its
   * leases stop being renewed (and expire in the store after their TTL).
   */
  kill(client: CoordinationStore): Promise<void>;
  close(): Promise<void>;
}

/** Wait until `count` candidates have a key in election `name` (a campaign is registered and waiting). */
export async function awaitCandidates(store: CoordinationStore, name: string, count: number, timeoutMs = 5000): Promise<void> {
  await eventually(`${count} candidates in election ${name}`, async () => (await store.list(CoordinationKeys.election(name))).items.length === count, {
    timeoutMs,
  });
}

/** Records what a watch delivers. */
export class WatchRecorder implements WatchHandlers {
  readonly events: WatchEvent[] = [];
  readonly resets: { items: KeyValue[]; revision: number }[] = [];
  readonly errors: Error[] = [];
  onEvent(event: WatchEvent): void {
    this.events.push(event);
  }
  onReset(items: KeyValue[], revision: number): void {
    this.resets.push({ items, revision });
  }
  onError(error: Error): void {
    this.errors.push(error);
  }
  keys(): string[] {
    return this.events.map((e) => `${e.type}:${e.key}`);
  }
}

export function coordinationContract(name: string, makeHarness: () => Promise<CoordinationHarness>, options: { timeout?: number } = {}): void {
  const timeout = options.timeout ?? 20_000;

  describe(`CoordinationStore contract: ${name}`, { timeout }, () => {
    let harness: CoordinationHarness;
    let store: CoordinationStore;
    let root: string;

    beforeEach(async () => {
      harness = await makeHarness();
      store = await harness.client();
      root = `${CoordinationKeys.root}contract/${randomUUID()}/`;
    });

    afterEach(async () => {
      await harness.close();
    });

    describe('keys and revisions', () => {
      it('put, get and delete report revisions and versions like etcd', async () => {
        const key = `${root}a`;
        expect(await store.get(key)).toBeUndefined();
        const first = await store.put(key, 'one');
        const second = await store.put(key, 'two');
        expect(second.revision).toBeGreaterThan(first.revision);
        const kv = await store.get(key);
        expect(kv).toMatchObject({ key, value: 'two', createRevision: first.revision, modRevision: second.revision, version: 2 });
        expect(kv?.lease).toBeUndefined();
        const removed = await store.delete(key);
        expect(removed.deleted).toBe(true);
        expect(removed.revision).toBeGreaterThan(second.revision);
        expect(await store.get(key)).toBeUndefined();
        expect((await store.delete(key)).deleted).toBe(false);
        const again = await store.put(key, 'three');
        expect(await store.get(key)).toMatchObject({ createRevision: again.revision, version: 1 });
        expect(await store.revision()).toBeGreaterThanOrEqual(again.revision);
      });

      it('list returns the keys under a prefix in key order, with the revision they were read at', async () => {
        await store.put(`${root}b/2`, 'x');
        await store.put(`${root}b/1`, 'y');
        await store.put(`${root}b0`, 'not under b/');
        const last = await store.put(`${root}b/3`, 'z');
        const { items, revision } = await store.list(`${root}b/`);
        expect(items.map((kv) => kv.key)).toEqual([`${root}b/1`, `${root}b/2`, `${root}b/3`]);
        expect(items.map((kv) => kv.value)).toEqual(['y', 'x', 'z']);
        expect(revision).toBeGreaterThanOrEqual(last.revision);
        expect((await store.list(`${root}none/`)).items).toEqual([]);
      });

      it('deletePrefix deletes exactly the keys under the prefix', async () => {
        await store.put(`${root}c/1`, '1');
        await store.put(`${root}c/2`, '2');
        await store.put(`${root}c-other`, '3');
        const result = await store.deletePrefix(`${root}c/`);
        expect(result.deleted).toBe(2);
        expect((await store.list(`${root}c`)).items.map((kv) => kv.key)).toEqual([`${root}c-other`]);
        expect((await store.deletePrefix(`${root}c/`)).deleted).toBe(0);
      });

      it('a second client of the same cluster sees the same data', async () => {
        const other = await harness.client();
        await store.put(`${root}shared`, 'v');
        expect((await other.get(`${root}shared`))?.value).toBe('v');
      });
    });

    describe('transactions', () => {
      it('modRevision 0 means "must not exist": create-if-absent succeeds once', async () => {
        const key = `${root}t/create`;
        const first = await store.transaction([{ key, modRevision: 0 }], [{ type: 'put', key, value: 'mine' }]);
        expect(first.succeeded).toBe(true);
        const second = await store.transaction([{ key, modRevision: 0 }], [{ type: 'put', key, value: 'yours' }]);
        expect(second.succeeded).toBe(false);
        expect((await store.get(key))?.value).toBe('mine');
      });

      it('compare-and-swap on the mod revision: a stale writer loses and writes nothing', async () => {
        const slot = `${root}t/slot`;
        const other = `${root}t/other`;
        const { revision } = await store.put(slot, 'free');
        const winner = await store.transaction(
          [{ key: slot, modRevision: revision }],
          [
            { type: 'put', key: slot, value: 'taken-by-a' },
            { type: 'put', key: other, value: 'a' },
          ],
        );
        expect(winner.succeeded).toBe(true);
        const loser = await store.transaction(
          [{ key: slot, modRevision: revision }],
          [
            { type: 'put', key: slot, value: 'taken-by-b' },
            { type: 'delete', key: other },
          ],
        );
        expect(loser.succeeded).toBe(false);
        expect((await store.get(slot))?.value).toBe('taken-by-a');
        expect((await store.get(other))?.value).toBe('a');
        // All ops of the winning transaction happened at one revision.
        expect((await store.get(slot))?.modRevision).toBe(winner.revision);
        expect((await store.get(other))?.modRevision).toBe(winner.revision);
      });

      it('concurrent compare-and-swap increments never lose an update', async () => {
        const key = `${root}t/counter`;
        await store.put(key, '0');
        const clients = [store, await harness.client(), await harness.client()];
        const increment = async (client: CoordinationStore) => {
          for (;;) {
            const kv = await client.get(key);
            const next = String(Number(kv!.value) + 1);
            const result = await client.transaction([{ key, modRevision: kv!.modRevision }], [{ type: 'put', key, value: next }]);
            if (result.succeeded) return;
          }
        };
        await Promise.all(clients.flatMap((c) => Array.from({ length: 5 }, () => increment(c))));
        expect((await store.get(key))?.value).toBe('15');
      });
    });

    describe('watches', () => {
      it('delivers every change under the prefix, in revision order, once, with previous values', async () => {
        const recorder = new WatchRecorder();
        const watch = await store.watchPrefix(`${root}w/`, recorder);
        await store.put(`${root}w/a`, '1');
        await store.put(`${root}elsewhere`, 'ignored');
        await store.put(`${root}w/b`, '2');
        await store.put(`${root}w/a`, '3');
        const last = await store.delete(`${root}w/b`);
        await eventually('four events', () => recorder.events.length >= 4, { timeoutMs: 5000 });
        expect(recorder.keys()).toEqual([`put:${root}w/a`, `put:${root}w/b`, `put:${root}w/a`, `delete:${root}w/b`]);
        const revisions = recorder.events.map((e) => e.revision);
        expect([...revisions].sort((a, b) => a - b)).toEqual(revisions);
        expect(new Set(revisions).size).toBe(4);
        const update = recorder.events[2]!;
        expect(update.type === 'put' && update.kv.value).toBe('3');
        expect(update.prevKv?.value).toBe('1');
        expect(recorder.events[3]!.prevKv?.value).toBe('2');
        expect(recorder.events[3]!.revision).toBe(last.revision);
        await eventually('lastRevision to advance', () => watch.lastRevision >= last.revision, { timeoutMs: 2000 });
        await watch.close();
        // Positive signal first: a watch still open on the prefix gets the next change; the closed one does not.
        const control = new WatchRecorder();
        const open = await store.watchPrefix(`${root}w/`, control);
        await store.put(`${root}w/c`, 'after close');
        await eventually('the change after close to reach an open watch', () => control.keys().includes(`put:${root}w/c`), { timeoutMs: 5000 });
        expect(recorder.events).toHaveLength(4);
        await open.close();
      });

      it('replays history from a past revision, then continues live', async () => {
        const first = await store.put(`${root}h/1`, 'a');
        await store.put(`${root}h/2`, 'b');
        await store.delete(`${root}h/1`);
        const recorder = new WatchRecorder();
        const watch = await store.watchPrefix(`${root}h/`, recorder, { fromRevision: first.revision });
        await store.put(`${root}h/3`, 'c');
        await eventually('replayed and live events', () => recorder.events.length >= 4, { timeoutMs: 5000 });
        expect(recorder.keys()).toEqual([`put:${root}h/1`, `put:${root}h/2`, `delete:${root}h/1`, `put:${root}h/3`]);
        expect(recorder.events[0]!.revision).toBe(first.revision);
        expect(recorder.resets).toHaveLength(0);
        await watch.close();
      });

      it('delivers all events of a multi-key transaction with the same revision', async () => {
        const recorder = new WatchRecorder();
        const watch = await store.watchPrefix(`${root}m/`, recorder);
        const result = await store.transaction(
          [],
          ['x', 'y', 'z'].map((k) => ({ type: 'put' as const, key: `${root}m/${k}`, value: k })),
        );
        await eventually('three events', () => recorder.events.length >= 3, { timeoutMs: 5000 });
        expect(recorder.events.map((e) => e.revision)).toEqual([result.revision, result.revision, result.revision]);
        await watch.close();
      });

      it('keeps order and loses nothing under a burst of writes from several clients', async () => {
        const recorder = new WatchRecorder();
        const watch = await store.watchPrefix(`${root}burst/`, recorder);
        const writers = [store, await harness.client()];
        const perWriter = 60;
        await Promise.all(
          writers.map(async (client, w) => {
            for (let i = 0; i < perWriter; i++) await client.put(`${root}burst/${w}`, String(i));
          }),
        );
        await eventually('all burst events', () => recorder.events.length >= perWriter * 2, { timeoutMs: 10_000 });
        expect(recorder.events).toHaveLength(perWriter * 2);
        for (let w = 0; w < writers.length; w++) {
          const values = recorder.events.filter((e) => e.key === `${root}burst/${w}`).map((e) => (e.type === 'put' ? e.kv.value : ''));
          expect(values).toEqual(Array.from({ length: perWriter }, (_, i) => String(i)));
        }
        const revisions = recorder.events.map((e) => e.revision);
        for (let i = 1; i < revisions.length; i++) expect(revisions[i]).toBeGreaterThan(revisions[i - 1]!);
        await watch.close();
      });

      it('after compaction, a watch from an older revision is reset to the current state, then continues', async () => {
        const start = await store.put(`${root}k/1`, 'a');
        await store.put(`${root}k/2`, 'b');
        await store.delete(`${root}k/1`);
        const mid = await store.put(`${root}k/3`, 'c');
        await harness.compact(mid.revision);
        const recorder = new WatchRecorder();
        const watch = await store.watchPrefix(`${root}k/`, recorder, { fromRevision: start.revision });
        await eventually('a reset', () => recorder.resets.length === 1, { timeoutMs: 5000 });
        const reset = recorder.resets[0]!;
        expect(reset.items.map((kv) => [kv.key, kv.value])).toEqual([
          [`${root}k/2`, 'b'],
          [`${root}k/3`, 'c'],
        ]);
        expect(reset.revision).toBeGreaterThanOrEqual(mid.revision);
        expect(recorder.events).toHaveLength(0);
        const after = await store.put(`${root}k/4`, 'd');
        await eventually('the event after the reset', () => recorder.events.length === 1, { timeoutMs: 5000 });
        expect(recorder.events[0]).toMatchObject({ type: 'put', key: `${root}k/4`, revision: after.revision });
        expect(recorder.errors).toHaveLength(0);
        await watch.close();
      });

      it('a watch from a revision at the compaction point is not reset', async () => {
        await store.put(`${root}p/1`, 'a');
        const at = await store.put(`${root}p/2`, 'b');
        await harness.compact(at.revision);
        const recorder = new WatchRecorder();
        const watch = await store.watchPrefix(`${root}p/`, recorder, { fromRevision: at.revision });
        await eventually('the event at the compaction revision', () => recorder.events.length === 1, { timeoutMs: 5000 });
        expect(recorder.events[0]).toMatchObject({ key: `${root}p/2`, revision: at.revision });
        expect(recorder.resets).toHaveLength(0);
        await watch.close();
      });

      it('a second client sees the first client’s writes', async () => {
        const other = await harness.client();
        const recorder = new WatchRecorder();
        const watch = await other.watchPrefix(`${root}x/`, recorder);
        await store.put(`${root}x/1`, 'from the first client');
        await eventually('the other client’s event', () => recorder.events.length === 1, { timeoutMs: 5000 });
        await watch.close();
      });
    });

    describe('leases', () => {
      it('keys on a revoked lease are deleted, and the lease reports it is lost', async () => {
        const lease = await store.grantLease(5);
        expect(lease.isAlive()).toBe(true);
        expect(lease.ttlSeconds).toBe(5);
        await store.put(`${root}l/1`, 'a', { lease: lease.id });
        expect((await store.get(`${root}l/1`))?.lease).toBe(lease.id);
        const recorder = new WatchRecorder();
        const watch = await store.watchPrefix(`${root}l/`, recorder);
        await lease.revoke();
        await lease.lost;
        expect(lease.isAlive()).toBe(false);
        expect(await store.get(`${root}l/1`)).toBeUndefined();
        await eventually('the delete event', () => recorder.keys().includes(`delete:${root}l/1`), { timeoutMs: 5000 });
        await lease.revoke();
        await watch.close();
      });

      it('a kept-alive lease outlives its TTL', async () => {
        const lease = await store.grantLease(1);
        await store.put(`${root}l/kept`, 'a', { lease: lease.id });
        // Positive signal that the TTL has passed: a lease granted after it, with the same TTL but no
        // keep-alive, has expired with its key.
        const control = await store.grantLease(1, { keepAlive: false });
        await store.put(`${root}l/control`, 'a', { lease: control.id });
        await control.lost;
        await eventually('the control lease to expire', async () => (await store.get(`${root}l/control`)) === undefined, { timeoutMs: 8000 });
        expect(lease.isAlive()).toBe(true);
        expect((await store.get(`${root}l/kept`))?.value).toBe('a');
        await lease.revoke();
      });

      it('a lease without keep-alive expires after its TTL with its keys', async () => {
        const lease = await store.grantLease(1, { keepAlive: false });
        await store.put(`${root}l/short`, 'a', { lease: lease.id });
        await lease.lost;
        await eventually('the key to expire', async () => (await store.get(`${root}l/short`)) === undefined, { timeoutMs: 5000 });
      });

      it('a put on a lost lease fails with LEASE_LOST', async () => {
        const lease = await store.grantLease(5);
        await lease.revoke();
        await expect(store.put(`${root}l/late`, 'a', { lease: lease.id })).rejects.toSatisfy((e) => isCoordinationError(e, 'LEASE_LOST'));
      });

      it('the lease of a vanished client is lost on its side before the store expires it', async () => {
        const doomed = await harness.client();
        const lease = await doomed.grantLease(2);
        await doomed.put(`${root}l/doomed`, 'a', { lease: lease.id });
        let lostAt = 0;
        void lease.lost.then(() => (lostAt = performance.now()));
        const killedAt = performance.now();
        await harness.kill(doomed);
        await eventually('the key to expire', async () => (await store.get(`${root}l/doomed`)) === undefined, { timeoutMs: 8000 });
        const goneAt = performance.now();
        expect(lostAt).toBeGreaterThan(0);
        expect(lostAt).toBeLessThan(goneAt);
        expect(lostAt - killedAt).toBeLessThan(2000);
      });
    });

    describe('leader election', () => {
      const ttlSeconds = 2;

      it('a lone candidate leads; resign frees the slot and aborts its leadership signal', async () => {
        const election = store.election(`solo-${randomUUID()}`, 'candidate-a', { ttlSeconds });
        expect(election.isLeader()).toBe(false);
        const leadership = await election.campaign();
        expect(election.isLeader()).toBe(true);
        expect(leadership.aborted).toBe(false);
        expect(await election.leader()).toBe('candidate-a');
        expect(await election.campaign()).toBe(leadership);
        await election.resign();
        expect(leadership.aborted).toBe(true);
        expect(election.isLeader()).toBe(false);
        expect(await election.leader()).toBeUndefined();
      });

      it('the next candidate takes over when the leader resigns, in campaign order', async () => {
        const name = `queue-${randomUUID()}`;
        const clients = [store, await harness.client(), await harness.client()];
        const elections = clients.map((c, i) => c.election(name, `c${i}`, { ttlSeconds }));
        const first = await elections[0]!.campaign();
        const second = elections[1]!.campaign();
        await awaitCandidates(store, name, 2);
        const third = elections[2]!.campaign();
        await awaitCandidates(store, name, 3);
        expect(elections.map((e) => e.isLeader())).toEqual([true, false, false]);
        await elections[0]!.resign();
        expect(first.aborted).toBe(true);
        const secondSignal = await second;
        expect(elections[1]!.isLeader()).toBe(true);
        expect(await elections[2]!.leader()).toBe('c1');
        await elections[1]!.resign();
        expect(secondSignal.aborted).toBe(true);
        await third;
        expect(elections[2]!.isLeader()).toBe(true);
        await elections[2]!.resign();
      });

      it('a campaign can be aborted while waiting, and then holds no slot', async () => {
        const name = `abort-${randomUUID()}`;
        const leader = store.election(name, 'leader', { ttlSeconds });
        await leader.campaign();
        const other = (await harness.client()).election(name, 'waiting', { ttlSeconds });
        const abort = new AbortController();
        const waiting = other.campaign(abort.signal);
        await awaitCandidates(store, name, 2);
        abort.abort('test');
        await expect(waiting).rejects.toSatisfy((e) => isCoordinationError(e, 'ABORTED'));
        await leader.resign();
        await eventually('no leader', async () => (await leader.leader()) === undefined, { timeoutMs: 3000 });
      });

      it('when the leader vanishes, it stops acting before another candidate takes over', async () => {
        const name = `takeover-${randomUUID()}`;
        const doomedClient = await harness.client();
        const doomed = doomedClient.election(name, 'doomed', { ttlSeconds });
        const successor = (await harness.client()).election(name, 'successor', { ttlSeconds });
        const leadership = await doomed.campaign();
        let abortedAt = 0;
        leadership.addEventListener('abort', () => (abortedAt = performance.now()));
        const next = successor.campaign();
        await awaitCandidates(store, name, 2);
        expect(successor.isLeader()).toBe(false);
        const killedAt = performance.now();
        await harness.kill(doomedClient);
        const nextSignal = await next;
        const electedAt = performance.now();
        expect(abortedAt).toBeGreaterThan(0);
        expect(abortedAt).toBeLessThan(electedAt);
        // Within the lease TTL (plus the store's expiry granularity and the watch round-trip).
        expect(electedAt - killedAt).toBeLessThan(ttlSeconds * 1000 + 2500);
        expect(nextSignal.aborted).toBe(false);
        await successor.resign();
      });

      it('under contention at most one candidate leads at any moment', async () => {
        const name = `contention-${randomUUID()}`;
        const clients = await Promise.all(Array.from({ length: 4 }, () => harness.client()));
        const terms: { who: number; from: number; to: number }[] = [];
        let violations = 0;
        const leaders = new Set<number>();
        const stop = new AbortController();
        const run = async (who: number) => {
          const election = clients[who]!.election(name, `c${who}`, { ttlSeconds });
          while (!stop.signal.aborted) {
            let leadership: AbortSignal;
            try {
              leadership = await election.campaign(stop.signal);
            } catch {
              return;
            }
            leaders.add(who);
            if (leaders.size > 1) violations++;
            const from = performance.now();
            // Lead briefly, then resign (or lose it).
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 30 + Math.random() * 50);
              leadership.addEventListener('abort', () => {
                clearTimeout(t);
                resolve();
              });
            });
            leaders.delete(who);
            terms.push({ who, from, to: performance.now() });
            await election.resign();
          }
        };
        const runs = clients.map((_, i) => run(i));
        // Contention until enough terms went by, with more than one candidate winning.
        await eventually('terms of several candidates', () => terms.length >= 20 && new Set(terms.map((t) => t.who)).size > 1, {
          timeoutMs: 15_000,
        });
        stop.abort('done');
        await Promise.all(runs);
        expect(violations).toBe(0);
        expect(new Set(terms.map((t) => t.who)).size).toBeGreaterThan(1);
        const sorted = [...terms].sort((a, b) => a.from - b.from);
        for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.from).toBeGreaterThanOrEqual(sorted[i - 1]!.to);
      });
    });

    describe('closing', () => {
      it('a closed client rejects calls with CLOSED', async () => {
        const client = await harness.client();
        await client.close();
        await expect(client.get(`${root}any`)).rejects.toSatisfy((e) => isCoordinationError(e, 'CLOSED'));
      });

      it('closing a client revokes its leases at once', async () => {
        const client = await harness.client();
        const lease = await client.grantLease(30);
        await client.put(`${root}bye`, 'a', { lease: lease.id });
        await client.close();
        expect(await store.get(`${root}bye`)).toBeUndefined();
      });
    });
  });
}
