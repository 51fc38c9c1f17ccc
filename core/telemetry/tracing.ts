/**
 * Distributed tracing on the OpenTelemetry SDK (docs/adr/0016-tracing.md). Off by default: nothing of
 * the SDK is loaded and every call site tests the one boolean `tracing.on` before doing any work, so a
 * process without OTLP configured pays a property read per operation. On when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_SDK_DISABLED`
 * is not true): spans go to that collector over OTLP/HTTP, W3C `traceparent` links the processes.
 *
 * Only `@opentelemetry/api` is imported statically (a few hundred lines, no SDK): the SDK, the exporter
 * and the resource are imported when tracing starts.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

export { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Link, type Span, type SpanContext };

/** The switch every instrumented path reads first; true only between `startTracing` and `stop`. */
export const tracing = { on: false };

/** The standard OpenTelemetry variables that decide whether this process traces (parsed by core/config.ts). */
export interface TracingSettings {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_SDK_DISABLED?: boolean | undefined;
  OTEL_SERVICE_NAME?: string | undefined;
}

export interface StartTracingOptions {
  /** `lcm-<role>` (`OTEL_SERVICE_NAME` wins when set). */
  serviceName: string;
  settings: TracingSettings;
  /**
   * Export to this exporter instead of OTLP, each span as it ends (tests: `InMemorySpanExporter`).
   * Tracing then starts whatever `settings` say, unless `OTEL_SDK_DISABLED` is true.
   */
  exporter?: SpanExporter;
}

export interface RunningTracing {
  /** Flush the spans still buffered and unregister the SDK (tracing is off again). */
  stop(): Promise<void>;
  /** Export what is buffered now (tests). */
  flush(): Promise<void>;
}

/** Where spans go: the traces endpoint as given, or `<endpoint>/v1/traces` (the OTLP/HTTP rule). */
export function tracesUrl(settings: TracingSettings): string | undefined {
  if (settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!settings.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  return `${settings.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
}

/** Whether these settings turn tracing on. */
export function tracingWanted(settings: TracingSettings): boolean {
  if (settings.OTEL_SDK_DISABLED) return false;
  return Boolean(settings.OTEL_EXPORTER_OTLP_ENDPOINT || settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Start the SDK for this process, or do nothing (undefined) when the settings do not ask for it. One
 * provider per process: `lcm up` runs every role in one process and so under one service name; the
 * roles are told apart by their tracers' names (`lcm-gateway`, `lcm-subgraph-sessions`, …).
 */
export async function startTracing(options: StartTracingOptions): Promise<RunningTracing | undefined> {
  if (options.settings.OTEL_SDK_DISABLED) return undefined;
  if (!options.exporter && !tracingWanted(options.settings)) return undefined;
  if (tracing.on) throw new Error('tracing is already started in this process');
  const [{ NodeTracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
  ]);
  let exporter = options.exporter;
  if (!exporter) {
    // The URL from the parsed settings; the exporter reads the rest of the standard variables itself
    // (headers, timeout, compression).
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    exporter = new OTLPTraceExporter({ url: tracesUrl(options.settings) });
  }
  const processor = options.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.settings.OTEL_SERVICE_NAME ?? options.serviceName }),
    spanProcessors: [processor],
  });
  // Registers the provider, the W3C trace-context propagator and the AsyncLocalStorage context manager.
  provider.register();
  tracing.on = true;
  return {
    flush: () => provider.forceFlush(),
    async stop() {
      tracing.on = false;
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        propagation.disable();
        context.disable();
      }
    },
  };
}

/** The tracer of one component (its name says which role made a span when roles share a process). */
export function tracer(name: string): Tracer {
  return trace.getTracer(name);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C `traceparent` of a span context (or of the active span), undefined when there is none. */
export function traceparentOf(spanContext: SpanContext | undefined = trace.getSpanContext(context.active())): string | undefined {
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return undefined;
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A remote span context from a `traceparent` value, undefined when it is not a valid one. */
export function spanContextOf(traceparent: string | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const m = TRACEPARENT.exec(traceparent);
  if (!m) return undefined;
  const spanContext: SpanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** The context an incoming request continues (its `traceparent`/`tracestate` headers), from the root. */
export function contextFromHeaders(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** Add the `traceparent` (and `tracestate`) of `ctx` to outgoing headers. */
export function injectHeaders(headers: Record<string, string>, ctx: Context = context.active()): Record<string, string> {
  propagation.inject(ctx, headers);
  return headers;
}

/** Mark a span failed with an error (message and exception event). */
export function recordFailure(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Run `fn` in a new span, active for everything `fn` awaits; the span ends when `fn` settles, failed
 * if it threw. Call it only when `tracing.on` (callers keep their untraced path free of closures).
 */
export function inSpan<T>(
  tracerName: string,
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[]; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = trace.getTracer(tracerName).startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}), ...(options.links ? { links: options.links } : {}) },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (e) {
      recordFailure(span, e);
      throw e;
    } finally {
      span.end();
    }
  });
}
