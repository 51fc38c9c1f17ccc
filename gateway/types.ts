import type http from 'node:http';
import type { DocumentNode, GraphQLFormattedError, ParseOptions, ValidationRule } from 'graphql';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/logging.ts';
import type { OperationKind } from './executor/executor.ts';
import type { SubgraphClientOptions } from './executor/subgraph-client.ts';
import type { CorsOptions } from './http/cors.ts';
import type { LoadedSupergraph } from './supergraph.ts';

/**
 * The public types of the gateway server: its options and the hook points for authentication,
 * limits and observability (see `createGateway` in server.ts).
 */

/** What the per-request `context` hook sees. */
export type ContextInput =
  | { transport: 'http'; endpoint: string; request: http.IncomingMessage }
  | {
      transport: 'ws';
      endpoint: string;
      /** The WebSocket upgrade request. */
      request: http.IncomingMessage;
      /** The graphql-ws `connection_init` payload (e.g. `{ authorization: "Bearer …" }`). */
      connectionParams: Readonly<Record<string, unknown>> | undefined;
    };

/** What the `context` hook returns for a request (HTTP) or a connection (WebSocket). */
export interface GatewayContext {
  /**
   * Headers added to every subgraph request made for this request: HTTP fetches and, for
   * subscriptions, the upstream WebSocket's upgrade headers and `connectionParams`. Identical
   * subscriptions and in-flight queries are only shared between requests with equal headers.
   */
  forwardHeaders: Record<string, string>;
  /**
   * Who the caller is, for sharing: identical in-flight queries and identical subscriptions are
   * only shared between requests with the same key. Default: the forwarded headers themselves. Set
   * it when the headers change while the caller does not (e.g. a re-signed identity token).
   */
  sharingKey?: string;
  /**
   * Headers to forward now, for work that outlives the request: every operation on a WebSocket
   * connection and every subscription event's subgraph fetches (and upstream reconnections) call
   * it. Use it when forwarded credentials expire (e.g. a short-lived signed identity). Default:
   * `forwardHeaders` never change.
   */
  refreshForwardHeaders?: () => Promise<Record<string, string>> | Record<string, string>;
  /**
   * Checks again that the caller's credential holds (e.g. an API key not revoked since); throws
   * (UNAUTHENTICATED) when it does not. On a WebSocket connection it runs before every operation and
   * periodically (`EndpointOptions.webSocket.revalidateIntervalMs`); a throw closes it with 4403.
   */
  revalidate?: () => Promise<void>;
  /** When the caller's credential expires (ms since the epoch): a WebSocket connection closes then (4403). */
  expiresAt?: number;
  [key: string]: unknown;
}

/**
 * Authenticates a request and says what to forward. Reject (throw) with a GraphQLError to refuse
 * it: its `extensions.code` reaches the client, and the HTTP status is `extensions.http.status` if
 * set, else 401 for UNAUTHENTICATED, 403 for FORBIDDEN, 400 for BAD_USER_INPUT and 500 otherwise.
 * Over WebSocket it runs once per connection (at `connection_init`); a rejection closes the
 * connection with code 4403 and the error message as reason.
 */
export type ContextFunction = (input: ContextInput) => Promise<GatewayContext> | GatewayContext;

/** Reported after every query or mutation (HTTP or WebSocket). */
export interface OperationCompleteEvent {
  endpoint: string;
  transport: 'http' | 'ws';
  requestId: string;
  operationName: string | null;
  /** Undefined when the request failed before the operation was known (parse errors, bad body). */
  operationType: OperationKind | undefined;
  durationMs: number;
  /** HTTP status sent (200 for WebSocket results). */
  status: number;
  /** The errors sent to the client (already formatted). */
  errors: readonly GraphQLFormattedError[];
  /** True when the answer was shared with an identical in-flight request. */
  deduplicated: boolean;
  context: GatewayContext | undefined;
}

export interface SubscriptionEvent {
  endpoint: string;
  operationName: string | null;
  /** Identifies the client connection. */
  connectionId: string;
}

export interface SubgraphFetchEvent {
  subgraph: string;
  durationMs: number;
  error?: unknown;
}

/**
 * Observers of the gateway's work (metrics, tracing, audit). Hooks are synchronous and must not
 * throw (a throwing hook is logged and ignored).
 */
export interface GatewayPlugin {
  operationComplete?(event: OperationCompleteEvent): void;
  subscriptionOpened?(event: SubscriptionEvent): void;
  subscriptionClosed?(event: SubscriptionEvent): void;
  subgraphFetch?(event: SubgraphFetchEvent): void;
}

