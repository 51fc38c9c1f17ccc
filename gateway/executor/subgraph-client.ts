import { STATUS_CODES } from 'node:http';
import { Pool } from 'undici';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/** What a subgraph answered (the GraphQL response body). */
export interface SubgraphResponse {
  data?: Record<string, unknown> | null;
  errors?: GraphQLFormattedError[];
  extensions?: Record<string, unknown>;
}

export interface SubgraphClientOptions {
  /** Most sockets kept open to one subgraph (undici Pool `connections`). Default 64. */
  connections?: number;
  /** Idle keep-alive of a socket, ms. Default 30 000. */
  keepAliveTimeoutMs?: number;
  /** Time allowed for the whole response (headers and body), ms. Default 30 000. */
  timeoutMs?: number;
}

/**
 * HTTP client for one subgraph: keep-alive sockets with a cap (undici Pool), JSON in and out. Error
 * semantics follow `RemoteGraphQLDataSource`: a non-2xx answer becomes an error `"<status>:
 * <statusText>"` with `extensions.response` (401 → UNAUTHENTICATED, 403 → FORBIDDEN), a 2xx answer
 * that is not a JSON object is an error too.
 */
export class SubgraphClient {
  readonly name: string;
  readonly url: string;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly timeoutMs: number;

  constructor(name: string, url: string, options: SubgraphClientOptions = {}) {
    this.name = name;
    this.url = url;
    const parsed = new URL(url);
    this.path = parsed.pathname + parsed.search;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.pool = new Pool(parsed.origin, {
      connections: options.connections ?? 64,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** POSTs a GraphQL request body (already JSON) with the given extra headers. */
  async post(body: string, headers?: Record<string, string>): Promise<SubgraphResponse> {
    const response = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers: headers
        ? { ...headers, 'content-type': 'application/json', accept: 'application/json' }
        : JSON_HEADERS,
      body,
    });
    const text = await response.body.text();
    const contentType = response.headers['content-type'];
    const isJson =
      typeof contentType === 'string' &&
      (contentType.startsWith('application/json') || contentType.startsWith('application/graphql-response+json'));
    let parsed: unknown = text;
    if (isJson) {
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        if (response.statusCode >= 200 && response.statusCode < 300) {
          throw new Error(`invalid JSON from subgraph "${this.name}": ${(e as Error).message}`);
        }
      }
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw this.errorFromResponse(response.statusCode, parsed);
    }
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
    return this.pool.close();
  }
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
