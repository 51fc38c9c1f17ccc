import { ProtocolErrorCode } from '../core/errors.ts';
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
  }, options.readinessCacheMs ?? 2000);

  let stopping = false;
  let inflight = 0;
  let drained: (() => void) | undefined;

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart < 0 ? url : url.slice(0, queryStart);
    const handler = httpHandlers.get(path);
    if (handler && options.browserPage && req.method === 'GET' && prefersHtml(req.headers.accept)) {
      options.browserPage(req, res, path).catch((error: unknown) => {
        logger.error({ err: error, path }, 'browser page failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    if (handler) {
      if (stopping) {
        res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ errors: [{ message: 'the gateway is shutting down', extensions: { code: ProtocolErrorCode.SERVICE_UNAVAILABLE } }] }));
        return;
      }
      inflight++;
      handler(req, res, queryStart < 0 ? '' : url.slice(queryStart + 1))
        .catch((error: unknown) => {
          logger.error({ err: error }, 'GraphQL HTTP handler failed');
          if (!res.headersSent) res.writeHead(500).end();
        })
        .finally(() => {
          inflight--;
          if (inflight === 0) drained?.();
        });
      return;
    }
    const route = options.routes?.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
    if (route) {
      route.handle(req, res, path).catch((error: unknown) => {
        logger.error({ err: error, path }, 'route failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal server error' }));
      });
      return;
    }
    handleOpsRequest(req, res, { registry, readiness: () => readiness.failing() })
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
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const ws = wsEndpoints.get(path);
    if (!ws || stopping) {
      socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    ws.handleUpgrade(req, socket, head);
  });

  const running = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  logger.info({ url: running.url, endpoints: endpoints.map((e) => e.path) }, 'gateway listening');

  return {
    url: running.url,
    port: running.port,
    async close() {
      if (stopping) return;
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.all([...wsEndpoints.values()].map((ws) => ws.close()));
      manager.close();
      await hub.close();
      const grace = options.shutdownGraceMs ?? 5000;
      const timeout = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
      if (inflight > 0) await Promise.race([new Promise<void>((resolve) => (drained = resolve)), timeout(grace)]);
      // Answered keep-alive connections are idle now; give them a moment to end, then cut the rest.
      server.closeIdleConnections();
      await Promise.race([closed, timeout(Math.min(grace, 1000))]);
      server.closeAllConnections();
      await closed;
      await clients.close();
      logger.info('gateway stopped');
    },
  };
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
