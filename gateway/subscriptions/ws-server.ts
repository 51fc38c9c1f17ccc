import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs, type FormattedExecutionResult } from 'graphql';
import { WebSocketServer, type WebSocket } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { ErrorCode } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import { gatewayError, GatewayErrorCode, toGraphQLError } from '../executor/errors.ts';
import type { PreparedOperation } from '../executor/executor.ts';
import { currentForwardHeaders, type Endpoint } from '../endpoint.ts';
import type { GatewayContext } from '../types.ts';
import type { SubscriptionManager } from './manager.ts';

/**
 * graphql-ws (`graphql-transport-ws`) on an endpoint's path: queries, mutations and federated
 * subscriptions. The context hook runs once per connection at `connection_init`; each connection
 * may hold at most `maxPerConnection` operations at a time.
 *
 * The credential behind a connection is checked again (issue 12): before every operation (the
 * context's `revalidate`, cheap: the authenticator caches a few seconds), every
 * `endpoint.webSocket.revalidateIntervalMs` for every open connection (so a key revoked through
 * another replica closes connections here too: the key store is shared), and at the credential's
 * `expiresAt`. A connection whose credential no longer holds is closed with 4403; an operation that
 * meets it fails UNAUTHENTICATED. A message over `endpoint.webSocket.maxPayloadBytes` closes the
 * socket with 1009 (ws does it while reading the frame, before buffering more).
 */
export interface WebSocketEndpointOptions {
  endpoint: Endpoint;
  manager: SubscriptionManager;
  logger: Logger;
  maxPerConnection: number;
  keepAliveMs: number;
  nextConnectionId: () => string;
}

interface ConnectionState {
  id: string;
  context?: GatewayContext;
  socket?: WebSocket;
  /** Closes the connection at the credential's expiry. */
  expiryTimer?: NodeJS.Timeout;
}

interface OperationContextValue {
  operation: PreparedOperation;
  variables: Record<string, unknown> | undefined;
  connection: ConnectionState;
  started: number;
}

