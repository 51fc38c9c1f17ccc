import http from 'node:http';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../server.ts';
import type { OperationCompleteEvent, RunningGateway } from '../types.ts';

/**
 * The HTTP handler's answers before execution: bodies over the limit however they arrive, and the
 * cross-origin policy. No subgraph runs: nothing here may reach one.
 */
const supergraphSdl = readFileSync(new URL('../../schema/supergraph.public.graphql', import.meta.url), 'utf8');
const MAX_BODY = 4096;
const ORIGIN = 'https://partner.example.com';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * POSTs `chunks` chunks of `chunkSize` bytes with `transfer-encoding: chunked` (no content-length),
 * a few milliseconds apart, as a slow or hostile client would, and resolves with the answer; the
 * socket may be closed under the client once it is answered.
 */
function postChunked(url: string, chunks: number, chunkSize: number): Promise<RawAnswer & { chunksWritten: number }> {
  return new Promise((resolve, reject) => {
    let chunksWritten = 0;
    let answered = false;
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, chunksWritten }));
      res.on('error', reject);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const prefix = '{"query":"# ';
    const write = () => {
      if (answered || req.destroyed) return;
      if (chunksWritten === chunks) {
        req.end('"}');
        return;
      }
      req.write(chunksWritten === 0 ? prefix + 'x'.repeat(chunkSize - prefix.length) : 'x'.repeat(chunkSize));
      chunksWritten++;
      setTimeout(write, 2);
    };
    write();
  });
}

function request(url: string, options: http.RequestOptions, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the GraphQL HTTP handler', () => {
  let gateway: RunningGateway;
  const completed: OperationCompleteEvent[] = [];

  beforeAll(async () => {
    gateway = await createGateway({
      maxBodyBytes: MAX_BODY,
      endpoints: [
        { path: '/graphql', supergraphSdl, cors: { origins: [ORIGIN], maxAgeSeconds: 300 } },
        { path: '/other/graphql', supergraphSdl },
      ],
      plugins: [{ operationComplete: (event) => completed.push(event) }],
    });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  describe('a body over maxBodyBytes', () => {
    it('sent chunked (no content-length) gets a 413 with a GraphQL error, then the connection closes', async () => {
      completed.length = 0;
      // 64 chunks of 1 KiB: 16 times the limit; the client keeps sending after the limit is passed.
      const answer = await postChunked(`${gateway.url}/graphql`, 64, 1024);
      expect(answer.status).toBe(413);
      expect(answer.headers.connection).toBe('close');
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(answer.body) as { errors: Array<{ message: string; extensions: { code: string } }> };
      expect(body.errors[0]).toMatchObject({ message: `request body larger than ${MAX_BODY} bytes`, extensions: { code: 'BAD_REQUEST' } });
      expect(completed).toEqual([expect.objectContaining({ status: 413, operationType: undefined })]);
    });

    it('answers 413 every time, never a reset', async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, () => postChunked(`${gateway.url}/graphql`, 32, 1024)));
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(413));
    });

    it('declared by content-length gets the same answer', async () => {
      const body = JSON.stringify({ query: `# ${'x'.repeat(MAX_BODY)}\n{ __typename }` });
      const answer = await request(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, body);
      expect(answer.status).toBe(413);
      expect(answer.headers.connection).toBe('close');
      expect(JSON.parse(answer.body).errors[0].extensions.code).toBe('BAD_REQUEST');
    });

    it('a chunked body within the limit is read whole', async () => {
      const answer = await postChunked(`${gateway.url}/graphql`, 2, 1024);
      // A comment and no operation: read, parsed, and refused as a document, not as a body.
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).errors[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
    });
  });

  describe('cross-origin requests (CORS)', () => {
    const preflight = (path: string, origin: string) =>
      request(`${gateway.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });

    it('answers a preflight from an allowed origin with that origin, the methods, headers and a max-age', async () => {
      const answer = await preflight('/graphql', ORIGIN);
      expect(answer.status).toBe(204);
      expect(answer.headers).toMatchObject({
        'access-control-allow-origin': ORIGIN,
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '300',
        vary: 'Origin',
      });
      expect(answer.headers['access-control-allow-credentials']).toBeUndefined();
    });

    it('gives another origin no CORS header, so its browser refuses the call', async () => {
      const answer = await preflight('/graphql', 'https://evil.example.com');
      expect(answer.status).toBe(204);
      expect(Object.keys(answer.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
      const post = await request(
        `${gateway.url}/graphql`,
        { method: 'POST', headers: { origin: 'https://evil.example.com', 'content-type': 'application/json' } },
        JSON.stringify({ query: '{ __typename }' }),
      );
      expect(post.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('marks answers to an allowed origin, errors included', async () => {
      const answer = await request(
        `${gateway.url}/graphql`,
        { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/json' } },
        JSON.stringify({ query: '{ __typename }' }),
      );
      expect(answer.status).toBe(200);
      expect(answer.headers['access-control-allow-origin']).toBe(ORIGIN);
      const failed = await request(`${gateway.url}/graphql?query=%7B`, { method: 'GET', headers: { origin: ORIGIN } });
      expect(failed.status).toBe(400);
      expect(failed.headers['access-control-allow-origin']).toBe(ORIGIN);
    });

    it('is off on a path without a policy: no CORS header, OPTIONS is not a GraphQL method', async () => {
      const answer = await preflight('/other/graphql', ORIGIN);
      expect(answer.status).toBe(405);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
      const get = await request(`${gateway.url}/other/graphql?query=%7B__typename%7D`, { method: 'GET', headers: { origin: ORIGIN, 'content-type': 'application/json' } });
      expect(get.status).toBe(200);
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    });
  });
});
