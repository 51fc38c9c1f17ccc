import { ProtocolErrorCode } from '../core/errors.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { silentLogger } from '../core/logging.ts';
import { createMetricsRegistry, handleOpsRequest, listen } from '../core/ops/ops-server.ts';
import { Endpoint } from './endpoint.ts';
import { SubgraphClients } from './executor/subgraph-client.ts';
import { createHttpHandler } from './http/handler.ts';
import { prefersHtml } from './http/request.ts';
import { GatewayMetrics } from './metrics.ts';
import { SubgraphReadiness } from './readiness.ts';
import { SubscriptionManager } from './subscriptions/manager.ts';
import { UpstreamHub } from './subscriptions/upstream.ts';
import { createWebSocketEndpoint, type WebSocketEndpoint } from './subscriptions/ws-server.ts';
import type { EndpointOptions, GatewayOptions, GatewayPlugin, RunningGateway } from './types.ts';

export type * from './types.ts';

/**
 * The federation gateway (DESIGN.md §2, §5, §8): serves one or more supergraphs, each at its own
 * path, with GraphQL over HTTP (GET/POST) and graphql-ws (`graphql-transport-ws`) on that path,
 * plus `/healthz`, `/readyz` (every subgraph reachable) and `/metrics` (Prometheus).
 *
 * Planning is Apollo's (`@apollo/query-planner`, as in `@apollo/gateway`); execution, result
 * shaping and federated subscriptions are this project's (docs/adr/0003, docs/adr/0004).
 *
 * Hook points: `context` (authentication; forwarded headers), `validationRules`/`parseOptions`
 * (query limits), `plugins` (metrics, audit), `formatError` (masking), and `endpoints` to serve
 * a public and an internal schema from one process.
 */
