/**
 * The gateway's spans (docs/adr/0016-tracing.md): one SERVER span per executed operation, continuing
 * the caller's `traceparent` (a controller's reconcile, a partner's own trace), and one CLIENT span per
 * subgraph fetch under it, whose context goes to the subgraph in `traceparent`. Only reached when
 * `tracing.on`: the untraced path tests that one boolean and allocates nothing for tracing.
 */
import type http from 'node:http';
import type { OperationKind } from './executor/executor.ts';
import type { SubgraphResponse } from './executor/subgraph-client.ts';
import { context, contextFromHeaders, recordFailure, SpanKind, SpanStatusCode, trace, traceparentOf, type Span } from '../core/telemetry/tracing.ts';

const TRACER = 'lcm-gateway';

/** Start the span of one operation (`mutation createSession`), child of the request's trace context. */
export function startOperationSpan(req: http.IncomingMessage | undefined, endpoint: string, kind: OperationKind, name: string | null): Span {
  const parent = req ? contextFromHeaders(req.headers) : context.active();
  return trace.getTracer(TRACER).startSpan(
    `${kind} ${name ?? 'anonymous'}`,
    {
      kind: SpanKind.SERVER,
      attributes: { 'graphql.operation.type': kind, 'graphql.operation.name': name ?? '', 'lcm.endpoint': endpoint },
    },
    parent,
  );
}

/** End an operation span, failed when the answer carries errors. */
export function endOperationSpan(span: Span, errors: readonly { message: string; extensions?: { code?: unknown } }[] | undefined): void {
  if (errors && errors.length > 0) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errors[0]!.message });
    span.setAttribute('lcm.error.code', String(errors[0]!.extensions?.code ?? 'UNKNOWN'));
  }
  span.end();
}

/** One subgraph fetch as a CLIENT span under the operation's; `post` sends the span's `traceparent`. */
export async function tracedFetch(
  operation: Span,
  serviceName: string,
  post: (traceHeaders: Record<string, string>) => Promise<SubgraphResponse>,
): Promise<SubgraphResponse> {
  const span = trace.getTracer(TRACER).startSpan(
    `fetch ${serviceName}`,
    { kind: SpanKind.CLIENT, attributes: { 'lcm.subgraph': serviceName } },
    trace.setSpan(context.active(), operation),
  );
  try {
    const response = await post({ traceparent: traceparentOf(span.spanContext())! });
    if (response.errors?.length) span.setStatus({ code: SpanStatusCode.ERROR, message: response.errors[0]!.message });
    return response;
  } catch (e) {
    recordFailure(span, e);
    throw e;
  } finally {
    span.end();
  }
}
