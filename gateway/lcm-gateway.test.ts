import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { IdentitySigner } from '../core/auth/identity.ts';
import { silentLogger, type Logger } from '../core/logging.ts';
import { MemoryStorage } from '../core/persistence/memory-document-store.ts';
import { startLcmGateway, type LcmGateway } from './lcm-gateway.ts';

/**
 * What the LCM gateway lets reach a client (issue 12, item 4) and how it stops (item 5): custom
 * scalars are checked at the gateway, nothing internal (subgraph URL, address, body) leaks from a
 * failed subgraph fetch, and a stop drains the requests in flight. The subgraphs here are plain HTTP
 * servers that record what they receive and answer as each test needs.
 */
const ADMIN = 'lcm-gateway-test-admin-token-0123456789';

interface FakeSubgraph {
  url: string;
  /** GraphQL bodies received. */
  received: { query: string; variables?: Record<string, unknown> }[];
  /** Answers the next requests (default: `{ data: {} }` as JSON). */
  respond: (req: http.IncomingMessage, res: http.ServerResponse, body: { query: string }) => void;
  close(): Promise<void>;
}

async function fakeSubgraph(): Promise<FakeSubgraph> {
  const fake: FakeSubgraph = {
    url: '',
    received: [],
    respond: (_req, res) => json(res, 200, { data: {} }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      const body = JSON.parse(text) as { query: string; variables?: Record<string, unknown> };
      // The readiness probe is not a client's request.
      if (!body.query.includes('__GatewayReadiness__')) fake.received.push(body);
      fake.respond(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/graphql`;
  const close = fake.close;
  fake.close = () => {
    server.closeAllConnections();
    return close();
  };
  return fake;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Collects what the gateway logs at error level (the details masked for the client go there). */
function recordingLogger(lines: Record<string, unknown>[]): Logger {
  const logger = {
    ...silentLogger,
    error: (details: unknown) => {
      if (details && typeof details === 'object') lines.push(details as Record<string, unknown>);
    },
    child: () => logger,
  } as unknown as Logger;
  return logger;
}

type GraphQLBody = {
  data?: unknown;
  errors?: { message: string; path?: unknown[]; extensions?: Record<string, unknown> }[];
};

describe('the LCM gateway: scalars, masking, drain', () => {
  let gateway: LcmGateway;
  let definitions: FakeSubgraph;
  let sessions: FakeSubgraph;
  let scoreReports: FakeSubgraph;
  let downUrl: string;
  const storage = new MemoryStorage();
  const logged: Record<string, unknown>[] = [];

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}`, ...headers },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    [definitions, sessions, scoreReports] = await Promise.all([fakeSubgraph(), fakeSubgraph(), fakeSubgraph()]);
    downUrl = `http://127.0.0.1:${await closedPort()}/graphql`;
    gateway = await startLcmGateway({
      port: 0,
      storage,
      signer: new IdentitySigner(randomBytes(32).toString('base64url')),
      adminToken: ADMIN,
      logger: recordingLogger(logged),
      dashboard: false,
      shutdownGraceMs: 5000,
      subgraphUrls: { definitions: definitions.url, sessions: sessions.url, 'score-reports': scoreReports.url, workers: downUrl },
    });
  }, 120_000);

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([definitions?.close(), sessions?.close(), scoreReports?.close(), storage.close()]);
  });

  describe('custom scalars are checked at the gateway', () => {
    it('refuses an invalid DateTime variable with BAD_USER_INPUT naming the variable and the scalar, sending nothing', async () => {
      const before = sessions.received.length;
      const response = await post('/graphql', {
        query: 'mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }',
        variables: { input: { definitionId: 'd1', owner: 'ada', timeslotStart: 'next tuesday' } },
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as GraphQLBody;
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
      expect(body.errors![0]!.message).toContain('$input');
      expect(body.errors![0]!.message).toContain('timeslotStart');
      expect(body.errors![0]!.message).toContain('DateTime');
      expect(sessions.received.length).toBe(before);
    });

    it('refuses an invalid DateTime literal with BAD_USER_INPUT naming the argument, sending nothing', async () => {
      const before = scoreReports.received.length;
      const response = await post('/graphql', {
        query: '{ scoreReports(filter: { submittedAfter: "2026-13-45" }) { edges { node { id } } } }',
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as GraphQLBody;
      expect(body.errors).toHaveLength(1);
      const [error] = body.errors!;
      expect(error!.extensions?.code).toBe('BAD_USER_INPUT');
      expect(error!.extensions?.field).toBe('filter.submittedAfter');
      expect(error!.message).toContain('"filter.submittedAfter"');
      expect(error!.message).toContain('DateTime');
      expect(scoreReports.received.length).toBe(before);
    });

    it('refuses a DateTime literal of the wrong kind (a number) the same way', async () => {
      const response = await post('/graphql', { query: '{ scoreReports(filter: { submittedBefore: 20261122 }) { edges { node { id } } } }' });
      expect(response.status).toBe(400);
      const body = (await response.json()) as GraphQLBody;
      expect(body.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
      expect(body.errors![0]!.extensions?.field).toBe('filter.submittedBefore');
    });

    it('passes a valid DateTime on as the client wrote it', async () => {
      scoreReports.respond = (_req, res) => json(res, 200, { data: { scoreReports: { edges: [] } } });
      const response = await post('/graphql', {
        query: 'query($after: DateTime) { scoreReports(filter: { submittedAfter: $after }) { edges { node { id } } } }',
        variables: { after: '2026-11-22T10:00:00+01:00' },
      });
      expect(await response.json()).toEqual({ data: { scoreReports: { edges: [] } } });
      expect(scoreReports.received.at(-1)?.variables).toEqual({ after: '2026-11-22T10:00:00+01:00' });
    });
  });

  describe('no internal detail reaches a client', () => {
    const internals = (text: string, url: string) => {
      const { host } = new URL(url);
      return [url, host, '127.0.0.1', 'ECONNREFUSED', 'localhost', '<html', 'stack'].filter((s) => text.includes(s));
    };

    it('a subgraph that is down: DOWNSTREAM_SERVICE_ERROR naming the subgraph only, details logged under the request id', async () => {
      const response = await post('/graphql', { query: '{ worker(id: "w1") { id name } }' }, { 'x-request-id': 'down-1' });
      const text = await response.text();
      expect(internals(text, downUrl)).toEqual([]);
      const body = JSON.parse(text) as GraphQLBody;
      expect(body.errors).toEqual([
        {
          message: 'Error while fetching subquery from service "workers"',
          extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'workers', requestId: 'down-1' },
        },
      ]);
      expect(response.headers.get('x-request-id')).toBe('down-1');
      const log = logged.find((l) => l.reqId === 'down-1');
      expect(log?.subgraph).toBe('workers');
      expect(JSON.stringify(log?.message)).toContain('ECONNREFUSED');
    });

    it('a subgraph answering 500 with an HTML body: no body, no URL in the answer', async () => {
      definitions.respond = (_req, res) => {
        const html = `<html><body>Traceback at ${definitions.url}: db password=hunter2</body></html>`;
        res.writeHead(500, { 'content-type': 'text/html' });
        res.end(html);
      };
      const response = await post('/graphql', { query: '{ definition(id: "d1") { id name } }' });
      const text = await response.text();
      expect(internals(text, definitions.url)).toEqual([]);
      expect(text).not.toContain('hunter2');
      const body = JSON.parse(text) as GraphQLBody;
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]!.extensions?.code).toBe('DOWNSTREAM_SERVICE_ERROR');
      expect(body.errors![0]!.extensions?.requestId).toBe(response.headers.get('x-request-id'));
      expect(Object.keys(body.errors![0]!.extensions!).sort()).toEqual(['code', 'requestId', 'serviceName']);
    });

    it('a subgraph answering 2xx with a body that is not JSON: masked the same way', async () => {
      definitions.respond = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"oops": connect ECONNREFUSED 127.0.0.1:27017`);
      };
      const text = await (await post('/graphql', { query: '{ definition(id: "d1") { id } }' })).text();
      expect(internals(text, definitions.url)).toEqual([]);
      expect((JSON.parse(text) as GraphQLBody).errors![0]!.extensions?.code).toBe('DOWNSTREAM_SERVICE_ERROR');
    });

    it("a subgraph's 401/403 (the gateway's own credential refused) is masked too", async () => {
      definitions.respond = (_req, res) => json(res, 403, { errors: [{ message: `forbidden at ${definitions.url}` }] });
      const text = await (await post('/graphql', { query: '{ definition(id: "d1") { id } }' })).text();
      expect(internals(text, definitions.url)).toEqual([]);
      expect((JSON.parse(text) as GraphQLBody).errors![0]!.extensions?.code).toBe('DOWNSTREAM_SERVICE_ERROR');
    });

    it("a subgraph's GraphQL error with a public code passes unchanged; one without a public code is masked", async () => {
      definitions.respond = (_req, res) =>
        json(res, 200, {
          data: { definition: null },
          errors: [
            { message: 'LabletDefinition d1 not found', path: ['definition'], extensions: { code: 'NOT_FOUND', id: 'd1' } },
            { message: 'MongoServerError: E11000 at mongodb://10.0.0.5:27017', path: ['definition'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
            { message: 'TypeError: cannot read x of undefined', path: ['definition'] },
          ],
        });
      const response = await post('/graphql', { query: '{ definition(id: "d1") { id } }' });
      const text = await response.text();
      expect(text).not.toContain('mongodb://');
      expect(text).not.toContain('TypeError');
      const body = JSON.parse(text) as GraphQLBody;
      const requestId = response.headers.get('x-request-id');
      expect(body.errors).toEqual([
        { message: 'LabletDefinition d1 not found', path: ['definition'], extensions: { code: 'NOT_FOUND', id: 'd1', serviceName: 'definitions' } },
        { message: 'internal server error', path: ['definition'], extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'definitions', requestId } },
        {
          message: 'Error while fetching subquery from service "definitions"',
          path: ['definition'],
          extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'definitions', requestId },
        },
      ]);
      expect(body.data).toEqual({ definition: null });
    });
  });

  // Last: it stops the gateway.
  describe('a stop drains the requests in flight', () => {
    it('answers a slow request in flight, refuses a new one with 503 + Retry-After, closes WebSockets with 1001, then closes', async () => {
      const socket = new WebSocket(`${gateway.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const socketClosed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      let release!: () => void;
      const slowArrived = new Promise<void>((arrived) => {
        definitions.respond = (_req, res) => {
          arrived();
          release = () => json(res, 200, { data: { definition: { id: 'd1' } } });
        };
      });
      const slow = post('/graphql', { query: '{ definition(id: "d1") { id } }' });
      await slowArrived;
      const closed = gateway.close();
      let closedYet = false;
      void closed.then(() => (closedYet = true));

      const ready = await fetch(`${gateway.url}/readyz`);
      expect(ready.status).toBe(503);
      const refused = await post('/graphql', { query: '{ definition(id: "d2") { id } }' });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await refused.json()).toEqual({
        errors: [{ message: expect.stringContaining('shutting down') as unknown, extensions: { code: 'SERVICE_UNAVAILABLE' } }],
      });
      expect(closedYet).toBe(false);
      expect(await socketClosed).toBe(1001);
      const lateSocket = new WebSocket(`${gateway.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      const lateStatus = await new Promise<number | undefined>((resolve) => {
        lateSocket.once('unexpected-response', (_req, res) => resolve(res.statusCode));
        lateSocket.once('open', () => resolve(undefined));
        lateSocket.once('error', () => resolve(undefined));
      });
      expect(lateStatus).toBe(503);

      release();
      const answer = await slow;
      expect(answer.status).toBe(200);
      expect(answer.headers.get('connection')).toBe('close');
      expect(await answer.json()).toEqual({ data: { definition: { id: 'd1' } } });
      await closed;
      await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow();
    });
  });
});
