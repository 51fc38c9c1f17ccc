/**
 * A TCP proxy for fault-injection tests: point a client at `proxy.url` instead of the server, then cut
 * the connection (`cut()`: every connection is reset and new ones are refused), or partition it
 * silently (`blackhole()`: connections stay open but no byte gets through, as when a network drops
 * packets), and `restore()` it. `restore({ strand: true })` leaves the connections that lost bytes open
 * and silent for good (half-open, as when the peer vanished without a FIN): only a client with a timeout
 * or keepalive ever leaves them, which is what `stats()` measures.
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
  /**
   * Forward again. Connections that lost bytes while blackholed are reset (their streams are broken),
   * or with `strand` kept open and silent until their client closes them (new connections forward).
   */
  restore(options?: { strand?: boolean }): void;
  /** Open client connections. */
  connections(): number;
  /** Counters since the start (traffic, and how long clients took to leave stranded connections). */
  stats(): ProxyStats;
  close(): Promise<void>;
}

export interface ProxyStats {
  /** Client connections accepted (refused ones while cut not counted). */
  accepted: number;
  /** Bytes forwarded, both directions. */
  forwardedBytes: number;
  /** `Date.now()` of the last byte forwarded (0: never). */
  lastForwardAt: number;
  /** Connections stranded by `restore({ strand: true })` and still open. */
  strandedOpen: number;
  /** For each stranded connection its client closed: milliseconds from stranding to the close. */
  strandedClosedAfterMs: number[];
}

interface Pair {
  client: net.Socket;
  upstream?: net.Socket;
  /** Set once bytes were dropped: the pair cannot carry a valid stream any more. */
  tainted: boolean;
  /** Set by `restore({ strand: true })`: never forwards again; when its client left. */
  strandedAt?: number;
}

/** Where the proxy listens: 127.0.0.1 on a free port unless told (e.g. another loopback address). */
export interface ListenOptions {
  host?: string;
  port?: number;
}

export async function startTcpProxy(target: { host?: string; port: number }, listen: ListenOptions = {}): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  let mode: ProxyMode = 'forward';
  const pairs = new Set<Pair>();
  const stats = { accepted: 0, forwardedBytes: 0, lastForwardAt: 0, strandedClosedAfterMs: [] as number[] };

  const reset = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream?.resetAndDestroy();
  };

  const forward = (from: net.Socket, to: () => net.Socket | undefined, pair: Pair) => {
    from.on('data', (chunk: Buffer) => {
      const destination = to();
      if (mode !== 'forward' || !destination || pair.strandedAt !== undefined) {
        pair.tainted = true;
        return;
      }
      stats.forwardedBytes += chunk.length;
      stats.lastForwardAt = Date.now();
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
    stats.accepted++;
    const clientGone = () => {
      if (pairs.has(pair) && pair.strandedAt !== undefined) stats.strandedClosedAfterMs.push(Date.now() - pair.strandedAt);
      reset(pair);
    };
    client.on('error', clientGone);
    client.on('close', clientGone);
    const connectUpstream = () => {
      const upstream = net.connect(target.port, host);
      pair.upstream = upstream;
      // A stranded client never hears of its server going away (nothing crosses a vanished link).
      const upstreamGone = () => (pair.strandedAt === undefined ? reset(pair) : upstream.destroy());
      upstream.on('error', upstreamGone);
      upstream.on('close', upstreamGone);
      forward(upstream, () => client, pair);
    };
    forward(client, () => pair.upstream, pair);
    if (mode === 'forward') connectUpstream();
    else pair.tainted = true;
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url: `http://${listen.host ?? '127.0.0.1'}:${port}`,
    get mode() {
      return mode;
    },
    cut() {
      mode = 'cut';
      // A stranded connection is on a path that vanished: no reset reaches its client either.
      for (const pair of [...pairs]) if (pair.strandedAt === undefined) reset(pair);
    },
    blackhole() {
      mode = 'blackhole';
    },
    restore(options = {}) {
      if (mode === 'blackhole') {
        const now = Date.now();
        for (const pair of [...pairs]) {
          if (!pair.tainted && pair.upstream) continue;
          if (options.strand) pair.strandedAt ??= now;
          else reset(pair);
        }
      }
      mode = 'forward';
    },
    connections: () => pairs.size,
    stats: () => ({
      accepted: stats.accepted,
      forwardedBytes: stats.forwardedBytes,
      lastForwardAt: stats.lastForwardAt,
      strandedOpen: [...pairs].filter((p) => p.strandedAt !== undefined).length,
      strandedClosedAfterMs: [...stats.strandedClosedAfterMs],
    }),
    close() {
      for (const pair of [...pairs]) reset(pair);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
