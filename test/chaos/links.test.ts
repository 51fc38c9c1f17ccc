/**
 * The pieces of the link-cut chaos that must not silently change: the schedule covers every pair in
 * both modes over two passes, and a blackhole restored with `strand` leaves its connections silent until
 * the client itself leaves (what tells a client with a timeout from one that hangs).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { cutSchedule, roleOf } from './links.ts';

describe('cutSchedule', () => {
  it('covers every pair once a pass, and both modes over two passes', () => {
    const pairs = ['a→b', 'a→c', 'b→c', 'c→etcd', 'd→mongo'];
    const it = cutSchedule(pairs, ['cut', 'blackhole']);
    const first = Array.from({ length: 5 }, () => it.next().value as { pair: string; mode: string });
    const second = Array.from({ length: 5 }, () => it.next().value as { pair: string; mode: string });
    expect(first.map((s) => s.pair).sort()).toEqual(pairs);
    expect(second.map((s) => s.pair).sort()).toEqual(pairs);
    for (const p of pairs) {
      expect(new Set([...first, ...second].filter((s) => s.pair === p).map((s) => s.mode))).toEqual(new Set(['cut', 'blackhole']));
    }
  });

  it('names a replica by its role', () => {
    expect(roleOf('lablet-controller-2')).toBe('lablet-controller');
    expect(roleOf('score-reports')).toBe('score-reports');
  });
});

describe('tcp proxy: stranded connections', () => {
  let server: net.Server | undefined;
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });

  async function echo(): Promise<number> {
    server = net.createServer((s) => {
      s.on('error', () => {}); // the proxy resets connections on purpose
      s.pipe(s);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  }
  const connect = (port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.on('error', () => {}); // resets are what the tests cause
        resolve(s);
      });
      s.once('error', reject);
    });
  const reply = (s: net.Socket, text: string, ms: number) =>
    new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      s.once('data', (d) => {
        clearTimeout(timer);
        resolve(d.toString());
      });
      s.write(text);
    });

  it('keeps a blackholed connection silent after a stranding restore, forwards new ones, and counts the client leaving', async () => {
    proxy = await startTcpProxy({ port: await echo() });
    const old = await connect(proxy.port);
    expect(await reply(old, 'a', 1000)).toBe('a');
    proxy.blackhole();
    expect(await reply(old, 'b', 200)).toBeUndefined();
    proxy.restore({ strand: true });
    expect(proxy.stats().strandedOpen).toBe(1);
    expect(await reply(old, 'c', 300)).toBeUndefined(); // no reset, no answer: half-open
    expect(old.destroyed).toBe(false);
    const fresh = await connect(proxy.port);
    expect(await reply(fresh, 'd', 1000)).toBe('d');
    proxy.cut(); // a cut does not reach a stranded connection either
    expect(old.destroyed).toBe(false);
    old.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.stats().strandedOpen).toBe(0);
    expect(proxy.stats().strandedClosedAfterMs).toHaveLength(1);
  });

  it('resets blackholed connections on a plain restore (the default)', async () => {
    proxy = await startTcpProxy({ port: await echo() });
    const old = await connect(proxy.port);
    const closed = new Promise<void>((r) => old.once('close', () => r()));
    old.on('error', () => {});
    proxy.blackhole();
    old.write('x');
    await new Promise((r) => setTimeout(r, 50));
    proxy.restore();
    await closed;
    expect(proxy.stats().strandedClosedAfterMs).toHaveLength(0);
  });
});
