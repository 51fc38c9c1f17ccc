import http from 'node:http';
import { ApolloServer, HeaderMap, type BaseContext } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { defaultFieldResolver, GraphQLError, parse, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { Counter, Histogram, type Registry } from 'prom-client';
import { IDENTITY_HEADER, type Identity, type IdentitySigner } from '../auth/identity.ts';
import { SubgraphLimitsSchema, entitiesCapPlugin, formatSubgraphLimitError, subgraphValidationRules, type SubgraphLimits } from '../subgraph/limits.ts';
import { ErrorCode, LcmError, ProtocolErrorCode } from '../errors.ts';
import type { Logger } from '../logging.ts';
import { createMetricsRegistry, handleOpsRequest, listen, type RunningServer } from '../ops/ops-server.ts';
import { createFormatError } from './errors.ts';
import { subscribeWithCursors } from './subscribe-with-cursors.ts';
import { context, contextFromHeaders, inSpan, SpanKind, trace, tracing } from '../telemetry/tracing.ts';

/**
 * The HTTP + WebSocket server every subgraph runs on: GraphQL over HTTP (Apollo Server 5, its
 * framework-neutral `executeHTTPGraphQLRequest`), GraphQL subscriptions over graphql-ws on the same
 * path, and `/healthz`, `/readyz`, `/metrics`. Every GraphQL call must carry the gateway-signed
 * identity header, bound to the request's body (`x-lcm-identity-binding`, ADR 0008); calls without
 * them are refused with UNAUTHENTICATED, and every call is held to the subgraph limits
 * (`core/subgraph/limits.ts`: body size, tokens, depth, `_entities` representations).
 */
export interface SubgraphServerOptions<Ctx extends BaseContext> {
  name: string;
  typeDefs: string;
  /** The subgraph's resolvers (typed by codegen in each subgraph). */
  resolvers: object;
  signer: IdentitySigner;
  /** Builds the per-operation context (fresh DataLoaders) for a verified identity. */
  context(identity: Identity): Ctx;
  logger: Logger;
  port?: number;
  host?: string;
  path?: string;
  registry?: Registry;
  readiness?: () => Promise<string[]>;
  /** What one request may hold (defaults: `DEFAULT_SUBGRAPH_LIMITS`). */
  limits?: Partial<SubgraphLimits>;
  /** Called when the server stops (close stores, buses). */
  onClose?: () => Promise<void>;
}

export interface SubgraphServer extends RunningServer {
  schema: GraphQLSchema;
  graphqlUrl: string;
}

class BodyTooLarge extends LcmError {
  constructor(limit: number) {
    super(ErrorCode.QUERY_LIMIT_EXCEEDED, `request body larger than ${limit} bytes`, { limit: 'bodyBytes' });
  }
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      reject(new BodyTooLarge(limit));
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge(limit));
        // Answer 413 (and close: `connection: close`) rather than cut the socket without a word.
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startSubgraphServer<Ctx extends BaseContext>(options: SubgraphServerOptions<Ctx>): Promise<SubgraphServer> {
  const path = options.path ?? '/graphql';
  const limits = SubgraphLimitsSchema.parse(options.limits ?? {});
  const registry = options.registry ?? createMetricsRegistry(true, { subgraph: options.name });
  const operations = new Histogram({
    name: 'lcm_subgraph_operation_seconds',
    help: 'GraphQL operation latency in the subgraph',
    labelNames: ['operation', 'type'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const errorsTotal = new Counter({
    name: 'lcm_subgraph_errors_total',
    help: 'GraphQL errors by code',
    labelNames: ['code'],
    registers: [registry],
  });

  const schema = buildSubgraphSchema([{ typeDefs: parse(options.typeDefs), resolvers: options.resolvers as never }]);
  const tracerName = `lcm-subgraph-${options.name}`;
  if (tracing.on) traceRootResolvers(schema, tracerName);
  const httpServer = http.createServer();
  // Upgrades are handed over by hand (noServer) rather than `{ server }`: ws would re-emit the HTTP
  // server's errors, and graphql-ws prints those with a stack, e.g. a port in use at listen.
  const wsServer = new WebSocketServer({ noServer: true, path, maxPayload: limits.maxBodyBytes });
  httpServer.on('upgrade', (req, socket, head) => {
    wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit('connection', ws, req));
  });
  const wsCleanup = useServer(
    {
      schema,
      // Each event's bus cursor in `extensions.cursor`, for resuming (ADR 0003).
      subscribe: subscribeWithCursors,
      onConnect: async (ctx) => {
        const token = ctx.connectionParams?.[IDENTITY_HEADER];
        try {
          await options.signer.verify(typeof token === 'string' ? token : undefined);
          return true;
        } catch {
          return false;
        }
      },
      context: async (ctx) => {
        const token = ctx.connectionParams?.[IDENTITY_HEADER];
        return options.context(await options.signer.verify(typeof token === 'string' ? token : undefined));
      },
    },
    wsServer,
    12_000,
  );

  const formatError = createFormatError(options.logger);
  const apollo = new ApolloServer<Ctx>({
    schema,
    introspection: true,
    logger: options.logger,
    validationRules: subgraphValidationRules(limits),
    parseOptions: { maxTokens: limits.maxTokens },
    formatError: (formatted, error) => {
      const out = formatError(formatSubgraphLimitError(formatted), error);
      errorsTotal.inc({ code: String(out.extensions?.code ?? 'UNKNOWN') });
      return out;
    },
    plugins: [
      ApolloServerPluginInlineTraceDisabled(),
      entitiesCapPlugin<Ctx>(limits),
      ApolloServerPluginDrainHttpServer({ httpServer }),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
      {
        async requestDidStart() {
          const started = process.hrtime.bigint();
          // The server span of this request (when traced) is named after the operation once known.
          const span = tracing.on ? trace.getSpan(context.active()) : undefined;
          return {
            ...(span
              ? {
                  async didResolveOperation(rc) {
                    const type = rc.operation?.operation ?? 'unknown';
                    span.updateName(`${options.name} ${type} ${rc.operationName ?? 'anonymous'}`);
                    span.setAttributes({ 'graphql.operation.type': type, 'graphql.operation.name': rc.operationName ?? '' });
                  },
                }
              : {}),
            async willSendResponse(rc) {
              const seconds = Number(process.hrtime.bigint() - started) / 1e9;
              operations.observe({ operation: rc.operationName ?? 'anonymous', type: rc.operation?.operation ?? 'unknown' }, seconds);
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      if (await handleOpsRequest(req, res, { registry, ...(options.readiness ? { readiness: options.readiness } : {}) })) return;
      const url = new URL(req.url ?? '/', 'http://subgraph');
      if (url.pathname !== path) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not found' }));
        return;
      }
      if (req.method !== 'POST') {
        // The identity is bound to the body: a GET's query (in the URL) could not be.
        res.writeHead(405, { 'content-type': 'application/json', allow: 'POST' });
        res.end(JSON.stringify({ errors: [{ message: 'subgraphs accept POST only', extensions: { code: ProtocolErrorCode.BAD_REQUEST } }] }));
        return;
      }
      const headers = new HeaderMap();
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      }
      const raw = await readBody(req, limits.maxBodyBytes);
      let body: unknown = raw;
      if (raw && (headers.get('content-type') ?? '').includes('application/json')) {
        try {
          body = JSON.parse(raw);
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ errors: [{ message: 'request body is not valid JSON', extensions: { code: ProtocolErrorCode.BAD_REQUEST } }] }));
          return;
        }
      }
      const result = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search: url.search, body },
        context: async () => {
          try {
            return options.context(await options.signer.verifyRequest(req.headers, raw));
          } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            throw new GraphQLError(message, {
              extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401 } },
            });
          }
        },
      });
      const outHeaders: Record<string, string> = {};
      for (const [k, v] of result.headers) outHeaders[k] = v;
      res.writeHead(result.status ?? 200, outHeaders);
      if (result.body.kind === 'complete') {
        res.end(result.body.string);
      } else {
        for await (const chunk of result.body.asyncIterator) res.write(chunk);
        res.end();
      }
    } catch (e) {
      if (e instanceof LcmError) options.logger.debug({ err: e }, 'request refused');
      else options.logger.error({ err: e }, 'request failed');
      if (!res.headersSent) res.writeHead(e instanceof BodyTooLarge ? 413 : e instanceof LcmError ? 400 : 500, { 'content-type': 'application/json', ...(e instanceof BodyTooLarge ? { connection: 'close' } : {}) });
      const extensions = e instanceof LcmError ? { extensions: { ...e.details, code: e.code } } : {};
      res.end(JSON.stringify({ errors: [{ message: e instanceof LcmError ? e.message : 'internal server error', ...extensions }] }));
    }
  };
  httpServer.on('request', (req, res) => {
    if (!tracing.on || req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics') {
      void handle(req, res);
      return;
    }
    // A SERVER span continuing the caller's trace (the gateway's fetch span, by `traceparent`).
    void inSpan(
      tracerName,
      `${options.name} ${req.method ?? 'GET'} ${req.url ?? '/'}`,
      { kind: SpanKind.SERVER, parent: contextFromHeaders(req.headers), attributes: { 'lcm.subgraph': options.name, 'http.request.method': req.method ?? 'GET' } },
      async (span) => {
        await handle(req, res);
        span.setAttribute('http.response.status_code', res.statusCode);
      },
    );
  });

  const running = await listen(httpServer, options.port ?? 0, options.host ?? '127.0.0.1');
  return {
    ...running,
    schema,
    graphqlUrl: `${running.url}${path}`,
    async close() {
      await apollo.stop();
      wsServer.close();
      await options.onClose?.();
    },
  };
}

/**
 * Each root field (Query and Mutation, `_entities` included) resolves in a span of its own, the parent
 * of the repository and publish spans below it. Only root fields: a span per nested field would cost
 * more than the resolvers themselves.
 */
function traceRootResolvers(schema: GraphQLSchema, tracerName: string): void {
  for (const type of [schema.getQueryType(), schema.getMutationType()]) {
    if (!type) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve: GraphQLFieldResolver<unknown, unknown> = field.resolve ?? defaultFieldResolver;
      const name = `${type.name}.${field.name}`;
      field.resolve = (source, args, ctx, info) =>
        tracing.on
          ? inSpan(tracerName, `resolve ${name}`, { attributes: { 'graphql.field.path': name } }, async () => (await resolve(source, args, ctx, info)) as unknown)
          : resolve(source, args, ctx, info);
    }
  }
}
