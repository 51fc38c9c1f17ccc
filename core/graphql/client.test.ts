import http from 'node:http';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { buildSchema, parse } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { listen, type RunningServer } from '../ops/ops-server.ts';
import { GraphQLClient, GraphQLRequestError } from './client.ts';

const schema = buildSchema(`type Query { hello: String } type Subscription { tick: Int }`);
const tickField = schema.getSubscriptionType()?.getFields().tick;
if (tickField) {
  tickField.subscribe = async function* () {
    for (let i = 1; ; i++) {
      yield { tick: i };
      await new Promise((r) => setTimeout(r, 20));
    }
  };
}

/** A GraphQL server over HTTP and graphql-ws that answers 503 to the first `failFirst` HTTP requests. */
async function startServer(port = 0, failFirst = 0) {
  let requests = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests += 1;
      if (requests <= failFirst) {
        res.writeHead(503).end();
        return;
      }
      const { query } = JSON.parse(body) as { query: string };
      const q = query.includes('fail') ? { data: { fail: null }, errors: [{ message: 'boom', extensions: { code: 'NOT_FOUND' } }] } : { data: { hello: 'world' } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(q));
    });
  });
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const cleanup = useServer({ schema }, wss);
  const running: RunningServer = await listen(server, port);
  return {
    running,
    requests: () => requests,
    async close() {
      await cleanup.dispose();
      wss.close();
      await running.close();
    },
  };
}

const HELLO = parse('query Hello { hello }') as TypedDocumentNode<{ hello: string }, Record<string, never>>;
const FAIL = parse('query Fail { fail }') as TypedDocumentNode<{ fail: string | null }, Record<string, never>>;
const TICK = parse('subscription Tick { tick }') as TypedDocumentNode<{ tick: number }, Record<string, never>>;

describe('GraphQLClient', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (closers.length) await closers.pop()?.();
  });

  it('retries transient 503s and succeeds', async () => {
    const s = await startServer(0, 2);
    closers.push(() => s.close());
    const client = new GraphQLClient({ url: `${s.running.url}/graphql`, retryBaseMs: 5 });
    closers.push(() => client.close());
    expect(await client.request(HELLO)).toEqual({ hello: 'world' });
    expect(s.requests()).toBe(3);
  });

  it('does not retry GraphQL errors and surfaces their code', async () => {
    const s = await startServer();
    closers.push(() => s.close());
    const client = new GraphQLClient({ url: `${s.running.url}/graphql`, retryBaseMs: 5 });
    closers.push(() => client.close());
    const err = await client.request(FAIL).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphQLRequestError);
    expect((err as GraphQLRequestError).code).toBe('NOT_FOUND');
    expect(s.requests()).toBe(1);
  });

  it('gives up after the attempt budget on a dead endpoint', async () => {
    const s = await startServer();
    const url = `${s.running.url}/graphql`;
    await s.close();
    const client = new GraphQLClient({ url, retryBaseMs: 1, maxAttempts: 3 });
    closers.push(() => client.close());
    await expect(client.request(HELLO)).rejects.toThrow(/after 3 attempts/);
  });

  it('resubscribes after the server restarts', async () => {
    let s = await startServer();
    const port = s.running.port;
    const client = new GraphQLClient({ url: `${s.running.url}/graphql` });
    const ticks: number[] = [];
    const errors: Error[] = [];
    const unsubscribe = client.subscribe(TICK, undefined, { onData: (d) => ticks.push(d.tick), onError: (e) => errors.push(e) });
    try {
      await expect.poll(() => ticks.length, { timeout: 5000 }).toBeGreaterThan(2);
      await s.close();
      const seenBefore = ticks.length;
      s = await startServer(port);
      // After the restart the stream starts again at 1: proof of a new upstream subscription.
      await expect.poll(() => ticks.slice(seenBefore).includes(1), { timeout: 10_000 }).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      unsubscribe();
      await client.close();
      await s.close();
    }
  });
});
