import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpBalancer, startTcpBalancerProcess, type TcpBalancer } from './tcp-balancer.ts';

/** A server that answers every connection with its name and closes it. */
async function named(name: string): Promise<net.Server & { port: number }> {
  const server = net.createServer((s) => s.end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port });
}

const ask = (port: number) =>
  new Promise<string>((resolve, reject) => {
    let out = '';
    const s = net.connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });

describe('startTcpBalancer', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('sends connections to the targets in turn and skips a target that refuses', async () => {
    const a = await named('a');
    const b = await named('b');
    cleanups.push(() => new Promise((r) => a.close(() => r())));
    const balancer: TcpBalancer = await startTcpBalancer([{ port: a.port }, { port: b.port }]);
    cleanups.push(() => balancer.close());
    expect([await ask(balancer.port), await ask(balancer.port), await ask(balancer.port), await ask(balancer.port)]).toEqual(['a', 'b', 'a', 'b']);
    expect(await balancer.forwarded()).toEqual([2, 2]);
    await new Promise<void>((r) => b.close(() => r()));
    expect([await ask(balancer.port), await ask(balancer.port)]).toEqual(['a', 'a']);
    expect(await balancer.forwarded()).toEqual([4, 2]);
  });

  it('runs in a child process of its own', async () => {
    const a = await named('a');
    const b = await named('b');
    cleanups.push(() => new Promise((r) => a.close(() => r())), () => new Promise((r) => b.close(() => r())));
    const balancer = await startTcpBalancerProcess([{ port: a.port }, { port: b.port }]);
    cleanups.unshift(() => balancer.close());
    expect([await ask(balancer.port), await ask(balancer.port), await ask(balancer.port)]).toEqual(['a', 'b', 'a']);
    expect(await balancer.forwarded()).toEqual([2, 1]);
  });
});
