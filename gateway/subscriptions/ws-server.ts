import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs, type FormattedExecutionResult } from 'graphql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
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
  const wss = new WebSocketServer({ noServer: true });
  const connections = new WeakMap<object, ConnectionState>();
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
      onSubscribe: (ctx, _id, payload) => {
        const state = stateOf(ctx);
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
        const raw = await endpoint.executor.execute(operation, variables, {
          headers: await currentForwardHeaders(connection.context),
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
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    async close() {
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