/** One GraphQL endpoint (path) of the gateway: a schema and its policies. */
export interface EndpointOptions {
  /** URL path for HTTP and WebSocket, e.g. `/graphql` or `/internal/graphql`. */
  path: string;
  /** The supergraph to serve (give this or `supergraph`). */
  supergraphSdl?: string;
  /** An already loaded supergraph (share one between endpoints). */
  supergraph?: LoadedSupergraph;
  /** Per-request hook; default: forward nothing. Overrides the gateway-wide `context`. */
  context?: ContextFunction;
  /** Extra graphql-js validation rules (depth, aliases, cost limits…). Run once per distinct query. */
  validationRules?: readonly ValidationRule[];
  /** Parser options (e.g. `maxTokens`). */
  parseOptions?: ParseOptions;
  /**
   * Parses client documents under the query limits, on every transport (e.g. gateway/limits
   * `parseWithLimits`); default graphql-js `parse` with `parseOptions`.
   */
  parse?: (query: string) => DocumentNode;
  /** Estimated bytes of prepared operations this path caches (default 32 MiB). */
  operationCacheBytes?: number;
  /** Cross-origin (CORS) policy of this path's HTTP answers; default none (no CORS headers). */
  cors?: CorsOptions;
  /** Allow schema introspection (default true). */
  introspection?: boolean;
  /** Observers for this endpoint, in addition to the gateway-wide plugins. */
  plugins?: readonly GatewayPlugin[];
  /** Final say over each error sent to clients (e.g. mask internal messages). */
  formatError?: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** graphql-ws connections on this path. */
  webSocket?: WebSocketEndpointLimits;
}

export interface WebSocketEndpointLimits {
  /** Largest message a client may send, bytes (default 1 MiB); a larger one closes the socket with 1009. */
  maxPayloadBytes?: number;
  /** How often every open connection's credential is checked again (`GatewayContext.revalidate`), ms (default 10 000; 0: never). */
  revalidateIntervalMs?: number;
}

export interface SubscriptionOptions {
  /** Most subscriptions one WebSocket connection may hold open (default 100). */
  maxPerConnection?: number;
  /** Ping interval towards clients, ms (graphql-ws keepAlive; default 12 000; 0 disables). */
  keepAliveMs?: number;
  /** Ping interval towards subgraphs, ms (default 12 000; 0 disables). */
  upstreamKeepAliveMs?: number;
  /** Reconnection attempts to a subgraph before its subscriptions end with an error (default 3). */
  upstreamRetryAttempts?: number;
  /** Events buffered for a slow client subscription before it is ended with an error (default 1000). */
  maxBufferedEvents?: number;
}

export interface GatewayOptions {
  /** Single-endpoint shorthand: serve this supergraph at `path` (default `/graphql`). */
  supergraphSdl?: string;
  /** Path for `supergraphSdl` (default `/graphql`). */
  path?: string;
  /** Several endpoints from one process (e.g. public `/graphql` and full `/internal/graphql`). */
  endpoints?: readonly EndpointOptions[];
  /** Port (default 0: a free port). */
  port?: number;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Default per-request hook for every endpoint. */
  context?: ContextFunction;
  /** Observers for every endpoint. */
  plugins?: readonly GatewayPlugin[];
  /** Structured logger (pino); default: silent. */
  logger?: Logger;
  /** Prometheus registry for `/metrics` (default: a new one with process metrics). */
  registry?: Registry;
  /** Subgraph HTTP client settings (socket cap, keep-alive, timeout). */
  subgraphs?: SubgraphClientOptions;
  /** Subscription settings. */
  subscriptions?: SubscriptionOptions;
  /**
   * Share the answer of identical queries in flight at the same time (same endpoint, body and
   * forwarded headers). Mutations and subscriptions are never shared. Default true.
   */
  deduplicateInflightQueries?: boolean;
  /** Apollo Server's CSRF prevention (default true). */
  csrfPrevention?: boolean;
  /** Most operations in one batched (JSON array) POST; 1 (default) refuses batches with 400. */
  maxBatchSize?: number;
  /** Largest accepted request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Prepared operations cached per endpoint (default 1000). */
  operationCacheSize?: number;
  /** How long `/readyz` may reuse a subgraph probe result, ms (default 2000). */
  readinessCacheMs?: number;
  /**
   * Extra HTTP routes served next to the GraphQL endpoints (e.g. `/admin/api-keys`, a dashboard):
   * a request whose path is `prefix` or below it goes to `handle`.
   */
  routes?: ReadonlyArray<{ prefix: string; handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> }>;
  /** How long `close()` waits for in-flight requests before cutting connections, ms (default 5000). */
  shutdownGraceMs?: number;
  /**
   * A page for a browser's GET of an endpoint path (`accept` prefers text/html over JSON), e.g.
   * GraphiQL. Other GETs and every POST of the endpoint are GraphQL over HTTP as always.
   */
  browserPage?: (req: http.IncomingMessage, res: http.ServerResponse, endpointPath: string) => Promise<void>;
}

/** A running gateway. */
export interface RunningGateway {
  /** `http://host:port` (endpoints are under it). */
  url: string;
  port: number;
  /** Graceful stop: refuse new work, finish in-flight requests, close subscriptions, free sockets. */
  close(): Promise<void>;
}