export async function createGateway(options: GatewayOptions): Promise<RunningGateway> {
  const logger = options.logger ?? silentLogger;
  const registry = options.registry ?? createMetricsRegistry(true);
  const metrics = new GatewayMetrics(registry);
  const clients = new SubgraphClients(options.subgraphs);
  const endpointOptions = resolveEndpoints(options);
  const plugins: GatewayPlugin[] = [metricsPlugin(metrics), ...(options.plugins ?? [])];
  const endpoints = endpointOptions.map(
    (e) =>
      new Endpoint(e, {
        clients,
        context: options.context,
        plugins,
        operationCacheSize: options.operationCacheSize,
        logger,
      }),
  );

  const idPrefix = randomBytes(4).toString('hex');
  let requestCounter = 0;
  let connectionCounter = 0;
  const nextRequestId = () => `${idPrefix}-${(++requestCounter).toString(36)}`;
  const nextConnectionId = () => `${idPrefix}-ws-${(++connectionCounter).toString(36)}`;

  const subscriptionOptions = options.subscriptions ?? {};
  const hub = new UpstreamHub({
    logger,
    keepAliveMs: subscriptionOptions.upstreamKeepAliveMs ?? 12_000,
    retryAttempts: subscriptionOptions.upstreamRetryAttempts ?? 3,
    onCountChange: (subgraph, delta) => metrics.upstreamSubscriptions.inc({ subgraph }, delta),
  });
  const manager = new SubscriptionManager({
    hub,
    logger,
    maxBufferedEvents: subscriptionOptions.maxBufferedEvents ?? 1000,
    onDelivered: (endpoint) => metrics.subscriptionEvents.inc({ endpoint: endpoint.path }),
  });

  const httpHandlers = new Map<string, ReturnType<typeof createHttpHandler>>();
  const wsEndpoints = new Map<string, WebSocketEndpoint>();
  for (const endpoint of endpoints) {
    if (httpHandlers.has(endpoint.path)) throw new Error(`two endpoints at ${endpoint.path}`);
    httpHandlers.set(
      endpoint.path,
      createHttpHandler(endpoint, {
        logger,
        csrfPrevention: options.csrfPrevention ?? true,
        maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
        maxBatchSize: options.maxBatchSize ?? 1,
        deduplicateInflightQueries: options.deduplicateInflightQueries ?? true,
        nextRequestId,
      }),
    );
    wsEndpoints.set(
      endpoint.path,
      createWebSocketEndpoint({
        endpoint,
        manager,
        logger,
        maxPerConnection: subscriptionOptions.maxPerConnection ?? 100,
        keepAliveMs: subscriptionOptions.keepAliveMs ?? 12_000,
        nextConnectionId,
      }),
    );
  }

  const readiness = new SubgraphReadiness(() => {
    const all = new Map<string, { name: string; url: string }>();
    for (const endpoint of endpoints) {
      for (const [name, url] of endpoint.executor.supergraph.subgraphUrls) all.set(`${name} ${url}`, { name, url });
    }
    return [...all.values()];
  }, options.readinessCacheMs ?? 2000, undefined, logger);

  const graceMs = options.shutdownGraceMs ?? 5000;
  const retryAfter = String(Math.max(1, Math.ceil(graceMs / 1000)));
  let stopping = false;
  // The request scope (`currentRequestId()`) is for `formatError` hooks: without one, no request
  // pays for AsyncLocalStorage (Node 20 propagates it through every promise of the request).
  const scoped = endpointOptions.some((e) => e.formatError !== undefined);
  /** Requests being answered (GraphQL, routes, browser pages): a stop lets them finish. */
  const inflight = new Set<http.ServerResponse>();
  let drained: (() => void) | undefined;

  /** Counts `res` in flight until it is answered (or its connection is gone). */
  const track = (res: http.ServerResponse, work: () => Promise<void>, onError: (error: unknown) => void): void => {
    inflight.add(res);
    const done = () => {
      if (!inflight.delete(res)) return;
      if (inflight.size === 0) drained?.();
    };
    res.once('close', done);
    (scoped ? requestScope.run({ requestId: res.getHeader(REQUEST_ID_HEADER) as string }, work) : work())
      .catch(onError)
      .finally(done);
  };

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart < 0 ? url : url.slice(0, queryStart);
    const handler = httpHandlers.get(path);
    const route = handler ? undefined : options.routes?.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
    if (!handler && !route) {
      handleOps(req, res);
      return;
    }
    if (stopping) {
      refuseWhileStopping(res, handler !== undefined);
      return;
    }
    // One correlation id per request: the handler answers it in `x-request-id`, and masked errors
    // carry it (`currentRequestId()`), so a client's report finds the server-side log lines.
    const headerId = req.headers[REQUEST_ID_HEADER];
    const requestId = typeof headerId === 'string' && headerId.length > 0 && headerId.length <= 200 ? headerId : nextRequestId();
    req.headers[REQUEST_ID_HEADER] = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    if (handler && options.browserPage && req.method === 'GET' && prefersHtml(req.headers.accept)) {
      const page = options.browserPage;
      track(res, () => page(req, res, path), (error: unknown) => {
        logger.error({ err: error, path }, 'browser page failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    if (handler) {
      track(res, () => handler(req, res, queryStart < 0 ? '' : url.slice(queryStart + 1)), (error: unknown) => {
        logger.error({ err: error, reqId: requestId }, 'GraphQL HTTP handler failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    track(res, () => route!.handle(req, res, path), (error: unknown) => {
      logger.error({ err: error, path }, 'route failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal server error' }));
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  function handleOps(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ready = () => (stopping ? ['the gateway is shutting down'] : readiness.failing());
    handleOpsRequest(req, res, { registry, readiness: ready })
      .then((handled) => {
        if (!handled) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'not found' }));
        }
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'ops endpoint failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
  }

  /** During a stop: 503 with Retry-After, in the GraphQL error shape or the plain-HTTP one (docs/api.md). */
  function refuseWhileStopping(res: http.ServerResponse, graphql: boolean): void {
    const message = 'the gateway is shutting down; retry on another replica';
    const code = ProtocolErrorCode.SERVICE_UNAVAILABLE;
    const body = graphql
      ? JSON.stringify({ errors: [{ message, extensions: { code } }] }) + '\n'
      : JSON.stringify({ error: { code, message } });
    res.writeHead(503, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'retry-after': retryAfter,
      connection: 'close',
    });
    res.end(body);
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const ws = wsEndpoints.get(path);
    if (!ws) {
      socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    if (stopping) {
      const body = JSON.stringify({ errors: [{ message: 'the gateway is shutting down; retry on another replica', extensions: { code: ProtocolErrorCode.SERVICE_UNAVAILABLE } }] });
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${retryAfter}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    ws.handleUpgrade(req, socket, head);
  });

  const running = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  logger.info({ url: running.url, endpoints: endpoints.map((e) => e.path) }, 'gateway listening');

  let closing: Promise<void> | undefined;
  /**
   * Graceful stop (drain): `/readyz` turns 503 at once; new requests (new connections and kept-alive
   * ones alike) get 503 + Retry-After; WebSockets close with 1001 (going away); requests in flight get
   * their answers, each on a connection then closed, for at most `shutdownGraceMs`; then every
   * connection is cut and the subgraph clients closed.
   */
  async function drainAndClose(): Promise<void> {
    stopping = true;
    logger.info({ inflight: inflight.size, graceMs }, 'gateway draining');
    const timeout = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    // Answers still to be written end their connection, so clients do not reuse a closing socket.
    for (const res of inflight) if (!res.headersSent) res.setHeader('connection', 'close');
    const allDrained = inflight.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve));
    const sockets = (async () => {
      await Promise.all([...wsEndpoints.values()].map((ws) => ws.close()));
      manager.close();
      await hub.close();
    })();
    const inTime = await Promise.race([allDrained.then(() => true), timeout(graceMs).then(() => false)]);
    if (!inTime) logger.warn({ inflight: inflight.size, graceMs }, 'gateway drain timed out; cutting the requests still in flight');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([closed, timeout(Math.min(graceMs, 1000))]);
    server.closeAllConnections();
    await closed;
    await Promise.race([sockets, timeout(1000)]);
    await clients.close();
    logger.info('gateway stopped');
  }

  return {
    url: running.url,
    port: running.port,
    close() {
      closing ??= drainAndClose();
      return closing;
    },
  };
}

const REQUEST_ID_HEADER = 'x-request-id';
const requestScope = new AsyncLocalStorage<{ requestId: string }>();

/**
 * The correlation id of the HTTP request being answered (its `x-request-id`), for error masking and
 * logs, within a request to an endpoint with a `formatError` hook; undefined elsewhere (WebSocket messages,
 * subscription events).
 */
export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

function resolveEndpoints(options: GatewayOptions): EndpointOptions[] {
  const endpoints: EndpointOptions[] = [...(options.endpoints ?? [])];
  if (options.supergraphSdl) endpoints.unshift({ path: options.path ?? '/graphql', supergraphSdl: options.supergraphSdl });
  if (endpoints.length === 0) throw new Error('createGateway: give supergraphSdl or endpoints');
  return endpoints;
}

function metricsPlugin(metrics: GatewayMetrics): GatewayPlugin {
  return {
    operationComplete(event) {
      metrics.observeOperation(
        event.endpoint,
        event.operationName,
        event.operationType ?? 'unknown',
        event.durationMs / 1000,
        event.errors.length > 0 || event.status >= 400,
      );
    },
    subscriptionOpened(event) {
      metrics.openSubscriptions.inc({ endpoint: event.endpoint });
    },
    subscriptionClosed(event) {
      metrics.openSubscriptions.dec({ endpoint: event.endpoint });
    },
    subgraphFetch(event) {
      metrics.observeFetch(event.subgraph, event.durationMs / 1000, event.error !== undefined);
    },
  };
}
