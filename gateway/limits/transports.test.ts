import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { IdentitySigner } from '../../core/auth/identity.ts';
import { silentLogger } from '../../core/logging.ts';
import { MemoryStorage } from '../../core/persistence/memory-document-store.ts';
import { startLcmGateway, type LcmGateway } from '../lcm-gateway.ts';
import { DEFAULT_LIMITS } from './limits.ts';

/**
 * The query limits hold the same on every transport of the LCM gateway (issue 12): HTTP GET, POST,
 * batched POST and graphql-ws `subscribe` messages all parse through one function. No subgraph runs:
 * nothing rejected here may reach one.
 */
const ADMIN = 'transport-limits-admin-token-0123456789';
const MAX_QUERY_BYTES = 8 * 1024;
const ORIGIN = 'https://partner.example.com';

interface GraphQLAnswer {
  status: number;
  body: unknown;
}
type ErrorList = Array<{ message: string; extensions?: { code?: string; limit?: string } }>;

/** A document of about `bytes` bytes, mostly a comment, unique by `i`, and a valid query. */
const padded = (i: number, bytes: number) => `# ${i} ${'x'.repeat(bytes)}\n{ __typename }`;

/** A graphql-ws connection speaking the protocol by hand (`ws`), authenticated as the admin. */
async function connect(url: string): Promise<{ socket: WebSocket; subscribe(id: string, query: string): Promise<ErrorList | { closed: number }>; close(): void }> {
  const socket = new WebSocket(url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
  const waiting = new Map<string, (answer: ErrorList | { closed: number }) => void>();
  let closedWith: number | undefined;
  socket.on('close', (code) => {
    closedWith = code;
    for (const resolve of waiting.values()) resolve({ closed: code });
    waiting.clear();
  });
  const acked = new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; id?: string; payload?: unknown };
      if (message.type === 'connection_ack') resolve();
      if (message.id !== undefined && (message.type === 'error' || message.type === 'next' || message.type === 'complete')) {
        const payload = message.type === 'error' ? (message.payload as ErrorList) : message.type === 'next' ? ((message.payload as { errors?: ErrorList }).errors ?? []) : [];
        waiting.get(message.id)?.(payload);
        waiting.delete(message.id);
      }
    });
    socket.on('error', reject);
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${ADMIN}` } }));
  await acked;
  return {
    socket,
    subscribe: (id, query) =>
      new Promise((resolve) => {
        if (closedWith !== undefined) return resolve({ closed: closedWith });
        waiting.set(id, resolve);
        socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
      }),
    close: () => socket.close(),
  };
}

describe('query limits on every transport of the LCM gateway', () => {
  let gateway: LcmGateway;
  const storage = new MemoryStorage();
  const auth = { authorization: `Bearer ${ADMIN}` };

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}): Promise<GraphQLAnswer> => {
    const res = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth, ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const get = async (query: string): Promise<GraphQLAnswer> => {
    const res = await fetch(`${gateway.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { 'content-type': 'application/json', ...auth } });
    return { status: res.status, body: await res.json() };
  };
  const errorsOf = (answer: GraphQLAnswer): ErrorList => (answer.body as { errors: ErrorList }).errors;
  const overSize = expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'queryBytes' }) });

  beforeAll(async () => {
    gateway = await startLcmGateway({
      port: 0,
      storage,
      signer: new IdentitySigner(randomBytes(32).toString('base64url')),
      adminToken: ADMIN,
      logger: silentLogger,
      dashboard: false,
      limits: { ...DEFAULT_LIMITS, maxQueryBytes: MAX_QUERY_BYTES },
      cors: { origins: [ORIGIN] },
    });
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    await storage.close();
  });

  it('refuses a document over maxQueryBytes alike over GET, POST, a batch and a WebSocket subscribe', async () => {
    const doc = padded(1, MAX_QUERY_BYTES + 100);
    const viaGet = await get(doc);
    expect(viaGet.status).toBe(400);
    expect(errorsOf(viaGet)).toEqual([overSize]);

    const viaPost = await post('/graphql', { query: doc });
    expect(viaPost.status).toBe(400);
    expect(errorsOf(viaPost)).toEqual([overSize]);

    const viaBatch = await post('/graphql', [{ query: doc }, { query: padded(2, MAX_QUERY_BYTES + 100) }]);
    expect(viaBatch.status).toBe(200);
    expect((viaBatch.body as Array<{ errors: ErrorList }>).map((a) => a.errors)).toEqual([[overSize], [overSize]]);

    const viaInternal = await post('/internal/graphql', { query: doc });
    expect(errorsOf(viaInternal)).toEqual([overSize]);

    const ws = await connect(gateway.url);
    try {
      expect(await ws.subscribe('1', `subscription ${doc.replace('{ __typename }', '{ sessionUpdated { id } }')}`)).toEqual([overSize]);
    } finally {
      ws.close();
    }
  });

  it('refuses many unique large documents (comments do not escape the limit) and stays up', async () => {
    // The attack of issue 12 in small: unique 200 KB documents, each of a handful of tokens.
    for (let i = 0; i < 40; i++) {
      const answer = await post('/graphql', { query: padded(i, 200 * 1024) });
      expect(answer.status).toBe(400);
      expect(errorsOf(answer)).toEqual([overSize]);
    }
    const ws = await connect(gateway.url);
    try {
      for (let i = 0; i < 35; i++) expect(await ws.subscribe(String(i), `subscription ${padded(i, 200 * 1024)}`)).toEqual([overSize]);
      // A message far over every limit: refused by the document limit or by the socket's payload limit (1009).
      const huge = await ws.subscribe('huge', padded(0, 20 * 1024 * 1024));
      expect(huge).toSatisfy((a: unknown) => (Array.isArray(a) && a.length === 1 && (a[0] as ErrorList[number]).extensions?.limit === 'queryBytes') || (a as { closed?: number }).closed === 1009);
    } finally {
      ws.close();
    }
    const ok = await post('/graphql', { query: '{ __typename }' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ data: { __typename: 'Query' } });
  }, 60_000);

  it('never keeps a persisted query over a limit', async () => {
    const doc = padded(3, MAX_QUERY_BYTES + 100);
    const persistedQuery = { version: 1, sha256Hash: createHash('sha256').update(doc).digest('hex') };
    expect(errorsOf(await post('/graphql', { query: doc, extensions: { persistedQuery } }))).toEqual([overSize]);
    const again = await post('/graphql', { extensions: { persistedQuery } });
    expect(errorsOf(again)).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'PERSISTED_QUERY_NOT_FOUND' }) })]);
  });

  it('counts __typename aliases in the alias limit', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `t${i}: __typename`).join(' ')} }`;
    const over = await post('/graphql', { query: aliases(DEFAULT_LIMITS.maxAliases + 1) });
    expect(over.status).toBe(400);
    expect(errorsOf(over)).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'aliases' }) })]);
    const within = await post('/graphql', { query: aliases(DEFAULT_LIMITS.maxAliases) });
    expect(within.status).toBe(200);
  });

  it('answers CORS on /graphql only: /internal/graphql has no browser callers', async () => {
    const preflight = (path: string) =>
      fetch(`${gateway.url}${path}`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    const pub = await preflight('/graphql');
    expect(pub.status).toBe(204);
    expect(pub.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(pub.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    const internal = await preflight('/internal/graphql');
    expect(internal.status).toBe(405);
    expect(internal.headers.get('access-control-allow-origin')).toBeNull();
    const answer = await post('/graphql', { query: '{ __typename }' }, { origin: ORIGIN });
    expect(answer.status).toBe(200);
  });
});
