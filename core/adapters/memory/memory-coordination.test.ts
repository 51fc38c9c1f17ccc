import { afterEach, describe, expect, it } from 'vitest';
import { coordinationContract, WatchRecorder } from '../../../test/support/contracts/coordination.contract.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { MemoryCoordinationCluster, MemoryCoordinationStore } from './memory-coordination.ts';

function memoryHarness() {
  const cluster = new MemoryCoordinationCluster();
  const clients: MemoryCoordinationStore[] = [];
  return Promise.resolve({
    client: () => {
      const client = cluster.client();
      clients.push(client);
      return Promise.resolve(client);
    },
    compact: (revision: number) => Promise.resolve(cluster.compact(revision)),
    kill: (client: unknown) => Promise.resolve((client as MemoryCoordinationStore).disconnect()),
    close: async () => {
      for (const client of clients) await client.close();
      cluster.close();
    },
  });
}

coordinationContract('memory', memoryHarness);

describe('MemoryCoordinationStore', () => {
  const stores: MemoryCoordinationStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });
  const track = (store: MemoryCoordinationStore) => (stores.push(store), store);

  it('a watch that falls behind the bounded history is reset instead of losing events silently', async () => {
    const cluster = new MemoryCoordinationCluster({ historyLimit: 10 });
    const writer = track(cluster.client());
    const reader = track(cluster.client());
    const recorder = new WatchRecorder();
    await reader.watchPrefix('/lcm/h/', recorder);
    reader.disconnect();
    for (let i = 0; i < 25; i++) await writer.put(`/lcm/h/${i % 3}`, String(i));
    expect(cluster.compactRevision).toBeGreaterThan(1);
    reader.reconnect();
    await eventually('a reset', () => recorder.resets.length === 1, { timeoutMs: 2000 });
    expect(recorder.events).toHaveLength(0);
    expect(recorder.resets[0]!.items.map((kv) => kv.value)).toEqual(['24', '22', '23']);
  });

  it('a disconnected client fails calls with UNAVAILABLE and its watches resume without loss on reconnect', async () => {
    const cluster = new MemoryCoordinationCluster();
    const writer = track(cluster.client());
    const reader = track(cluster.client());
    const recorder = new WatchRecorder();
    const states: boolean[] = [];
    await reader.watchPrefix('/lcm/r/', { ...recorder, onEvent: (e) => recorder.onEvent(e), onConnectionChange: (c) => states.push(c) });
    await writer.put('/lcm/r/1', 'a');
    await eventually('the first event', () => recorder.events.length === 1);
    reader.disconnect();
    await expect(reader.get('/lcm/r/1')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // Positive signal first: a connected client's watch sees the writes made while the reader is away.
    const control = new WatchRecorder();
    await writer.watchPrefix('/lcm/r/', control);
    await writer.put('/lcm/r/2', 'b');
    await writer.delete('/lcm/r/1');
    await eventually('the writes to reach a connected watch', () => control.events.length === 2);
    expect(recorder.events).toHaveLength(1);
    reader.reconnect();
    await eventually('the events written while disconnected', () => recorder.events.length === 3);
    expect(recorder.keys()).toEqual(['put:/lcm/r/1', 'put:/lcm/r/2', 'delete:/lcm/r/1']);
    expect(states).toEqual([false, true]);
  });

  it('expireLease deletes the lease keys at once (test hook for a store-side expiry)', async () => {
    const store = track(new MemoryCoordinationStore());
    const lease = await store.grantLease(3);
    await store.put('/lcm/e/1', 'a', { lease: lease.id });
    store.cluster.expireLease(lease.id);
    expect(await store.get('/lcm/e/1')).toBeUndefined();
    // The holder learns it at its next renewal (a third of the TTL), as with etcd.
    await lease.lost;
    expect(lease.isAlive()).toBe(false);
  });
});
