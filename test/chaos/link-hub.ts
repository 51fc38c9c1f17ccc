/**
 * The TCP proxies of test/chaos/links.ts, in a process of their own: the chaos run's own process blocks
 * its event loop at times (`spawnSync` of `lcm definitions apply`), and a proxy living there would stop
 * forwarding meanwhile — a cut nobody asked for, which deadlocks a CLI call waiting on a link the same
 * loop forwards. Driven over IPC by `startLinkHub` (links.ts): one request, one answer, by id.
 */
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

export type HubRequest =
  | { id: number; op: 'start'; host: string; port: number }
  | { id: number; op: 'cut' | 'blackhole'; proxies: number[] }
  | { id: number; op: 'restore'; proxies: number[]; strand?: boolean }
  | { id: number; op: 'stats'; proxies: number[] }
  | { id: number; op: 'close' };

export type HubAnswer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

const proxies: TcpProxy[] = [];

async function handle(m: HubRequest): Promise<unknown> {
  switch (m.op) {
    case 'start': {
      const proxy = await startTcpProxy({ host: m.host, port: m.port });
      proxies.push(proxy);
      return { proxy: proxies.length - 1, port: proxy.port };
    }
    case 'cut':
    case 'blackhole':
      for (const i of m.proxies) proxies[i]?.[m.op]();
      return null;
    case 'restore':
      for (const i of m.proxies) proxies[i]?.restore({ strand: m.strand ?? false });
      return null;
    case 'stats':
      return m.proxies.map((i) => ({ ...(proxies[i]?.stats() ?? {}), connections: proxies[i]?.connections() ?? 0 }));
    case 'close':
      await Promise.all(proxies.map((p) => p.close()));
      setImmediate(() => process.exit(0));
      return null;
  }
}

if (process.send) {
  process.on('message', (m: HubRequest) => {
    handle(m).then(
      (value) => process.send?.({ id: m.id, ok: true, value } satisfies HubAnswer),
      (e: unknown) => process.send?.({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies HubAnswer),
    );
  });
  // The parent gone (a crashed test run): no proxy outlives it.
  process.on('disconnect', () => process.exit(0));
}
