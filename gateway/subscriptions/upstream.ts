import { createClient, type Client } from 'graphql-ws';
import type { GraphQLFormattedError } from 'graphql';
import WebSocket from 'ws';
import type { Logger } from '../../core/logging.ts';
import { GatewayErrorCode, isPublicErrorCode, withoutInternalExtensions } from '../executor/errors.ts';
import type { SubgraphResponse } from '../executor/subgraph-client.ts';

/**
 * The gateway's subscriptions to subgraphs (graphql-ws, `graphql-transport-ws`). A subgraph serves
 * graphql-ws on its routing URL with the ws:// scheme. One WebSocket per (subgraph URL, forwarded
 * headers) multiplexes every subscription with those headers, and one upstream subscription per
 * (URL, headers, operation, variables) is shared by everyone listening to it: it opens with the
 * first listener and is completed when the last one leaves.
 *
 * Resuming: a request with `resumeVariable` remembers the cursor of the last event received
 * (`extensions.cursor`) in that variable; when the socket drops and graphql-ws re-subscribes on a new
 * one, it sends the subscription with it, so the subgraph replays what was published in between
 * (ADR 0003, "Resuming"). A cursor the subgraph no longer holds ends the subscription with its error.
 */
export interface UpstreamRequest {
  serviceName: string;
  /** ws:// or wss:// URL of the subgraph. */
  wsUrl: string;
  query: string;
  operationName?: string;
  variables: Record<string, unknown>;
  /** Forwarded headers: sent on the WebSocket upgrade and as `connectionParams`. */
  headers: Record<string, string>;
  /** Who the headers belong to: subscriptions are only shared within one key. */
  sharingKey: string;
  /** Fresh headers for `connectionParams` when the socket reconnects (credentials may expire). */
  currentHeaders?: () => Promise<Record<string, string>>;
  /** The variable (of type String, bound to the root field's `after`) that resumes after a cursor. */
  resumeVariable?: string;
}

export interface UpstreamListener {
  next(event: SubgraphResponse): void;
  /** The upstream subscription ended: completed by the subgraph, or failed with `errors`. */
  end(errors?: GraphQLFormattedError[]): void;
}

export interface UpstreamHubOptions {
  logger: Logger;
  /** Ping interval, ms (0 disables). */
  keepAliveMs: number;
  /** Reconnection attempts before subscriptions fail. */
  retryAttempts: number;
  /** Called when the number of open upstream subscriptions of a subgraph changes. */
  onCountChange?: (serviceName: string, delta: number) => void;
}

interface SharedClient {
  client: Client;
  refs: number;
}

interface Stream {
  listeners: Set<UpstreamListener>;
  dispose: () => void;
  clientKey: string;
  serviceName: string;
}

export class UpstreamHub {
  private readonly clients = new Map<string, SharedClient>();
  private readonly streams = new Map<string, Stream>();

  constructor(private readonly options: UpstreamHubOptions) {}

  /** Number of upstream subscriptions currently open (tests and metrics). */
  get openCount(): number {
    return this.streams.size;
  }

  /** Listens to an upstream subscription (opening it if needed); returns the function that stops listening. */
  subscribe(request: UpstreamRequest, listener: UpstreamListener): () => void {
    const clientKey = request.wsUrl + '\u0000' + request.sharingKey;
    const streamKey =
      clientKey + '\u0000' + (request.operationName ?? '') + '\u0000' + request.query + '\u0000' + JSON.stringify(request.variables);
    let stream = this.streams.get(streamKey);
    if (!stream) stream = this.open(streamKey, clientKey, request);
    stream.listeners.add(listener);
    const opened = stream;
    return () => {
      if (!opened.listeners.delete(listener)) return;
      if (opened.listeners.size === 0 && this.streams.get(streamKey) === opened) {
        this.streams.delete(streamKey);
        opened.dispose();
        this.release(opened);
      }
    };
  }

