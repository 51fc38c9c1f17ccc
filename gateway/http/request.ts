import type http from 'node:http';
import { gatewayError, GatewayErrorCode } from '../executor/errors.ts';

/**
 * GraphQL-over-HTTP request handling with Apollo Server's rules: GET and POST only, JSON bodies,
 * CSRF prevention, `accept` negotiation between `application/json` and
 * `application/graphql-response+json`, and the same 4xx answers for malformed requests.
 */
export interface GraphQLHttpRequest {
  query?: string;
  operationName?: string;
  variables?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

export const MEDIA_TYPES = {
  json: 'application/json; charset=utf-8',
  graphqlResponse: 'application/graphql-response+json; charset=utf-8',
} as const;

/** An error answered before execution, with its HTTP status. */
export class HttpRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toGraphQLError() {
    return gatewayError(GatewayErrorCode.BAD_REQUEST, this.message);
  }
}

const NON_PREFLIGHTED_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];
const PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'];

/** Blocks requests a browser could send cross-site without a preflight (Apollo Server's rule). */
export function checkCsrf(headers: http.IncomingHttpHeaders): void {
  const contentType = headers['content-type'];
  if (contentType !== undefined) {
    const essence = mediaEssence(contentType);
    if (essence === undefined || !NON_PREFLIGHTED_CONTENT_TYPES.includes(essence)) return;
  }
  for (const name of PREFLIGHT_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value.length > 0) return;
  }
  throw new HttpRequestError(
    400,
    `This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). Please either specify a ` +
      `'content-type' header (with a type that is not one of ${NON_PREFLIGHTED_CONTENT_TYPES.join(', ')}) or provide ` +
      `a non-empty value for one of the following headers: ${PREFLIGHT_HEADERS.join(', ')}\n`,
  );
}

function mediaEssence(value: string): string | undefined {
  const essence = value.split(';')[0]!.trim().toLowerCase();
  return /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/.test(essence) ? essence : undefined;
}

/**
 * The response content type for an `accept` header: JSON by default, GraphQL-response JSON when
 * the client prefers it; undefined when the client accepts neither (406).
 */
export function negotiateContentType(accept: string | undefined): string | undefined {
  if (!accept) return MEDIA_TYPES.json;
  let best: string | undefined;
  let bestQ = 0;
  let bestOrder = Infinity;
  for (const part of accept.split(',')) {
    const [rawType, ...params] = part.split(';');
    const type = rawType!.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const [k, v] = param.split('=');
      if (k?.trim() === 'q' && v !== undefined) q = Number(v.trim());
    }
    if (!(q > 0)) continue;
    const candidates: Array<[string, number]> = [];
    if (type === 'application/json' || type === 'application/*' || type === '*/*') candidates.push([MEDIA_TYPES.json, 0]);
    if (type === 'application/graphql-response+json' || type === 'application/*' || type === '*/*') {
      candidates.push([MEDIA_TYPES.graphqlResponse, 1]);
    }
    for (const [candidate, order] of candidates) {
      const specific = type.endsWith('*') ? 0 : 1;
      const rank = q + specific * 1e-6;
      if (rank > bestQ || (rank === bestQ && order < bestOrder)) {
        best = candidate;
        bestQ = rank;
        bestOrder = order;
      }
    }
  }
  return best;
}

/**
 * Whether an `accept` header asks for a web page rather than a GraphQL answer: text/html is accepted
 * with a higher preference than any JSON type (a browser's navigation, not `curl` or a client).
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [rawType, ...params] = part.split(';');
    const type = rawType!.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const [k, v] = param.split('=');
      if (k?.trim() === 'q' && v !== undefined) q = Number(v.trim());
    }
    if (!(q > 0)) continue;
    if (type === 'text/html') html = Math.max(html, q);
    if (type === 'application/json' || type === 'application/graphql-response+json' || type === 'application/*' || type === '*/*') json = Math.max(json, q);
  }
  return html > json;
}

/** How much of an over-limit body is read and thrown away before the 413 is sent. */
const DRAIN_BYTES = 1024 * 1024;
const DRAIN_MS = 2_000;

/**
 * Reads the request body up to `limit` bytes. Over the limit (declared by `content-length`, or
 * counted while a chunked body arrives) it rejects with a 413 that closes the connection. Cutting the
 * socket while the client still sends resets the connection (RST), and the client never reads the
 * answer; so the rest of the body is first read and thrown away — up to `DRAIN_BYTES` more, for at
 * most `DRAIN_MS` — and the 413 is sent once the body ended or that budget ran out. Nothing of an
 * over-limit body is kept.
 */
