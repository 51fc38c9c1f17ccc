import { ErrorCode, ProtocolErrorCode } from '../core/errors.ts';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from '../core/logging.ts';
import { formatErrors, type HttpHint } from './executor/errors.ts';
import type { CorsOptions } from './http/cors.ts';
import { GatewayExecutor } from './executor/executor.ts';
import type { SubgraphClients } from './executor/subgraph-client.ts';
import { loadSupergraph } from './supergraph.ts';
import type {
  ContextFunction,
  ContextInput,
  EndpointOptions,
  GatewayContext,
  GatewayPlugin,
  OperationCompleteEvent,
  SubgraphFetchEvent,
  SubscriptionEvent,
  WebSocketEndpointLimits,
} from './types.ts';

const NO_FORWARDING: ContextFunction = () => ({ forwardHeaders: {} });

/** One served path at run time: its executor, context hook, observers and error formatting. */
export class Endpoint {
  readonly path: string;
  readonly executor: GatewayExecutor;
  private readonly contextFn: ContextFunction;
  private readonly plugins: readonly GatewayPlugin[];
  private readonly fetchObservers: readonly GatewayPlugin[];
  private readonly formatErrorFn: EndpointOptions['formatError'];
  private readonly logger: Logger;
  /** Cross-origin policy of this path's HTTP answers (none: no CORS headers). */
  readonly cors: CorsOptions | undefined;
  /** graphql-ws limits for this path (see `WebSocketEndpointLimits`). */
  readonly webSocket: Required<WebSocketEndpointLimits>;

  constructor(
    options: EndpointOptions,
    shared: {
      clients: SubgraphClients;
      context?: ContextFunction;
      plugins: readonly GatewayPlugin[];
      operationCacheSize?: number;
      logger: Logger;
    },
  ) {
    this.logger = shared.logger;
    if (!options.path.startsWith('/')) throw new Error(`endpoint path must start with "/": ${options.path}`);
    const supergraph = options.supergraph ?? (options.supergraphSdl ? loadSupergraph(options.supergraphSdl) : undefined);
    if (!supergraph) throw new Error(`endpoint ${options.path}: give supergraphSdl or supergraph`);
    this.path = options.path;
    this.executor = new GatewayExecutor({
      supergraph,
      clients: shared.clients,
      validationRules: options.validationRules,
      parseOptions: options.parseOptions,
      ...(options.parse ? { parse: options.parse } : {}),
      ...(options.operationCacheBytes !== undefined ? { operationCacheBytes: options.operationCacheBytes } : {}),
      introspection: options.introspection,
      operationCacheSize: shared.operationCacheSize,
    });
    this.contextFn = options.context ?? shared.context ?? NO_FORWARDING;
    this.plugins = [...shared.plugins, ...(options.plugins ?? [])];
    this.fetchObservers = this.plugins.filter((p) => p.subgraphFetch);
    this.formatErrorFn = options.formatError;
    this.cors = options.cors;
    this.webSocket = {
      maxPayloadBytes: options.webSocket?.maxPayloadBytes ?? 1024 * 1024,
      revalidateIntervalMs: options.webSocket?.revalidateIntervalMs ?? 10_000,
    };
  }

  /** Runs the context hook; a rejection becomes a GraphQLError with an HTTP status. */
  async context(input: ContextInput): Promise<GatewayContext> {
    const context = await this.contextFn(input);
    if (!context || typeof context !== 'object' || typeof context.forwardHeaders !== 'object') {
      throw new Error('the context hook must return an object with forwardHeaders');
    }
    return context;
  }

  format(errors: readonly unknown[]): { formatted: GraphQLFormattedError[]; http: HttpHint } {
    return formatErrors(errors, this.formatErrorFn);
  }

  /** Observer for subgraph fetches, or undefined when nobody listens. */
  readonly onFetch = (event: { serviceName: string; durationMs: number; error?: unknown }): void => {
    const fetchEvent: SubgraphFetchEvent = { subgraph: event.serviceName, durationMs: event.durationMs };
    if (event.error !== undefined) fetchEvent.error = event.error;
    for (const plugin of this.fetchObservers) this.safely(() => plugin.subgraphFetch!(fetchEvent));
  };

  get observesFetches(): boolean {
    return this.fetchObservers.length > 0;
  }

  operationComplete(event: OperationCompleteEvent): void {
    for (const plugin of this.plugins) if (plugin.operationComplete) this.safely(() => plugin.operationComplete!(event));
  }

  subscriptionOpened(event: SubscriptionEvent): void {
    for (const plugin of this.plugins) if (plugin.subscriptionOpened) this.safely(() => plugin.subscriptionOpened!(event));
  }

  subscriptionClosed(event: SubscriptionEvent): void {
    for (const plugin of this.plugins) if (plugin.subscriptionClosed) this.safely(() => plugin.subscriptionClosed!(event));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.logger.warn({ err: e, endpoint: this.path }, 'a gateway plugin hook threw');
    }
  }
}

/** The key under which a caller's requests may be shared (see `GatewayContext.sharingKey`). */
export function sharingKeyOf(context: GatewayContext): string {
  if (context.sharingKey !== undefined) return context.sharingKey;
  return JSON.stringify(Object.entries(context.forwardHeaders).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The headers to forward for work happening now on behalf of `context`. */
export async function currentForwardHeaders(context: GatewayContext | undefined): Promise<Record<string, string>> {
  if (!context) return {};
  return context.refreshForwardHeaders ? await context.refreshForwardHeaders() : context.forwardHeaders;
}

/** The HTTP status for an error thrown by the context hook. */
export function statusForContextError(error: unknown): number {
  if (error instanceof GraphQLError) {
    const http = error.extensions.http as { status?: unknown } | undefined;
    if (http && typeof http.status === 'number') return http.status;
    switch (error.extensions.code) {
      case ErrorCode.UNAUTHENTICATED:
        return 401;
      case ErrorCode.FORBIDDEN:
        return 403;
      case ErrorCode.BAD_USER_INPUT:
      case ProtocolErrorCode.BAD_REQUEST:
      case ErrorCode.QUERY_LIMIT_EXCEEDED:
        return 400;
    }
  }
  return 500;
}