  private open(streamKey: string, clientKey: string, request: UpstreamRequest): Stream {
    const shared = this.client(clientKey, request);
    const stream: Stream = { listeners: new Set(), dispose: () => {}, clientKey, serviceName: request.serviceName };
    this.streams.set(streamKey, stream);
    this.options.onCountChange?.(request.serviceName, 1);
    const finish = (errors?: GraphQLFormattedError[]) => {
      if (this.streams.get(streamKey) !== stream) return;
      this.streams.delete(streamKey);
      this.release(stream);
      for (const listener of [...stream.listeners]) listener.end(errors);
      stream.listeners.clear();
    };
    // graphql-ws sends this very object again when it re-subscribes after a reconnection: the resume
    // variable set here is what the subgraph gets then.
    const variables: Record<string, unknown> = { ...request.variables };
    const resumeVariable = request.resumeVariable;
    stream.dispose = shared.client.subscribe<Record<string, unknown>, Record<string, unknown>>(
      {
        query: request.query,
        ...(request.operationName ? { operationName: request.operationName } : {}),
        variables,
      },
      {
        next: (value) => {
          const cursor = value.extensions?.['cursor'];
          if (resumeVariable && typeof cursor === 'string') variables[resumeVariable] = cursor;
          for (const listener of stream.listeners) listener.next(value as SubgraphResponse);
        },
        error: (error) => {
          this.options.logger.warn({ subgraph: request.serviceName, err: error }, 'upstream subscription failed');
          finish(upstreamErrors(request.serviceName, error));
        },
        complete: () => finish(),
      },
    );
    return stream;
  }

  private client(key: string, request: UpstreamRequest): SharedClient {
    let shared = this.clients.get(key);
    if (!shared) {
      const headers = request.headers;
      class ForwardingWebSocket extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers });
        }
      }
      const client = createClient({
        url: request.wsUrl,
        webSocketImpl: ForwardingWebSocket,
        connectionParams: request.currentHeaders ? () => request.currentHeaders!() : { ...headers },
        lazy: true,
        lazyCloseTimeout: 0,
        keepAlive: this.options.keepAliveMs,
        retryAttempts: this.options.retryAttempts,
        retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** retries, 2000))),
        shouldRetry: () => true,
      });
      shared = { client, refs: 0 };
      this.clients.set(key, shared);
    }
    shared.refs++;
    return shared;
  }

  private release(stream: Stream): void {
    this.options.onCountChange?.(stream.serviceName, -1);
    const shared = this.clients.get(stream.clientKey);
    if (!shared) return;
    shared.refs--;
    if (shared.refs <= 0) {
      this.clients.delete(stream.clientKey);
      void shared.client.dispose();
    }
  }

  /** Completes every upstream subscription and closes every subgraph WebSocket. */
  async close(): Promise<void> {
    for (const [key, stream] of [...this.streams]) {
      this.streams.delete(key);
      stream.dispose();
      this.release(stream);
      for (const listener of stream.listeners) listener.end();
    }
    await Promise.all([...this.clients.values()].map((c) => c.client.dispose()));
    this.clients.clear();
  }
}

function isFormattedErrors(value: unknown): value is GraphQLFormattedError[] {
  return Array.isArray(value) && value.every((e) => e && typeof e === 'object' && typeof e.message === 'string');
}

/**
 * What a client may read of why the upstream ended: the close code and reason of a WebSocket close
 * frame (our subgraph's words), otherwise only that the connection was lost — never a raw error, which
 * may name internal addresses (`connect ECONNREFUSED 127.0.0.1:4003`).
 */
export function describeUpstreamEnd(error: unknown): string {
  if (isFormattedErrors(error)) return error.map((e) => e.message).join('; ');
  if (error && typeof error === 'object' && 'code' in error && typeof (error as { code: unknown }).code === 'number') {
    const { code, reason } = error as { code: number; reason?: unknown };
    // 4500 is graphql-ws's "internal server error": its reason is the error's message, not for clients.
    const readable = code !== 4500 && typeof reason === 'string' && reason;
    return `its socket closed (${code}${readable ? `: ${reason}` : ''})`;
  }
  return 'the connection to it was lost';
}

/**
 * What a client sees when its subscription's upstream fails: a subgraph's error with a public code
 * (an expired cursor, a missing scope…) as the subgraph said it, less any internal extension; anything
 * else as SUBSCRIPTION_UPSTREAM_CLOSED without the subgraph's words, which may be an internal error's.
 */
export function upstreamErrors(serviceName: string, error: unknown): GraphQLFormattedError[] {
  if (isFormattedErrors(error)) {
    return error.map((e) =>
      isPublicErrorCode(e.extensions?.code)
        ? { ...e, extensions: { ...withoutInternalExtensions(e.extensions ?? {}), serviceName } }
        : {
            message: `The subscription to subgraph "${serviceName}" ended: it failed`,
            extensions: { code: GatewayErrorCode.SUBSCRIPTION_UPSTREAM_CLOSED, serviceName },
          },
    );
  }
  return [
    {
      message: `The subscription to subgraph "${serviceName}" ended: ${describeUpstreamEnd(error)}`,
      extensions: { code: GatewayErrorCode.SUBSCRIPTION_UPSTREAM_CLOSED, serviceName },
    },
  ];
}
