import { STATUS_CODES } from 'node:http';
import { Pool } from 'undici';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { Http1Pool } from './http1-pool.ts';

/** What a subgraph answered (the GraphQL response body). */
export interface SubgraphResponse {
  data?: Record<string, unknown> | null;
  errors?: GraphQLFormattedError[];
  extensions?: Record<string, unknown>;
}

export interface SubgraphClientOptions {
  /** Most sockets kept open to one subgraph. Default 64. */
  connections?: number;
  /**
   * An idle socket is closed after this many ms. Default 4 000: under the 5 s keep-alive of Node
   * servers, so the gateway closes idle sockets before the subgraph does.
   */
  keepAliveTimeoutMs?: number;
  /** Time allowed for the whole response (headers and body), ms. Default 30 000. */
  timeoutMs?: number;
  /**
   * Send identical query requests (same subgraph, body and forwarded headers) that are in flight
   * at the same time only once, and give each caller its own copy of the answer. Default true.
   * Mutations are never shared.
   */
  deduplicate?: boolean;
  /**
   * Headers that depend on the exact body sent, made once per request actually sent (shared answers
   * make none), after the sharing key is taken: e.g. the LCM gateway's identity binding
   * (`IdentitySigner.bind`, ADR 0008). Must be synchronous and cheap. Default: none.
   */
  bindRequest?: (body: string, headers: Readonly<Record<string, string>> | undefined) => Record<string, string> | undefined;
}

/**
 * HTTP client for one subgraph: keep-alive sockets with a cap, JSON in and out. `http://` subgraphs
 * use the gateway's lean HTTP/1.1 pool (`http1-pool.ts`), `https://` ones undici's Pool. Error
 * semantics follow `RemoteGraphQLDataSource`: a non-2xx answer becomes an error `"<status>:
 * <statusText>"` with `extensions.response` (401 → UNAUTHENTICATED, 403 → FORBIDDEN), and a 2xx
 * answer that is not a JSON object is an error too.
 */
export class SubgraphClient {
  readonly name: string;
  readonly url: string;
  private readonly path: string;
  private readonly http1: Http1Pool | undefined;
  private readonly undici: Pool | undefined;
  private readonly inflight: Map<string, Promise<RawAnswer>> | undefined;
  private readonly bindRequest: SubgraphClientOptions['bindRequest'];

