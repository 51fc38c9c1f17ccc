import { describe, expect, it } from 'vitest';
import { MemoryCoordinationCluster } from '../adapters/memory/memory-coordination.ts';
import { LeaseWriteLocks } from './write-locks.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LeaseWriteLocks', () => {
  it('lets one holder of a key write at a time across processes, and different keys at once', async () => {
    const cluster = new MemoryCoordinationCluster();
    const processes = [new LeaseWriteLocks(cluster.client()), new LeaseWriteLocks(cluster.client()), new LeaseWriteLocks(cluster.client())];
    const inside = new Map<string, number>();
    let most = 0;
    let otherKeyOverlapped = false;
    const write = (key: string) => async () => {
      const n = (inside.get(key) ?? 0) + 1;
      inside.set(key, n);
      most = Math.max(most, n);
      if ((inside.get(key === 'a' ? 'b' : 'a') ?? 0) > 0) otherKeyOverlapped = true;
      await sleep(3);
      inside.set(key, (inside.get(key) ?? 1) - 1);
      return key;
    };
    const holds = Array.from({ length: 30 }, (_, i) => (processes[i % 3] as LeaseWriteLocks).hold(i % 2 ? 'a' : 'b', write(i % 2 ? 'a' : 'b')));
    expect(await Promise.all(holds)).toHaveLength(30);
    expect(most).toBe(1);
    expect(otherKeyOverlapped).toBe(true);
    // Every lock key was deleted by its holder.
    expect((await cluster.client().list('/lcm/locks/')).items).toEqual([]);
  });

  it('frees the lock of a holder that vanished without releasing it within the lease TTL', async () => {
    const cluster = new MemoryCoordinationCluster();
    const deadClient = cluster.client();
    const dead = new LeaseWriteLocks(deadClient, { ttlSeconds: 1 });
    // The holder is cut off while it writes: its delete never reaches the store (as after kill -9).
    await dead.hold('workers/w1', async () => {
      deadClient.disconnect();
    });
    expect((await cluster.client().list('/lcm/locks/')).items).toHaveLength(1);
    const started = performance.now();
    const other = new LeaseWriteLocks(cluster.client(), { ttlSeconds: 1 });
    expect(await other.hold('workers/w1', async () => 'written')).toBe('written');
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThan(200);
    expect(waited).toBeLessThan(2500);
  });

  it('gives up with CONFLICT when the key stays held past the TTL and a margin', async () => {
    const cluster = new MemoryCoordinationCluster();
    const store = cluster.client();
    // A lock key on a kept-alive lease that nobody releases: never frees.
    const lease = await store.grantLease(10);
    await store.put('/lcm/locks/documents/sessions/s1', 'someone', { lease: lease.id });
    const locks = new LeaseWriteLocks(cluster.client(), { ttlSeconds: 1, waitMs: 500 });
    await expect(locks.hold('sessions/s1', async () => 'never')).rejects.toMatchObject({ code: 'CONFLICT' });
    await lease.revoke();
    await store.close();
  }, 15_000);
});
