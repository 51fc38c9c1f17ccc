/**
 * A round-robin TCP balancer for multi-replica tests: what a Kubernetes Service does for the replicas
 * of one role. Each new connection goes to the next target; a target that refuses the connection (a
 * replica killed or not yet started) is skipped for the next one, as a Service drops an unready
 * endpoint. Balancing is per connection (HTTP keep-alive and WebSockets stay on the replica they
 * reached), as with a Service's kube-proxy.
 *
 * `startTcpBalancerProcess` runs it in a child process: a test process that blocks its event loop
 * (a `spawnSync` of the CLI, say) must not stall the traffic between the processes it started.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export interface TcpBalancer {
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Connections forwarded so far to each target, in the order of `targets`. */
  forwarded(): Promise<number[]>;
  close(): Promise<void>;
}

export async function startTcpBalancer(targets: Array<{ host?: string; port: number }>): Promise<TcpBalancer> {
  if (targets.length === 0) throw new Error('a balancer needs at least one target');
  let next = 0;
  const counts = targets.map(() => 0);
  const open = new Set<net.Socket>();

  const server = net.createServer((client) => {
    client.pause();
    open.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => open.delete(client));
    const first = next;
    next = (next + 1) % targets.length;
    const attempt = (tried: number) => {
      if (client.destroyed) return;
      if (tried === targets.length) {
        client.resetAndDestroy();
        return;
      }
      const index = (first + tried) % targets.length;
      const target = targets[index] as { host?: string; port: number };
      const upstream = net.connect(target.port, target.host ?? '127.0.0.1');
      open.add(upstream);
      upstream.on('close', () => open.delete(upstream));
      upstream.once('error', () => attempt(tried + 1));
      upstream.once('connect', () => {
        counts[index] = (counts[index] ?? 0) + 1;
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    forwarded: () => Promise.resolve([...counts]),
    close() {
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const SELF = fileURLToPath(import.meta.url);
type FromChild = { port: number } | { forwarded: number[] };

/** The same balancer in a child process of its own (see the file's comment); it exits with its parent. */
export async function startTcpBalancerProcess(targets: Array<{ host?: string; port: number }>): Promise<TcpBalancer> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--serve', JSON.stringify(targets)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: FromChild) => ('port' in m ? resolve(m.port) : reject(new Error('balancer: unexpected first message'))));
    child.once('exit', (code) => reject(new Error(`balancer exited (${code}) before listening`)));
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    forwarded() {
      if (!child.connected) return Promise.resolve(targets.map(() => 0));
      return new Promise<number[]>((resolve) => {
        const on = (m: FromChild) => {
          if ('forwarded' in m) {
            child.off('message', on);
            resolve(m.forwarded);
          }
        };
        child.on('message', on);
        child.send('forwarded');
      });
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === SELF && process.argv[2] === '--serve') {
  const balancer = await startTcpBalancer(JSON.parse(process.argv[3] ?? '[]') as Array<{ host?: string; port: number }>);
  process.on('message', (m) => {
    if (m === 'forwarded') void balancer.forwarded().then((forwarded) => process.send?.({ forwarded }));
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => void balancer.close().then(() => process.exit(0)));
  process.send?.({ port: balancer.port });
}
