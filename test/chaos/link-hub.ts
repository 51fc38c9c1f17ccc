/**
 * The TCP proxies of test/chaos/links.ts, in a process of their own: the chaos run's own process blocks
 * its event loop at times (`spawnSync` of `lcm definitions apply`), and a proxy living there would stop
 * forwarding meanwhile — a cut nobody asked for, which deadlocks a CLI call waiting on a link the same
 * loop forwards. Driven over IPC by links.ts: one request, one answer, by id.
 *
 * CML is not one address: each simulated instance serves its CML API on its own loopback address
 * (`127.46.x.y`) on one port, and a controller reaches `<worker address>:<LCM_CML_PORT>`. A proxy
 * started with `followEc2` therefore listens on one port on every instance address the EC2 simulator
 * reports (polled), forwarding each to the same address on the CML port; all of them cut together.
 */
import { startTcpProxy, type ProxyStats, type TcpProxy } from '../support/tcp-proxy.ts';

export type HubRequest =
  | { id: number; op: 'start'; host: string; port: number; followEc2?: string }
  | { id: number; op: 'cut' | 'blackhole'; proxies: number[] }
  | { id: number; op: 'restore'; proxies: number[]; strand?: boolean }
  | { id: number; op: 'stats'; proxies: number[] }
  | { id: number; op: 'close' };

export type HubAnswer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

type Member = Pick<TcpProxy, 'cut' | 'blackhole' | 'restore' | 'connections' | 'stats' | 'close'>;

const proxies: Member[] = [];

/**
 * Proxies listen below the kernel's ephemeral range (32768+ here): cluster.ts picks each process's port
 * from that range ahead of starting it, and a proxy given an ephemeral port in between took one of them
 * (a process then failed with "port in use"). A random port of 20000–32000, the next on a clash.
 */
async function startOnFreePort(start: (port: number) => Promise<TcpProxy>): Promise<TcpProxy> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      return await start(port);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 50) throw e;
    }
  }
}

/** One port on 127.0.0.1 and on every EC2 instance address, each forwarding to its address's CML port. */
async function followInstances(ec2Url: string, cmlPort: number): Promise<{ port: number; member: Member }> {
  const members = new Map<string, TcpProxy>();
  let mode: 'forward' | 'cut' | 'blackhole' = 'forward';
  const first = await startOnFreePort((p) => startTcpProxy({ host: '127.0.0.1', port: cmlPort }, { host: '127.0.0.1', port: p }));
  members.set('127.0.0.1', first);
  // The same port on the instance addresses: other addresses, so free there too.
  const port = first.port;
  const add = async (ip: string) => {
    if (members.has(ip)) return;
    const proxy = await startTcpProxy({ host: ip, port: cmlPort }, { host: ip, port });
    if (mode === 'cut') proxy.cut();
    if (mode === 'blackhole') proxy.blackhole();
    members.set(ip, proxy);
  };
  let closed = false;
  const poll = async () => {
    while (!closed) {
      try {
        const state = (await (await fetch(`${ec2Url}/_sim/state`, { signal: AbortSignal.timeout(2000) })).json()) as {
          instances: Array<{ privateIp?: string; publicIp?: string }>;
        };
        for (const i of state.instances) for (const ip of [i.privateIp, i.publicIp]) if (ip) await add(ip).catch(() => undefined);
      } catch {
        // the simulator busy or not up yet: next time
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  void poll();
  const all = () => [...members.values()];
  return {
    port,
    member: {
      cut: () => ((mode = 'cut'), all().forEach((p) => p.cut())),
      blackhole: () => ((mode = 'blackhole'), all().forEach((p) => p.blackhole())),
      restore: (o) => ((mode = 'forward'), all().forEach((p) => p.restore(o))),
      connections: () => all().reduce((s, p) => s + p.connections(), 0),
      stats: (): ProxyStats => {
        const st = all().map((p) => p.stats());
        return {
          accepted: st.reduce((s, x) => s + x.accepted, 0),
          forwardedBytes: st.reduce((s, x) => s + x.forwardedBytes, 0),
          lastForwardAt: Math.max(0, ...st.map((x) => x.lastForwardAt)),
          strandedOpen: st.reduce((s, x) => s + x.strandedOpen, 0),
          strandedClosedAfterMs: st.flatMap((x) => x.strandedClosedAfterMs),
        };
      },
      close: async () => {
        closed = true;
        await Promise.all(all().map((p) => p.close()));
      },
    },
  };
}

async function handle(m: HubRequest): Promise<unknown> {
  switch (m.op) {
    case 'start': {
      if (m.followEc2) {
        const { port, member } = await followInstances(m.followEc2, m.port);
        proxies.push(member);
        return { proxy: proxies.length - 1, port };
      }
      const proxy = await startOnFreePort((p) => startTcpProxy({ host: m.host, port: m.port }, { port: p }));
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
