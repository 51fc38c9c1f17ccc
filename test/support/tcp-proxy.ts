/**
 * A TCP proxy for fault-injection tests: point a client at `proxy.url` instead of the server, then cut
 * the connection (`cut()`: every connection is reset and new ones are refused), or partition it
 * silently (`blackhole()`: connections stay open but no byte gets through, as when a network drops
 * packets), and `restore()` it.
 */
import net from 'node:net';

export type ProxyMode = 'forward' | 'cut' | 'blackhole';

export interface TcpProxy {
  /** The local port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** `http://127.0.0.1:<port>` (what an etcd client is given). */
  readonly url: string;
  readonly mode: ProxyMode;
  /** Reset every connection and refuse new ones until `restore()`. */
  cut(): void;
  /** Keep connections open but forward nothing (in either direction) until `restore()`. */
  blackhole(): void;
  /** Forward again. Connections that lost bytes while blackholed are reset (their streams are broken). */
  restore(): void;
  /** Open client connections. */
  connections(): number;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream?: net.Socket;
  /** Set once bytes were dropped: the pair cannot carry a valid stream any more. */
  tainted: boolean;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  let mode: ProxyMode = 'forward';
  const pairs = new Set<Pair>();

  const reset = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream?.resetAndDestroy();
  };

  const forward = (from: net.Socket, to: () => net.Socket | undefined, pair: Pair) => {
    from.on('data', (chunk: Buffer) => {
      const destination = to();
      if (mode !== 'forward' || !destination) {
        pair.tainted = true;
        return;
      }
      if (!destination.write(chunk)) {
        from.pause();
        destination.once('drain', () => from.resume());
      }
    });
  };

  const server = net.createServer((client) => {
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, tainted: false };
    pairs.add(pair);
    client.on('error', () => reset(pair));
    client.on('close', () => reset(pair));
    const connectUpstream = () => {
      const upstream = net.connect(target.port, host);
      pair.upstream = upstream;
      upstream.on('error', () => reset(pair));
      upstream.on('close', () => reset(pair));
      forward(upstream, () => client, pair);
    };
    forward(client, () => pair.upstream, pair);
    if (mode === 'forward') connectUpstream();
    else pair.tainted = true;
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    cut() {
      mode = 'cut';
      for (const pair of [...pairs]) reset(pair);
    },
    blackhole() {
      mode = 'blackhole';
    },
    restore() {
      if (mode === 'blackhole') for (const pair of [...pairs]) if (pair.tainted || !pair.upstream) reset(pair);
      mode = 'forward';
    },
    connections: () => pairs.size,
    close() {
      for (const pair of [...pairs]) reset(pair);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
