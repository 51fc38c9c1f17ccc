/**
 * Several "replicas" of one subgraph (each its own MongoStorage, so its own connection pool and its own
 * in-process replace queue) replacing one document at one revision at once, on FerretDB and etcd: with
 * `writeLocks` exactly one wins each round, the others get CONFLICT (docs/adr/0015-atomic-test-store.md).
 */
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { EtcdCoordinationStore } from '../adapters/etcd/etcd-coordination.ts';
import { MongoStorage } from './mongo-document-store.ts';
import { LeaseWriteLocks } from './write-locks.ts';
import type { DocumentStore, StoredDocument } from './document-store.ts';

interface Doc extends StoredDocument {
  writer: number;
}

const REPLICAS = 4;
const ROUNDS = 15;

describe('LeaseWriteLocks on FerretDB and etcd', () => {
  const dbName = `locks_${process.pid}_${Date.now()}`;
  const namespace = `/test-locks-${process.pid}-${Date.now()}`;
  const storages: MongoStorage[] = [];
  const coordinations: EtcdCoordinationStore[] = [];
  const stores: DocumentStore<Doc>[] = [];

  beforeAll(async () => {
    for (let i = 0; i < REPLICAS; i++) {
      const coordination = new EtcdCoordinationStore({ endpoints: [inject('etcdEndpoint')], namespace });
      coordinations.push(coordination);
      const storage = await MongoStorage.connect(inject('mongoUri'), dbName, { writeLocks: new LeaseWriteLocks(coordination) });
      storages.push(storage);
      stores.push(storage.collection<Doc>({ name: 'race', indexes: [] }));
    }
  });

  afterAll(async () => {
    await storages[0]?.dropDatabase().catch(() => {});
    await Promise.all([...storages.map((s) => s.close()), ...coordinations.map((c) => c.close())]);
  });

  it('lets exactly one replica win each revision', { timeout: 60_000 }, async () => {
    const first = stores[0] as DocumentStore<Doc>;
    await first.insert({ id: 'the-doc', revision: 1, writer: -1 });
    for (let round = 0; round < ROUNDS; round++) {
      const current = (await first.get('the-doc')) as Doc;
      const results = await Promise.allSettled(
        stores.map((s, i) => s.replace({ id: 'the-doc', revision: current.revision + 1, writer: i }, current.revision)),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      for (const r of lost) expect(r.reason).toMatchObject({ code: 'CONFLICT' });
      expect(((await first.get('the-doc')) as Doc).revision).toBe(current.revision + 1);
    }
    expect((await coordinations[0]?.list('/lcm/locks/'))?.items).toEqual([]);
  });
});