export function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpRequestError(413, `request body larger than ${limit} bytes`, { connection: 'close' });
    let chunks: Buffer[] = [];
    let size = 0;
    let drainUntil: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const refuse = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    const startDraining = (budget: number) => {
      chunks = [];
      drainUntil = budget;
      timer = setTimeout(refuse, DRAIN_MS);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (drainUntil !== undefined) {
        if (size > drainUntil) refuse();
        return;
      }
      if (size > limit) {
        startDraining(size + DRAIN_BYTES);
        return;
      }
      chunks.push(chunk);
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      if (declared > limit + DRAIN_BYTES) {
        refuse();
        return;
      }
      startDraining(declared);
    }
    req.on('data', onData);
    req.on('end', () => {
      if (drainUntil !== undefined) {
        if (timer) refuse();
        return;
      }
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Parses a POST body (JSON) into a GraphQL request, or into a batch (a JSON array of requests) when
 * `maxBatchSize` > 1 allows it.
 */
export function parsePostBody(
  contentType: string | undefined,
  body: string,
  maxBatchSize = 1,
): GraphQLHttpRequest | GraphQLHttpRequest[] {
  const essence = contentType ? mediaEssence(contentType) : undefined;
  let parsed: unknown;
  if (essence === 'application/json' || essence === 'application/graphql-response+json') {
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new HttpRequestError(400, 'The request body is not valid JSON.');
    }
  }
  if (Array.isArray(parsed)) {
    if (maxBatchSize <= 1) throw new HttpRequestError(400, 'Operation batching disabled.');
    if (parsed.length === 0) throw new HttpRequestError(400, 'A batch must contain at least one operation.');
    if (parsed.length > maxBatchSize) {
      throw new HttpRequestError(400, `A batch may contain at most ${maxBatchSize} operations; this one has ${parsed.length}.`);
    }
    return parsed.map(parseRequestObject);
  }
  return parseRequestObject(parsed);
}

function parseRequestObject(parsed: unknown): GraphQLHttpRequest {
  if (!isRecord(parsed) || Object.keys(parsed).length === 0) {
    throw new HttpRequestError(400, 'POST body missing, invalid Content-Type, or JSON object has no keys.');
  }
  const { query, variables, extensions, operationName } = parsed;
  if (query !== undefined && query !== null && typeof query !== 'string') {
    throw new HttpRequestError(400, 'GraphQL queries must be strings.');
  }
  if (typeof variables === 'string') {
    throw new HttpRequestError(
      400,
      '`variables` in a POST body should be provided as an object, not a recursively JSON-encoded string.',
    );
  }
  if (typeof extensions === 'string') {
    throw new HttpRequestError(
      400,
      '`extensions` in a POST body should be provided as an object, not a recursively JSON-encoded string.',
    );
  }
  if (extensions !== undefined && extensions !== null && !isRecord(extensions)) {
    throw new HttpRequestError(400, '`extensions` in a POST body must be an object if provided.');
  }
  if (variables !== undefined && variables !== null && !isRecord(variables)) {
    throw new HttpRequestError(400, '`variables` in a POST body must be an object if provided.');
  }
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') {
    throw new HttpRequestError(400, '`operationName` in a POST body must be a string if provided.');
  }
  const request: GraphQLHttpRequest = {};
  if (typeof query === 'string') request.query = query;
  if (typeof operationName === 'string') request.operationName = operationName;
  if (isRecord(variables)) request.variables = variables;
  if (isRecord(extensions)) request.extensions = extensions;
  return request;
}

/** Parses a GET request's search parameters into a GraphQL request. */
export function parseGetParams(headers: http.IncomingHttpHeaders, search: string): GraphQLHttpRequest {
  const contentType = headers['content-type'];
  if (contentType !== undefined && mediaEssence(contentType) !== 'application/json') {
    throw new HttpRequestError(415, 'GET requests may not have a content-type header other than application/json.');
  }
  const params = new URLSearchParams(search);
  const once = (name: string): string | undefined => {
    const values = params.getAll(name);
    if (values.length > 1) throw new HttpRequestError(400, `The '${name}' search parameter may only be specified once.`);
    return values[0];
  };
  const json = (name: string): Record<string, unknown> | undefined => {
    const value = once(name);
    if (value === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new HttpRequestError(400, `The ${name} search parameter contains invalid JSON.`);
    }
    if (!isRecord(parsed)) throw new HttpRequestError(400, `The ${name} search parameter should contain a JSON-encoded object.`);
    return parsed;
  };
  const request: GraphQLHttpRequest = {};
  const query = once('query');
  if (query !== undefined) request.query = query;
  const operationName = once('operationName');
  if (operationName !== undefined) request.operationName = operationName;
  const variables = json('variables');
  if (variables) request.variables = variables;
  const extensions = json('extensions');
  if (extensions) request.extensions = extensions;
  return request;
}
