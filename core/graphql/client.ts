import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { Agent } from 'undici';
import { ErrorCode, LcmError, type ErrorCode as Code } from '../errors.ts';
import { inSpan, SpanKind, traceparentOf, tracing } from '../telemetry/tracing.ts';

/**
 * The controllers' GraphQL client for `/internal/graphql`: typed documents (graphql-codegen), queries
 * and mutations over HTTP with retries on transient failures only, subscriptions over graphql-ws that
 * reconnect and resubscribe by themselves.
 */
export interface GraphQLClientOptions {
  /** HTTP endpoint, e.g. http://127.0.0.1:4000/internal/graphql (WebSocket: same URL, ws scheme). */
  url: string;
  /** Bearer token with the `internal` scope. */
  token?: string;
  /** Extra headers (for HTTP and as WebSocket connectionParams). */
  headers?: Record<string, string>;
  /** Attempts for a transient failure (network error, 502/503/504); default 4. */
  maxAttempts?: number;
  /** First retry delay in ms, doubled per attempt with jitter; default 100. */
  retryBaseMs?: number;
  /** Per-request timeout in ms; default 15,000. */
  timeoutMs?: number;
}

export interface GraphQLErrorShape {
  message: string;
  path?: Array<string | number>;
  extensions?: { code?: string; [k: string]: unknown };
}

/** A GraphQL error response, carrying the first error's code as an LcmError code when it is one. */
export class GraphQLRequestError extends LcmError {
  constructor(readonly errors: GraphQLErrorShape[]) {
    const first = errors[0];
    const code = (Object.values(ErrorCode) as string[]).includes(String(first?.extensions?.code))
      ? (first?.extensions?.code as Code)
      : ErrorCode.INTERNAL_SERVER_ERROR;
    super(code, first?.message ?? 'GraphQL error', { errors });
    this.name = 'GraphQLRequestError';
  }
}

const TRANSIENT_STATUS = new Set([502, 503, 504]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GraphQLClient {
  private readonly dispatcher = new Agent({ connections: 16, keepAliveTimeout: 30_000 });
  private ws: WsClient | undefined;
  private readonly printed = new WeakMap<DocumentNode, string>();

  constructor(private readonly options: GraphQLClientOptions) {}

  private headers(traceparent?: string): Record<string, string> {
    return {
      ...(traceparent ? { traceparent } : {}),
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
      ...this.options.headers,
    };
  }

  private text(doc: DocumentNode): string {
    let s = this.printed.get(doc);
    if (!s) {
      s = print(doc);
      this.printed.set(doc, s);
    }
    return s;
  }

  /**
   * Run a query or mutation; resolves with `data` or throws GraphQLRequestError. With tracing on, a
   * CLIENT span under the active one (a controller's reconcile), its `traceparent` sent to the gateway.
   */
  request<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables?: V): Promise<R> {
    if (!tracing.on) return this.send(doc, variables, undefined);
    const definition = doc.definitions[0];
    const name = definition?.kind === 'OperationDefinition' ? `${definition.operation} ${definition.name?.value ?? 'anonymous'}` : 'graphql';
    return inSpan('lcm-graphql-client', name, { kind: SpanKind.CLIENT, attributes: { 'server.address': this.options.url } }, () =>
      this.send(doc, variables, traceparentOf()),
    );
  }

  private async send<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables: V | undefined, traceparent: string | undefined): Promise<R> {
    const body = JSON.stringify({ query: this.text(doc), variables: variables ?? {} });
    const attempts = this.options.maxAttempts ?? 4;
    const base = this.options.retryBaseMs ?? 100;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let res: Response;
      try {
        res = await fetch(this.options.url, {
          method: 'POST',
          headers: this.headers(traceparent),
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
          // @ts-expect-error undici's dispatcher option is not in the DOM fetch types
          dispatcher: this.dispatcher,
        });
      } catch (e) {
        lastError = e; // connection refused/reset, timeout: transient
        if (attempt < attempts) await sleep(base * 2 ** (attempt - 1) * (0.5 + Math.random()));
        continue;
      }
      if (TRANSIENT_STATUS.has(res.status)) {
        lastError = new Error(`HTTP ${res.status}`);
        await res.arrayBuffer().catch(() => undefined);
        if (attempt < attempts) await sleep(base * 2 ** (attempt - 1) * (0.5 + Math.random()));
        continue;
      }
      const json = (await res.json().catch(() => undefined)) as { data?: R; errors?: GraphQLErrorShape[] } | undefined;
      if (!json) throw new LcmError(ErrorCode.INTERNAL_SERVER_ERROR, `HTTP ${res.status} without a GraphQL body`);
      if (json.errors?.length) throw new GraphQLRequestError(json.errors);
      if (json.data === undefined || json.data === null) throw new LcmError(ErrorCode.INTERNAL_SERVER_ERROR, 'response without data');
      return json.data;
    }
    throw new LcmError(ErrorCode.INTERNAL_SERVER_ERROR, `request failed after ${attempts} attempts: ${String((lastError as Error)?.message ?? lastError)}`);
  }

  private wsClient(): WsClient {
    this.ws ??= createClient({
      url: this.options.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: () => ({
        ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        ...this.options.headers,
      }),
      lazy: true,
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: async (retries) => {
        await sleep(Math.min(5_000, 100 * 2 ** retries) * (0.5 + Math.random()));
      },
    });
    return this.ws;
  }

  /**
   * Subscribe; `onData` gets each event's data, `onError` each event or stream error. The subscription
   * survives server restarts (reconnect + resubscribe). Returns a function that unsubscribes.
   */
  subscribe<R, V extends Record<string, unknown>>(
    doc: TypedDocumentNode<R, V>,
    variables: V | undefined,
    handlers: { onData(data: R): void; onError?(error: Error): void },
  ): () => void {
    return this.wsClient().subscribe<R>(
      { query: this.text(doc), variables: variables ?? {} },
      {
        next: (result) => {
          if (result.errors?.length) handlers.onError?.(new GraphQLRequestError(result.errors as GraphQLErrorShape[]));
          if (result.data) handlers.onData(result.data);
        },
        error: (e) => handlers.onError?.(e instanceof Error ? e : new Error(JSON.stringify(e))),
        complete: () => {},
      },
    );
  }

  async close(): Promise<void> {
    await this.ws?.dispose();
    await this.dispatcher.close();
  }
}
