import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { EtcdCoordinationStore } from '../etcd/etcd-coordination.ts';
import { MemoryCoordinationStore } from '../memory/memory-coordination.ts';
import { openCoordinationStore } from './open.ts';

describe('openCoordinationStore', () => {
  it('is the in-memory store without etcd endpoints', async () => {
    const store = openCoordinationStore({ etcdEndpoints: [] });
    expect(store).toBeInstanceOf(MemoryCoordinationStore);
    await store.put('/lcm/x', '1');
    expect((await store.get('/lcm/x'))?.value).toBe('1');
    await store.close();
  });

  it('is etcd with endpoints (a trailing slash is fine)', async () => {
    const namespace = `/test-${randomUUID()}`;
    const store = openCoordinationStore({ etcdEndpoints: [`${inject('etcdEndpoint')}/`], namespace });
    expect(store).toBeInstanceOf(EtcdCoordinationStore);
    await store.put('/lcm/x', '2');
    expect((await store.get('/lcm/x'))?.value).toBe('2');
    await store.deletePrefix('/');
    await store.close();
  });
});
