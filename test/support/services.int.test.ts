import { Etcd3 } from 'etcd3';
import { MongoClient } from 'mongodb';
import { describe, expect, inject, it } from 'vitest';

describe('test services', () => {
  it('serves MongoDB wire protocol through the official driver', async () => {
    const client = await MongoClient.connect(inject('mongoUri'));
    try {
      const col = client.db(`svc_${process.pid}`).collection<{ _id: string; n: number }>('probe');
      await col.insertOne({ _id: 'a', n: 1 });
      const r = await col.findOneAndUpdate({ _id: 'a', n: 1 }, { $inc: { n: 1 } }, { returnDocument: 'after' });
      expect(r?.n).toBe(2);
      await client.db(`svc_${process.pid}`).dropDatabase();
    } finally {
      await client.close();
    }
  });

  it('serves etcd through the etcd3 client', async () => {
    const etcd = new Etcd3({ hosts: inject('etcdEndpoint') });
    try {
      await etcd.put('/probe/a').value('1');
      expect(await etcd.get('/probe/a').string()).toBe('1');
      await etcd.delete().key('/probe/a');
    } finally {
      etcd.close();
    }
  });
});
