import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Pool } from './http1-pool.ts';
import { SubgraphClient } from './subgraph-client.ts';

/**
 * The gateway's HTTP/1.1 client against a raw TCP server that answers exactly what each test needs
 * (framing, keep-alive, stale sockets, silence).
 */
interface RawServer {
  url: URL;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

type Responder = (request: string, socket: net.Socket, requestIndexOnSocket: number) => void;

/** A server that reads whole requests (head + content-length body) and lets `respond` answer. */
async function rawServer(respond: Responder): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, requests: [] as string[] };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    state.connections++;
    let buffer = '';
    let index = 0;
    socket.on('data', (data) => {
      buffer += data.toString('latin1');
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, headEnd))?.[1] ?? 0);
        if (buffer.length < headEnd + 4 + length) return;
        const request = buffer.slice(0, headEnd + 4 + length);
        buffer = buffer.slice(headEnd + 4 + length);
        state.requests.push(request);
        respond(request, socket, index++);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/graphql`),
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('Http1Pool', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((c) => c()));
  });

  const setup = async (respond: Responder, options: Partial<ConstructorParameters<typeof Http1Pool>[1]> = {}) => {
    const server = await rawServer(respond);
    const pool = new Http1Pool(server.url, { connections: 4, idleTimeoutMs: 4000, timeoutMs: 2000, ...options });
    cleanup.push(() => pool.close(), () => server.close());
    return { server, pool };
  };
  const post = (pool: Http1Pool, body = '{"query":"{a}"}', idempotent = true) =>
    pool.post('/graphql', 'content-type: application/json\r\nx-identity: alice\r\n', Buffer.from(body), idempotent);

  it('sends one well-formed request and reuses the kept-alive socket', async () => {
    const { server, pool } = await setup((_, socket) => socket.write(ok('{"data":{"a":1}}')));
    const first = await post(pool);
    const second = await post(pool, '{"query":"{b}"}');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('application/json');
    expect(second.body.toString()).toBe('{"data":{"a":1}}');
    expect(server.connections).toBe(1);
    expect(server.requests[0]).toMatch(/^POST \/graphql HTTP\/1\.1\r\n/);
    expect(server.requests[0]).toContain('x-identity: alice\r\n');
    expect(server.requests[1]!.endsWith('\r\n\r\n{"query":"{b}"}')).toBe(true);
  });

  it('reads chunked bodies, also when bytes arrive one at a time', async () => {
    const response =
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n' +
      '5\r\n{"dat\r\nb;ext=1\r\na":{"x":12}\r\n1\r\n}\r\n0\r\nx-trailer: 1\r\n\r\n';
    const { pool } = await setup((_, socket, i) => {
      if (i === 0) {
        socket.write(response);
      } else {
        const bytes = Buffer.from(response);
        let k = 0;
        const drip = () => {
          if (k < bytes.length) {
            socket.write(bytes.subarray(k, ++k));
            setImmediate(drip);
          }
        };
        drip();
      }
    });
    expect((await post(pool)).body.toString()).toBe('{"data":{"x":12}}');
    expect((await post(pool)).body.toString()).toBe('{"data":{"x":12}}');
  });

  it('opens a new socket after `connection: close`', async () => {
    const { server, pool } = await setup((_, socket) => {
      socket.end(ok('{}', 'connection: close\r\n'));
    });
    await post(pool);
    await post(pool);
    expect(server.connections).toBe(2);
  });

  it('resends a query once when a kept-alive socket was closed before answering, never a mutation', async () => {
    // Answers the first request on a socket, then drops the socket when a second one arrives.
    const { server, pool } = await setup((_, socket, i) => {
      if (i === 0) socket.write(ok('{"data":{}}'));
      else socket.destroy();
    });
    await post(pool);
    const retried = await post(pool, '{"query":"{again}"}', true);
    expect(retried.status).toBe(200);
    expect(server.connections).toBe(2);

    await expect(post(pool, '{"query":"mutation {m}"}', false)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('gives up on a silent subgraph after the timeout', async () => {
    const { pool } = await setup(() => {}, { timeoutMs: 100 });
    await expect(post(pool)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('caps the sockets and queues the other requests', async () => {
    const { server, pool } = await setup((_, socket) => setTimeout(() => socket.write(ok('{}')), 20), { connections: 2 });
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => post(pool)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(server.connections).toBe(2);
  });
});

describe('SubgraphClient', () => {
  it('shares identical queries in flight, each caller getting its own copy; never mutations', async () => {
    const server = await rawServer((_, socket) => setTimeout(() => socket.write(ok('{"data":{"n":{"v":1}}}')), 30));
    const client = new SubgraphClient('s', server.url.href);
    try {
      const [a, b] = await Promise.all([client.post('{"query":"{n{v}}"}', undefined, true), client.post('{"query":"{n{v}}"}', undefined, true)]);
      expect(a).toEqual({ data: { n: { v: 1 } } });
      expect(b).toEqual(a);
      expect(b.data).not.toBe(a.data);
      expect(server.requests).toHaveLength(1);

      await Promise.all([client.post('{"query":"mutation{m}"}', undefined, false), client.post('{"query":"mutation{m}"}', undefined, false)]);
      expect(server.requests).toHaveLength(3);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('turns HTTP errors into gateway errors like RemoteGraphQLDataSource', async () => {
    const server = await rawServer((_, socket) =>
      socket.write('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'),
    );
    const client = new SubgraphClient('s', server.url.href);
    try {
      const error = await client.post('{"query":"{a}"}').catch((e: unknown) => e);
      expect(error).toMatchObject({
        message: '401: Unauthorized',
        extensions: { code: 'UNAUTHENTICATED', response: { url: server.url.href, status: 401, statusText: 'Unauthorized', body: {} } },
      });
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('refuses forwarded headers that would break the request', async () => {
    const client = new SubgraphClient('s', 'http://127.0.0.1:9/graphql');
    await expect(client.post('{}', { 'x-evil': 'a\r\nx-injected: 1' })).rejects.toThrow(/invalid forwarded header value/);
    await expect(client.post('{}', { 'bad name': 'x' })).rejects.toThrow(/invalid forwarded header name/);
    await client.close();
  });
});
