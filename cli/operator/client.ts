import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { env } from '../../core/config.ts';
import { CliError, ExitCode, exitCodeOf } from './errors.ts';

/**
 * The operator CLI's view of a running LCM: the gateway at LCM_URL, called as a partner would (fetch
 * for queries, mutations and the `/admin/api-keys` routes; graphql-ws for subscriptions), with the
 * bearer token LCM_TOKEN (else LCM_ADMIN_TOKEN, else `.lcm/admin-token` in the working directory).
 * Every failure becomes a CliError with the exit code the contract gives it.
 */
export interface Target {
  url: string;
  token: string | undefined;
  /** Where the token came from, for error hints. */
  tokenSource: string;
}

export function resolveTarget(dir = join(process.cwd(), '.lcm')): Target {
  const config = env();
  const url = (config.LCM_URL ?? `http://127.0.0.1:${config.LCM_GATEWAY_PORT}`).replace(/\/+$/, '');
  if (config.LCM_TOKEN) return { url, token: config.LCM_TOKEN, tokenSource: 'LCM_TOKEN' };
  if (config.LCM_ADMIN_TOKEN) return { url, token: config.LCM_ADMIN_TOKEN, tokenSource: 'LCM_ADMIN_TOKEN' };
  const file = join(dir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return { url, token, tokenSource: file };
  }
  return { url, token: undefined, tokenSource: 'none' };
}

interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; [k: string]: unknown };
}

export type Endpoint = 'public' | 'internal';

export class OperatorClient {
  private readonly printed = new WeakMap<DocumentNode, string>();

  constructor(readonly target: Target) {}

  endpointUrl(endpoint: Endpoint): string {
    return `${this.target.url}${endpoint === 'internal' ? '/internal/graphql' : '/graphql'}`;
  }

  private text(doc: DocumentNode): string {
    let s = this.printed.get(doc);
    if (!s) this.printed.set(doc, (s = print(doc)));
    return s;
  }

  private headers(json: boolean): Record<string, string> {
    return {
      ...(json ? { 'content-type': 'application/json' } : {}),
      accept: 'application/json',
      ...(this.target.token ? { authorization: `Bearer ${this.target.token}` } : {}),
    };
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
    } catch (e) {
      throw unreachable(this.target.url, e);
    }
  }

  /** A query or mutation; its data, or a CliError for the first GraphQL error. */
  async request<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables: V, endpoint: Endpoint = 'public'): Promise<R> {
    const res = await this.send(this.endpointUrl(endpoint), {
      method: 'POST',
      headers: this.headers(true),
      body: JSON.stringify({ query: this.text(doc), variables }),
    });
    const body = (await res.json().catch(() => undefined)) as { data?: R | null; errors?: GraphQLErrorShape[] } | undefined;
    if (!body) throw new CliError(`HTTP ${res.status} from ${this.endpointUrl(endpoint)} without a GraphQL answer`, ExitCode.OTHER);
    const first = body.errors?.[0];
    if (first) throw this.graphqlError(first, endpoint);
    if (body.data === undefined || body.data === null) throw new CliError('the gateway answered without data', ExitCode.OTHER);
    return body.data;
  }

  private graphqlError(error: GraphQLErrorShape, endpoint: Endpoint): CliError {
    const code = String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
    let message = `${error.message} (${code})`;
    if (code === 'UNAUTHENTICATED' && !this.target.token) message += '; set LCM_TOKEN (or run where .lcm/admin-token is)';
    if (code === 'FORBIDDEN' && endpoint === 'internal') {
      message = `this command needs a token with the \`internal\` scope (the admin token has it): ${message}`;
    }
    return new CliError(message, exitCodeOf(code), code);
  }

  /** A call to the gateway's plain-HTTP admin routes (`/admin/api-keys`), JSON in and out. */
  async rest<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.send(`${this.target.url}${path}`, {
      method,
      headers: this.headers(body !== undefined),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json().catch(() => undefined)) as (T & { error?: { code?: string; message?: string } }) | undefined;
    if (res.ok && json) return json;
    const code = json?.error?.code ?? (res.status === 401 ? 'UNAUTHENTICATED' : res.status === 403 ? 'FORBIDDEN' : res.status === 404 ? 'NOT_FOUND' : `HTTP_${res.status}`);
    let message = `${json?.error?.message ?? `HTTP ${res.status} from ${path}`} (${code})`;
    if (code === 'FORBIDDEN') message = `managing API keys needs a token with the \`admin\` scope: ${message}`;
    if (code === 'UNAUTHENTICATED' && !this.target.token) message += '; set LCM_TOKEN (or run where .lcm/admin-token is)';
    throw new CliError(message, exitCodeOf(code), code);
  }

  /**
   * A graphql-ws client on `ws(s)://…/graphql` that reconnects (and resubscribes) until disposed; a
   * refused connection (bad token) is not retried and reported through `onFatal`.
   */
  wsClient(handlers: { onConnected?(wasRetry: boolean): void; onFatal(error: CliError): void }, endpoint: Endpoint = 'public'): WsClient {
    const url = this.endpointUrl(endpoint).replace(/^http/, 'ws');
    return createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: () => (this.target.token ? { authorization: `Bearer ${this.target.token}` } : {}),
      lazy: true,
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: (e) => {
        const fatal = refusal(e);
        if (fatal) handlers.onFatal(fatal);
        return !fatal;
      },
      retryWait: async (retries) => {
        await new Promise((r) => setTimeout(r, Math.min(3_000, 100 * 2 ** retries)));
      },
      on: { connected: (_socket, _payload, wasRetry) => handlers.onConnected?.(wasRetry) },
    });
  }

  subscriptionText(doc: DocumentNode): string {
    return this.text(doc);
  }
}

/** A WebSocket close the server meant (4401/4403: the token was refused) as a CliError; else undefined. */
function refusal(e: unknown): CliError | undefined {
  if (!e || typeof e !== 'object' || !('code' in e)) return undefined;
  const code = (e as { code: unknown }).code;
  if (code !== 4401 && code !== 4403) return undefined;
  const reason = String((e as { reason?: unknown }).reason ?? '');
  const m = /^([A-Z_]+): (.*)$/.exec(reason);
  const gqlCode = m?.[1] ?? 'UNAUTHENTICATED';
  return new CliError(`${m?.[2] ?? (reason || 'the gateway refused the connection')} (${gqlCode})`, exitCodeOf(gqlCode), gqlCode);
}

function unreachable(url: string, e: unknown): CliError {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const why = cause?.code === 'ECONNREFUSED' ? 'connection refused' : (cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e));
  return new CliError(`cannot reach LCM at ${url} (${why}); is it running? start it with \`npm start\`, or point LCM_URL at it`, ExitCode.OTHER);
}
