import http from 'node:http';
import { CloudEvent as WireEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../ops/ops-server.ts';
import { invalidTransition, notFound } from '../errors.ts';
import type { CloudEvent } from './cloudevent.ts';
import { bearerTokenMatches, cloudEventsHandler, parseCloudEventMessage, type CloudEventMode } from './cloudevents-http.ts';

const wireEvent = () =>
  new WireEvent({
    id: 'evt-1',
    source: 'lds',
    type: 'lds.session.started',
    subject: 'lds-1',
    time: '2026-01-15T10:46:00.000Z',
    datacontenttype: 'application/json',
    data: { ldsSessionId: 'lds-1', labletSessionId: 'ls-1' },
    entityversion: 7,
    actor: 'student',
  });

const expected: CloudEvent = {
  specversion: '1.0',
  id: 'evt-1',
  source: 'lds',
  type: 'lds.session.started',
  subject: 'lds-1',
  time: '2026-01-15T10:46:00.000Z',
  datacontenttype: 'application/json',
  data: { ldsSessionId: 'lds-1', labletSessionId: 'ls-1' },
  entityversion: 7,
  actor: 'student',
};

describe('cloudEventsHandler over HTTP', () => {
  let server: RunningServer;
  const received: Array<{ event: CloudEvent; mode: CloudEventMode }> = [];
  let failWith: Error | undefined;

  beforeAll(async () => {
    const handler = cloudEventsHandler({
      maxBodyBytes: 4096,
      onEvent(event, mode) {
        if (failWith) throw failWith;
        received.push({ event, mode });
      },
    });
    server = await listen(http.createServer((req, res) => void handler(req, res)), 0);
  });
  afterAll(() => server.close());
  beforeEach(() => {
    received.length = 0;
    failWith = undefined;
  });

  const post = async (headers: Record<string, string>, body: string) => {
    const res = await fetch(server.url, { method: 'POST', headers, body });
    return { status: res.status, body: (await res.json()) as { id?: string; error?: { code: string; message: string } } };
  };
  const asHeaders = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]));

  it.each([
    ['binary', HTTP.binary],
    ['structured', HTTP.structured],
  ] as const)('accepts a %s-mode event produced by the cloudevents HTTP binding', async (mode, serialize) => {
    const message = serialize(wireEvent());
    const res = await post(asHeaders(message.headers), message.body as string);
    expect(res).toEqual({ status: 202, body: { id: 'evt-1' } });
    expect(received).toEqual([{ event: expected, mode }]);
  });

  it('refuses a request that is not a CloudEvent, with a clear 400', async () => {
    const res = await post({ 'content-type': 'application/json' }, '{"hello":"world"}');
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'not a CloudEvent: expected ce-* headers (binary mode) or Content-Type application/cloudevents+json (structured mode)',
    });
    expect(received).toEqual([]);
  });

  it('maps handler errors: NOT_FOUND → 404, INVALID_TRANSITION → 409 (senders do not retry), anything else → 500', async () => {
    const message = HTTP.structured(wireEvent());
    failWith = notFound('lablet session', 'ls-1');
    const missing = await post(asHeaders(message.headers), message.body as string);
    expect(missing).toEqual({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'lablet session ls-1 not found' } } });
    failWith = invalidTransition('LabletSession', 'STOPPING', 'RUNNING');
    expect((await post(asHeaders(message.headers), message.body as string)).status).toBe(409);
    failWith = new Error('database down');
    expect((await post(asHeaders(message.headers), message.body as string)).status).toBe(500);
  });

  it('refuses other methods (405) and oversized bodies (413)', async () => {
    const get = await fetch(server.url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    await get.arrayBuffer();
    const huge = JSON.stringify({ specversion: '1.0', id: 'x', source: 's', type: 't', data: 'x'.repeat(5000) });
    const res = await post({ 'content-type': 'application/cloudevents+json' }, huge);
    expect(res.status).toBe(413);
    expect(res.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('cloudEventsHandler with a bearer token', () => {
  const TOKEN = 'events-token-0123456789abcdef';
  let server: RunningServer;
  const received: CloudEvent[] = [];

  beforeAll(async () => {
    const handler = cloudEventsHandler({ bearerToken: TOKEN, onEvent: (event) => void received.push(event) });
    server = await listen(http.createServer((req, res) => void handler(req, res)), 0);
  });
  afterAll(() => server.close());
  beforeEach(() => {
    received.length = 0;
  });

  const message = () => HTTP.structured(wireEvent());
  const post = async (authorization: string | undefined, body = message().body as string) => {
    const headers: Record<string, string> = { 'content-type': 'application/cloudevents+json' };
    if (authorization !== undefined) headers.authorization = authorization;
    const res = await fetch(server.url, { method: 'POST', headers, body });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as { id?: string; error?: { code: string; message: string } } };
  };

  it('refuses a request without the token (none, wrong, another scheme, a prefix) with 401 UNAUTHENTICATED, and processes nothing', async () => {
    for (const authorization of [undefined, '', 'Bearer ', 'Bearer wrong-token-0123456789abcdef', `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, TOKEN]) {
      const res = await post(authorization);
      expect(res.status, String(authorization)).toBe(401);
      expect(res.challenge).toMatch(/^Bearer/);
      expect(res.body.error?.code).toBe('UNAUTHENTICATED');
      expect(res.body.error?.message).toMatch(/bearer token/);
    }
    expect(received).toEqual([]);
  });

  it('answers 401 before reading the body: a body that is not JSON is not parsed (no 400)', async () => {
    expect((await post(undefined, '{not json')).status).toBe(401);
    expect((await post(`Bearer ${TOKEN}`, '{not json')).status).toBe(400);
  });

  it('answers 401 while the body is still being sent', async () => {
    const url = new URL(server.url);
    const req = http.request({ host: url.hostname, port: url.port, method: 'POST', headers: { 'content-type': 'application/cloudevents+json', 'transfer-encoding': 'chunked' } });
    const status = new Promise<number | undefined>((resolve, reject) => {
      req.once('response', (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.once('error', reject);
    });
    req.write('{"specversion":"1.0",'); // …and never the rest
    try {
      expect(await status).toBe(401);
    } finally {
      req.destroy();
    }
    expect(received).toEqual([]);
  });

  it('accepts the event with the right token (scheme case-insensitive)', async () => {
    expect(await post(`Bearer ${TOKEN}`)).toMatchObject({ status: 202, body: { id: 'evt-1' } });
    expect((await post(`bearer ${TOKEN}`)).status).toBe(202);
    expect(received.map((e) => e.id)).toEqual(['evt-1', 'evt-1']);
  });

  it('bearerTokenMatches compares the whole token', () => {
    expect(bearerTokenMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerTokenMatches([`Bearer ${TOKEN}`], TOKEN)).toBe(true);
    expect(bearerTokenMatches(`Bearer ${TOKEN} `, TOKEN)).toBe(true);
    expect(bearerTokenMatches(`Bearer ${TOKEN} more`, TOKEN)).toBe(false);
    expect(bearerTokenMatches(undefined, TOKEN)).toBe(false);
    expect(bearerTokenMatches('Bearer', '')).toBe(false);
  });
});

describe('parseCloudEventMessage', () => {
  const structured = (attrs: Record<string, unknown>) =>
    JSON.stringify({ specversion: '1.0', id: 'e1', source: 'src', type: 't.v1', ...attrs });
  const ceJson = { 'content-type': 'application/cloudevents+json; charset=utf-8' };
  const binaryHeaders = { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'e1', 'ce-source': 'src', 'ce-type': 't.v1' };
  const failure = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return { status: (e as { status: number }).status, message: (e as Error).message };
    }
    throw new Error('expected a failure');
  };

  it('fills what CloudEvents allows to be absent: time (receipt time) and data (null)', () => {
    const { event, mode } = parseCloudEventMessage(ceJson, structured({}));
    expect(mode).toBe('structured');
    expect(event.data).toBeNull();
    expect(Date.parse(event.time)).not.toBeNaN();
    expect(parseCloudEventMessage({ ...binaryHeaders }, '').event.data).toBeNull();
  });

  it('reads binary extension headers, percent-decoding and typing entityversion', () => {
    const { event } = parseCloudEventMessage({ ...binaryHeaders, 'ce-subject': 'caf%C3%A9', 'ce-entityversion': '12' }, '{"a":1}');
    expect(event).toMatchObject({ subject: 'café', entityversion: 12, data: { a: 1 } });
  });

  it.each([
    ['a missing id', () => parseCloudEventMessage(ceJson, JSON.stringify({ specversion: '1.0', source: 's', type: 't' })), 400, 'missing required attribute id'],
    ['an empty type', () => parseCloudEventMessage(ceJson, structured({ type: '' })), 400, 'attribute type must be a non-empty string'],
    ['specversion 0.3', () => parseCloudEventMessage(ceJson, structured({ specversion: '0.3' })), 400, 'unsupported specversion "0.3": only 1.0 is accepted'],
    ['a bad time', () => parseCloudEventMessage(ceJson, structured({ time: 'yesterday' })), 400, 'attribute time must be an RFC 3339 timestamp, got "yesterday"'],
    ['a non-integer entityversion', () => parseCloudEventMessage(ceJson, structured({ entityversion: 1.5 })), 400, 'attribute entityversion must be an integer'],
    ['invalid JSON', () => parseCloudEventMessage(ceJson, '{"specversion":'), 400, 'structured-mode body is not valid JSON'],
    ['a JSON array', () => parseCloudEventMessage(ceJson, '[]'), 400, 'structured-mode body must be a JSON object'],
    ['base64 data', () => parseCloudEventMessage(ceJson, structured({ data_base64: 'AAAA' })), 415, 'binary data (data_base64) is not supported'],
    ['XML data', () => parseCloudEventMessage(ceJson, structured({ datacontenttype: 'application/xml' })), 415, 'datacontenttype must be a JSON media type'],
    ['a batch', () => parseCloudEventMessage({ 'content-type': 'application/cloudevents-batch+json' }, '[]'), 415, 'batched mode'],
    ['a missing ce-type header', () => parseCloudEventMessage({ ...binaryHeaders, 'ce-type': undefined }, '{}'), 400, 'missing required header ce-type'],
    ['binary text data', () => parseCloudEventMessage({ ...binaryHeaders, 'content-type': 'text/plain' }, 'hello'), 415, 'binary-mode data must be JSON'],
    ['binary invalid JSON', () => parseCloudEventMessage(binaryHeaders, '{oops'), 400, 'binary-mode body is not valid JSON'],
  ])('refuses %s', (_name, fn, status, message) => {
    const error = failure(fn);
    expect(error.status).toBe(status);
    expect(error.message).toContain(message);
  });
});