  constructor(name: string, url: string, options: SubgraphClientOptions = {}) {
    this.name = name;
    this.url = url;
    const parsed = new URL(url);
    this.path = parsed.pathname + parsed.search;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const connections = options.connections ?? 64;
    const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 4_000;
    if (options.deduplicate !== false) this.inflight = new Map();
    this.bindRequest = options.bindRequest;
    if (parsed.protocol === 'http:') {
      this.http1 = new Http1Pool(parsed, { connections, idleTimeoutMs: keepAliveTimeoutMs, timeoutMs });
    } else {
      this.undici = new Pool(parsed.origin, {
        connections,
        keepAliveTimeout: keepAliveTimeoutMs,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    }
  }

  /**
   * POSTs a GraphQL request body (already JSON) with extra headers. `idempotent` (queries) allows
   * one resend when a kept-alive socket turns out to be closed before any answer arrived, and
   * sharing with an identical request in flight. `traceHeaders` (the fetch span's `traceparent`) are
   * sent but are not part of the sharing key: a request that shares another's answer sends nothing.
   */
  async post(body: string, headers?: Record<string, string>, idempotent = false, traceHeaders?: Record<string, string>): Promise<SubgraphResponse> {
    const block = this.http1 ? headerBlock(headers) : undefined;
    let answer: RawAnswer;
    if (idempotent && this.inflight) {
      const key = (block ?? JSON.stringify(headers ?? {})) + '\u0000' + body;
      let shared = this.inflight.get(key);
      if (!shared) {
        shared = this.send(body, headers, block, idempotent, traceHeaders);
        this.inflight.set(key, shared);
        const inflight = this.inflight;
        void shared.then(
          () => inflight.delete(key),
          () => inflight.delete(key),
        );
      }
      answer = await shared;
    } else {
      answer = await this.send(body, headers, block, idempotent, traceHeaders);
    }
    return this.interpret(answer);
  }

  private async send(
    body: string,
    headers: Record<string, string> | undefined,
    block: string | undefined,
    idempotent: boolean,
    traceHeaders?: Record<string, string>,
  ): Promise<RawAnswer> {
    const bound = this.bindRequest?.(body, headers);
    if (bound) {
      if (block !== undefined) block += headerBlock(bound).slice(BASE_HEADERS.length);
      else headers = { ...headers, ...bound };
    }
    if (traceHeaders) {
      if (block !== undefined) block += headerBlock(traceHeaders).slice(BASE_HEADERS.length);
      else headers = { ...headers, ...traceHeaders };
    }
    if (this.http1) {
      const response = await this.http1.post(this.path, block!, Buffer.from(body), idempotent);
      return { status: response.status, contentType: response.headers['content-type'], text: response.body.toString('utf8') };
    }
    const response = await this.undici!.request({
      path: this.path,
      method: 'POST',
      headers: headers ? { ...headers, ...JSON_HEADERS } : JSON_HEADERS,
      body,
    });
    const header = response.headers['content-type'];
    return { status: response.statusCode, contentType: Array.isArray(header) ? header[0] : header, text: await response.body.text() };
  }

  /** Parses an answer (each caller gets its own objects: the executor mutates them). */
  private interpret({ status, contentType, text }: RawAnswer): SubgraphResponse {
    const isJson =
      typeof contentType === 'string' &&
      (contentType.startsWith('application/json') || contentType.startsWith('application/graphql-response+json'));
    let parsed: unknown = text;
    if (isJson) {
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        if (status >= 200 && status < 300) {
          throw new Error(`invalid JSON from subgraph "${this.name}": ${(e as Error).message}`);
        }
      }
    }
    if (status < 200 || status > 299) throw this.errorFromResponse(status, parsed);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`Expected JSON response body, but received: ${String(parsed)}`);
    }
    return parsed as SubgraphResponse;
  }

  private errorFromResponse(status: number, body: unknown): GraphQLError {
    const statusText = STATUS_CODES[status] ?? '';
    const extensions: Record<string, unknown> = {
      response: { url: this.url, status, statusText, body },
    };
    if (status === 401) extensions.code = 'UNAUTHENTICATED';
    else if (status === 403) extensions.code = 'FORBIDDEN';
    return new GraphQLError(`${status}: ${statusText}`, { extensions });
  }

  close(): Promise<void> {
    return this.http1 ? this.http1.close() : this.undici!.close();
  }
}

interface RawAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

const BASE_HEADERS = 'content-type: application/json\r\naccept: application/json\r\n';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The request's header lines: JSON content type plus the forwarded headers (validated). */
function headerBlock(headers: Record<string, string> | undefined): string {
  if (!headers) return BASE_HEADERS;
  let block = BASE_HEADERS;
  for (const name in headers) {
    const value = headers[name]!;
    if (!TOKEN.test(name)) throw new Error(`invalid forwarded header name: ${JSON.stringify(name)}`);
    if (/[\r\n\0]/.test(value)) throw new Error(`invalid forwarded header value for ${name}`);
    const lower = name.toLowerCase();
    if (lower === 'content-type' || lower === 'content-length' || lower === 'host' || lower === 'connection' || lower === 'accept' || lower === 'transfer-encoding') continue;
    block += `${name}: ${value}\r\n`;
  }
  return block;
}

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json', accept: 'application/json' });

/** One client per routing URL, shared by every endpoint of a gateway process. */
export class SubgraphClients {
  private readonly clients = new Map<string, SubgraphClient>();

  constructor(private readonly options: SubgraphClientOptions = {}) {}

  get(name: string, url: string): SubgraphClient {
    const key = `${name} ${url}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new SubgraphClient(name, url, this.options);
      this.clients.set(key, client);
    }
    return client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