export interface WebSocketEndpoint {
  readonly wss: WebSocketServer;
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

export function createWebSocketEndpoint(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const { endpoint, manager, logger } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: endpoint.webSocket.maxPayloadBytes });
  const connections = new WeakMap<object, ConnectionState>();
  /** Connections past `connection_init` whose credential can be checked again. */
  const live = new Set<ConnectionState>();

  const refuse = (state: ConnectionState, error: unknown): GraphQLError => {
    const graphqlError = toGraphQLError(error);
    const code = graphqlError.extensions.code ?? GatewayErrorCode.INTERNAL_SERVER_ERROR;
    const reason = `${String(code)}: ${graphqlError.message}`;
    logger.debug({ connectionId: state.id, endpoint: endpoint.path, reason }, 'WebSocket connection closed: credential no longer valid');
    forget(state);
    state.socket?.close(4403, truncateReason(reason));
    return graphqlError;
  };
  const forget = (state: ConnectionState): void => {
    live.delete(state);
    if (state.expiryTimer) clearTimeout(state.expiryTimer);
  };
  /** Throws (after closing the connection with 4403) when the connection's credential no longer holds. */
  const revalidate = async (state: ConnectionState): Promise<void> => {
    const check = state.context?.revalidate;
    if (!check) return;
    try {
      await check();
    } catch (error) {
      throw refuse(state, error);
    }
  };
  const sweep = (): void => {
    for (const state of live) revalidate(state).catch(() => undefined);
  };
  const interval = endpoint.webSocket.revalidateIntervalMs;
  const sweeper = interval > 0 ? setInterval(sweep, interval) : undefined;
  sweeper?.unref();
  const stateOf = (ctx: { extra: object }): ConnectionState => {
    let state = connections.get(ctx.extra);
    if (!state) {
      state = { id: options.nextConnectionId() };
      connections.set(ctx.extra, state);
    }
    return state;
  };

  const server = useServer(
    {
      onConnect: async (ctx) => {
        const state = stateOf(ctx);
        try {
          state.context = await endpoint.context({
            transport: 'ws',
            endpoint: endpoint.path,
            request: ctx.extra.request,
            connectionParams: ctx.connectionParams,
          });
          state.socket = ctx.extra.socket;
          if (state.context.revalidate) live.add(state);
          const expiresAt = state.context.expiresAt;
          if (typeof expiresAt === 'number') {
            const expired = () => refuse(state, gatewayError(ErrorCode.UNAUTHENTICATED, 'the credential of this connection expired'));
            const delay = expiresAt - Date.now();
            if (delay <= 0) {
              expired();
              return false;
            }
            state.expiryTimer = setTimeout(expired, Math.min(delay, 2 ** 31 - 1));
            state.expiryTimer.unref();
          }
          return true;
        } catch (error) {
          const graphqlError = toGraphQLError(error);
          const code = graphqlError.extensions.code ?? GatewayErrorCode.INTERNAL_SERVER_ERROR;
          const reason = `${String(code)}: ${graphqlError.message}`;
          logger.debug({ connectionId: state.id, endpoint: endpoint.path, reason }, 'WebSocket connection refused');
          ctx.extra.socket.close(4403, truncateReason(reason));
          return false;
        }
      },
      onClose: (ctx) => {
        forget(stateOf(ctx));
      },
      onSubscribe: async (ctx, _id, payload) => {
        const state = stateOf(ctx);
        try {
          await revalidate(state);
        } catch (error) {
          return formatAsErrors(endpoint, [toGraphQLError(error)]);
        }
        if (Object.keys(ctx.subscriptions).length > options.maxPerConnection) {
          return formatAsErrors(endpoint, [
            gatewayError(
              GatewayErrorCode.SUBSCRIPTION_LIMIT_EXCEEDED,
              `Too many operations on this connection: at most ${options.maxPerConnection} may be open at once.`,
            ),
          ]);
        }
        const preparation = endpoint.executor.prepare(payload.query, payload.operationName);
        if (!preparation.ok) return formatAsErrors(endpoint, preparation.errors);
        const operation = preparation.operation;
        const variables = payload.variables ?? undefined;
        const variableErrors = endpoint.executor.checkVariables(operation, variables);
        if (variableErrors) return formatAsErrors(endpoint, variableErrors);
        const contextValue: OperationContextValue = { operation, variables, connection: state, started: performance.now() };
        const args: ExecutionArgs = {
          schema: endpoint.executor.supergraph.apiGraphQLSchema,
          document: operation.document,
          operationName: operation.operationName,
          variableValues: variables,
          contextValue,
        };
        return args;
      },
      execute: async (args) => {
        const { operation, variables, connection, started } = args.contextValue as OperationContextValue;
        let headers: Record<string, string>;
        try {
          // Re-checks the credential (a refresh re-authenticates): an operation on a connection
          // whose key was revoked meanwhile fails here rather than run.
          await revalidate(connection);
          headers = await currentForwardHeaders(connection.context);
        } catch (error) {
          const graphqlError = connection.socket?.readyState === 1 ? refuse(connection, error) : toGraphQLError(error);
          return { errors: endpoint.format([graphqlError]).formatted } as never;
        }
        const raw = await endpoint.executor.execute(operation, variables, {
          headers,
          onFetch: endpoint.observesFetches ? endpoint.onFetch : undefined,
        });
        const result: FormattedExecutionResult = {};
        const formatted = raw.errors ? endpoint.format(raw.errors).formatted : [];
        if (raw.errors) result.errors = formatted;
        if (raw.data !== undefined) result.data = raw.data;
        if (raw.extensions) result.extensions = raw.extensions;
        endpoint.operationComplete({
          endpoint: endpoint.path,
          transport: 'ws',
          requestId: connection.id,
          operationName: operation.operationName,
          operationType: operation.kind,
          durationMs: performance.now() - started,
          status: 200,
          errors: formatted,
          deduplicated: false,
          context: connection.context,
        });
        return result as never;
      },
      subscribe: (args) => {
        const { operation, variables, connection } = args.contextValue as OperationContextValue;
        const event = { endpoint: endpoint.path, operationName: operation.operationName, connectionId: connection.id };
        endpoint.subscriptionOpened(event);
        return manager.open({
          endpoint,
          operation,
          variables,
          context: connection.context ?? { forwardHeaders: {} },
          onClose: () => endpoint.subscriptionClosed(event),
        }) as never;
      },
      // Results are formatted by the gateway already: send them as they are.
      onNext: (_ctx, _id, _payload, _args, result) => result as FormattedExecutionResult,
    },
    wss,
    options.keepAliveMs,
  );

  return {
    wss,
    handleUpgrade(req, socket, head) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        wss.emit('connection', ws, req);
        // graphql-ws answers a socket error with a console.error and 1011; ws has already closed
        // the socket with the right code (1009 for a message over maxPayload): log it, quietly.
        ws.removeAllListeners('error');
        ws.on('error', (err: Error) => {
          logger.debug({ endpoint: endpoint.path, err: err.message }, 'WebSocket error');
          if (ws.readyState === ws.OPEN) ws.close(1011, 'Internal server error');
        });
      });
    },
    async close() {
      if (sweeper) clearInterval(sweeper);
      for (const state of live) forget(state);
      for (const socket of wss.clients) socket.close(1001, 'Going away');
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** graphql-ws sends `error.toJSON()`: give it errors whose JSON is the gateway's formatted form. */
function formatAsErrors(endpoint: Endpoint, errors: readonly GraphQLError[]): GraphQLError[] {
  const { formatted } = endpoint.format(errors);
  return formatted.map((f) => {
    const error = new GraphQLError(f.message);
    error.toJSON = () => f;
    return error;
  });
}

function truncateReason(reason: string): string {
  // A WebSocket close reason is at most 123 bytes.
  let out = reason;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}
