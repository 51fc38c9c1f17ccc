/**
 * The gateway forwards the W3C trace context on each subgraph fetch: the fetch is a CLIENT span under
 * the operation's, and the subgraph receives that span's `traceparent`; with tracing off, nothing is sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, tracing, type RunningTracing } from '../core/telemetry/tracing.ts';
import { SubgraphClient } from './executor/subgraph-client.ts';
import { endOperationSpan, startOperationSpan, tracedFetch } from './tracing.ts';

describe('traceparent on subgraph fetches', () => {
  const received: Array<string | undefined> = [];
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      received.push(req.headers.traceparent as string | undefined);
      req.resume();
      req.on('end', () => {
        // A little late, so that identical requests are in flight together.
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"data":{"ok":true}}');
        }, 30);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends nothing when tracing is off', async () => {
    expect(tracing.on).toBe(false);
    const client = new SubgraphClient('sessions', url);
    received.length = 0;
    await client.post('{"query":"{ok}"}', undefined, true);
    expect(received).toEqual([undefined]);
    await client.close();
  });

  describe('with tracing on', () => {
    const exporter = new InMemorySpanExporter();
    let telemetry: RunningTracing | undefined;
    beforeAll(async () => {
      telemetry = await startTracing({ serviceName: 'lcm-test', settings: {}, exporter });
    });
    afterAll(() => telemetry?.stop());

    it("sends the fetch span's traceparent, the fetch span a child of the operation's", async () => {
      const client = new SubgraphClient('sessions', url);
      received.length = 0;
      const operation = startOperationSpan(undefined, '/graphql', 'query', 'Op');
      await tracedFetch(operation, 'sessions', (traceHeaders) => client.post('{"query":"{ok}"}', undefined, true, traceHeaders));
      endOperationSpan(operation, undefined);
      await client.close();
      const spans = exporter.getFinishedSpans();
      const fetch = spans.find((s) => s.name === 'fetch sessions')!;
      const op = spans.find((s) => s.name === 'query Op')!;
      expect(fetch.parentSpanContext?.spanId).toBe(op.spanContext().spanId);
      expect(fetch.spanContext().traceId).toBe(op.spanContext().traceId);
      expect(received).toEqual([`00-${fetch.spanContext().traceId}-${fetch.spanContext().spanId}-01`]);
    });

    it('still shares identical queries in flight (the traceparent is not part of the sharing key)', async () => {
      const client = new SubgraphClient('sessions', url);
      received.length = 0;
      const operation = startOperationSpan(undefined, '/graphql', 'query', 'Shared');
      const answers = await Promise.all(
        [1, 2].map(() => tracedFetch(operation, 'sessions', (traceHeaders) => client.post('{"query":"{ok}"}', undefined, true, traceHeaders))),
      );
      endOperationSpan(operation, undefined);
      await client.close();
      expect(answers).toEqual([{ data: { ok: true } }, { data: { ok: true } }]);
      expect(received).toHaveLength(1);
      expect(received[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    });
  });
});
