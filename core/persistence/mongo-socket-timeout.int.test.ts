/**
 * A MongoDB connection whose peer vanishes (the link blackholed, its connections then left half-open:
 * no reset, no answer) must give up the operation on it after the socket timeout, not hold it forever —
 * the chaos run's TCP cuts wedged subgraph writes that way before `socketTimeoutMS` was set.
 */
import { afterEach, describe, expect, it, inject } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.ts';
import { MongoStorage } from './mongo-document-store.ts';
import type { StoredDocument } from './document-store.ts';

describe('MongoStorage on a connection whose peer vanished', () => {
  let proxy: TcpProxy | undefined;
  let storage: MongoStorage | undefined;
  afterEach(async () => {
    proxy?.restore();
    await storage?.dropDatabase().catch(() => {});
    await storage?.close().catch(() => {});
    await proxy?.close();
  });

  it('settles the operation after the socket timeout instead of waiting forever', { timeout: 30_000 }, async () => {
    const target = new URL(inject('mongoUri'));
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const uri = inject('mongoUri').replace(`${target.hostname}:${target.port}`, `127.0.0.1:${proxy.port}`);
    storage = await MongoStorage.connect(uri, `socket_timeout_${process.pid}_${Date.now()}`, { socketTimeoutMs: 1500 });
    const docs = storage.collection<StoredDocument & { n: number }>({ name: 'docs', indexes: [] });
    await docs.insert({ id: 'a', revision: 1, n: 1 } as StoredDocument & { n: number });

    proxy.blackhole();
    const started = Date.now();
    const pending = docs.get('a').then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 300));
    proxy.restore({ strand: true }); // the request's bytes are gone and its connection stays silent
    // Settled (the driver retries a read once on a new connection, so it may well be answered) and
    // soon: without a socket timeout it waits on the silent connection for ever.
    const outcome = await Promise.race([pending, new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
    expect(outcome).not.toBe('still waiting');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(proxy.stats().strandedClosedAfterMs.length).toBeGreaterThan(0); // the client left the silent connection
    // New connections work: the store recovers by itself.
    expect((await docs.get('a'))?.id).toBe('a');
  });
});
