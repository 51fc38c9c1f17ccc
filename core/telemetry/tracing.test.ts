/**
 * Tracing off by default (no SDK, no spans), the `traceparent` helpers, and the reconcile's trace
 * context: the first change that queued a key is its parent, the others coalesced into it are links.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCoordinationCluster } from '../adapters/memory/memory-coordination.ts';
import { Controller } from '../runtime/controller.ts';
import type { InformerSource } from '../runtime/informer.ts';
import { eventually } from '../../test/support/eventually.ts';
import { spanContextOf, startTracing, trace, traceparentOf, tracesUrl, tracing, tracingWanted, type RunningTracing } from './tracing.ts';

describe('tracing switched by the standard OpenTelemetry variables', () => {
  it('is off with no OTEL variable: nothing registered, spans are no-ops', async () => {
    expect(tracingWanted({})).toBe(false);
    expect(await startTracing({ serviceName: 'lcm-test', settings: {} })).toBeUndefined();
    expect(tracing.on).toBe(false);
    const span = trace.getTracer('lcm-test').startSpan('nothing');
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
    span.end();
  });

  it('is on with an OTLP endpoint, and OTEL_SDK_DISABLED wins', async () => {
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: true })).toBe(false);
    expect(await startTracing({ serviceName: 'lcm-test', settings: { OTEL_SDK_DISABLED: true }, exporter: new InMemorySpanExporter() })).toBeUndefined();
    expect(tracing.on).toBe(false);
  });

  it('exports over OTLP/HTTP to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces, with the service name', async () => {
    const bodies: Array<{ path: string | undefined; body: string }> = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        bodies.push({ path: req.url, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    try {
      const telemetry = await startTracing({ serviceName: 'lcm-gateway', settings: { OTEL_EXPORTER_OTLP_ENDPOINT: `${endpoint}/` } });
      expect(telemetry).toBeDefined();
      expect(tracing.on).toBe(true);
      trace.getTracer('lcm-test').startSpan('exported').end();
      await telemetry!.stop();
      expect(tracing.on).toBe(false);
      expect(bodies.map((b) => b.path)).toEqual(['/v1/traces']);
      expect(bodies[0]!.body).toContain('"exported"');
      expect(bodies[0]!.body).toContain('lcm-gateway');
    } finally {
      await new Promise<void>((resolve) => collector.close(() => resolve()));
    }
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/x', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://d:4318' })).toBe('http://c:4318/x');
  });

  it('reads and writes W3C traceparent values', () => {
    const value = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const parsed = spanContextOf(value);
    expect(parsed).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
    expect(traceparentOf(parsed)).toBe(value);
    expect(spanContextOf('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeUndefined();
    expect(spanContextOf('garbage')).toBeUndefined();
    expect(traceparentOf(undefined)).toBeUndefined();
  });
});

describe('a reconcile continues the trace of the change that queued it', () => {
  let telemetry: RunningTracing | undefined;
  afterEach(async () => {
    await telemetry?.stop();
    telemetry = undefined;
  });

  it('parent = the first change, links = the others coalesced into the same reconcile; a re-listed key starts its own trace', async () => {
    const exporter = new InMemorySpanExporter();
    telemetry = await startTracing({ serviceName: 'lcm-test', settings: {}, exporter });
    const cluster = new MemoryCoordinationCluster();
    const store = cluster.client();
    await store.put('/t/items/listed', JSON.stringify({ n: 0 }));
    const source: InformerSource<{ n: number }> = {
      name: 'items',
      prefix: '/t/items/',
      keyOf: () => 'listed',
      list: () => Promise.resolve([{ n: 0 }]),
      decode: (event) => (event.type === 'put' ? { key: event.key, object: JSON.parse(event.kv.value) as { n: number } } : undefined),
    };
    const reconciled: string[] = [];
    const controller = new Controller({
      name: 'trace-test',
      store,
      leaderElection: false,
      watches: [{ source, keysFor: (key) => (key === 'listed' ? [key] : ['cycle']), coalesceMs: 100 }],
      reconcile: (key) => {
        reconciled.push(key);
        return Promise.resolve();
      },
    });
    controller.start();
    try {
      await eventually('the listed key reconciled', () => (reconciled.includes('listed') ? true : undefined));
      const a = '00-11111111111111111111111111111111-1111111111111111-01';
      const b = '00-22222222222222222222222222222222-2222222222222222-01';
      const c = '00-33333333333333333333333333333333-3333333333333333-01';
      for (const [i, traceparent] of [a, b, c].entries()) await store.put(`/t/items/${i}`, JSON.stringify({ n: i, traceparent }));
      await eventually('the cycle reconciled', () => (reconciled.includes('cycle') ? true : undefined));
      await eventually('its span', () => exporter.getFinishedSpans().find((s) => s.attributes['lcm.key'] === 'cycle'));
    } finally {
      await controller.stop();
      await store.close();
      cluster.close();
    }
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'reconcile trace-test');
    const cycle = spans.find((s) => s.attributes['lcm.key'] === 'cycle')!;
    expect(cycle.instrumentationScope.name).toBe('lcm-trace-test');
    expect(cycle.spanContext().traceId).toBe('11111111111111111111111111111111');
    expect(cycle.parentSpanContext?.spanId).toBe('1111111111111111');
    expect(cycle.links.map((l) => l.context.spanId).sort()).toEqual(['2222222222222222', '3333333333333333']);
    expect(cycle.attributes['lcm.outcome']).toBe('success');
    const listed = spans.find((s) => s.attributes['lcm.key'] === 'listed')!;
    expect(listed.parentSpanContext).toBeUndefined();
    expect(listed.spanContext().traceId).not.toBe(cycle.spanContext().traceId);
  });
});
