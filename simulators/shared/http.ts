import type http from 'node:http';
import type { z } from 'zod';

/**
 * A tiny JSON router for the simulators (node:http only): path patterns with `:name` parameters,
 * JSON bodies with a size limit and a content-type check, zod validation with every problem listed,
 * and one error shape per server. Unknown paths get 404, known paths with another method 405.
 */

/** An error with an HTTP status and a stable code; the router turns it into the server's error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Stable error codes of the simulators' HTTP APIs (aligned with `core/errors.ts` where they overlap). */
export const SimErrorCode = {
  BAD_REQUEST: 'BAD_USER_INPUT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  INVALID_TRANSITION: 'INVALID_TRANSITION',
  CONFLICT: 'CONFLICT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** An error injected by a fault (`POST /_sim/faults`). */
  INJECTED_FAULT: 'INJECTED_FAULT',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
} as const;

export const badRequest = (message: string, details: Record<string, unknown> = {}): HttpError =>
  new HttpError(400, SimErrorCode.BAD_REQUEST, message, details);
export const notFoundError = (what: string, id: string): HttpError =>
  new HttpError(404, SimErrorCode.NOT_FOUND, `${what} ${id} not found`, { id });
export const invalidTransitionError = (what: string, id: string, from: string, to: string): HttpError =>
  new HttpError(409, SimErrorCode.INVALID_TRANSITION, `${what} ${id} cannot go from ${from} to ${to}`, { id, from, to });

/** What a handler returns: a status, an optional JSON body and extra headers. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RequestContext {
  req: http.IncomingMessage;
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The request body parsed as JSON (`undefined` when empty). Read once, cached. */
  json(): Promise<unknown>;
}

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

/** Turns an error into a response body; each simulator keeps the error format of the API it imitates. */
export type ErrorFormatter = (error: HttpError, ctx: { method: string; path: string }) => {
  contentType: string;
  body: unknown;
};

/** The default error body: `{ "error": { "code", "message", ...details } }`. */
export const defaultErrorFormatter: ErrorFormatter = (error) => ({
  contentType: 'application/json',
  body: { error: { code: error.code, message: error.message, ...error.details } },
});

export interface RouterOptions {
  maxBodyBytes?: number;
  formatError?: ErrorFormatter;
  /** Runs before every matched handler (e.g. injected latency, authentication). */
  before?: (ctx: RequestContext) => Promise<void> | void;
  /** Called with unexpected (non-HttpError) errors, which become 500. */
  onUnexpectedError?: (error: unknown, ctx: { method: string; path: string }) => void;
}

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

const JSON_TYPES = /^(application\/json|text\/json|application\/[\w.+-]*\+json)\s*(;|$)/i;

export class JsonRouter {
  private readonly routes: Route[] = [];
  private readonly maxBodyBytes: number;
  private readonly formatError: ErrorFormatter;

  constructor(private readonly options: RouterOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.formatError = options.formatError ?? defaultErrorFormatter;
  }

  /** Register `handler` for `method` on `pattern` (`/a/:id/b`). */
  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method: method.toUpperCase(), segments: splitPath(pattern), handler });
    return this;
  }
  get(pattern: string, handler: Handler): this {
    return this.add('GET', pattern, handler);
  }
  post(pattern: string, handler: Handler): this {
    return this.add('POST', pattern, handler);
  }
  put(pattern: string, handler: Handler): this {
    return this.add('PUT', pattern, handler);
  }
  patch(pattern: string, handler: Handler): this {
    return this.add('PATCH', pattern, handler);
  }
  delete(pattern: string, handler: Handler): this {
    return this.add('DELETE', pattern, handler);
  }

  /** Handle one request; always answers. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const where = { method, path };
    try {
      const { route, params } = this.match(method, path);
      const ctx = makeContext(req, method, path, params, url.searchParams, this.maxBodyBytes);
      if (this.options.before) await this.options.before(ctx);
      const reply = await route.handler(ctx);
      writeReply(res, reply);
    } catch (e) {
      let error: HttpError;
      if (e instanceof HttpError) {
        error = e;
      } else {
        this.options.onUnexpectedError?.(e, where);
        error = new HttpError(500, SimErrorCode.INTERNAL, 'internal error in the simulator');
      }
      const { contentType, body } = this.formatError(error, where);
      const headers: Record<string, string> = { 'content-type': contentType };
      if (typeof error.details.allow === 'string') headers.allow = error.details.allow;
      writeReply(res, { status: error.status, body, headers });
    }
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } {
    const segments = splitPath(path);
    const allowed = new Set<string>();
    for (const route of this.routes) {
      const params = matchSegments(route.segments, segments);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
      allowed.add(route.method);
    }
    if (allowed.size > 0) {
      const allow = [...allowed].sort().join(', ');
      throw new HttpError(405, SimErrorCode.METHOD_NOT_ALLOWED, `${method} is not allowed on ${path}; allowed: ${allow}`, {
        allow,
      });
    }
    throw new HttpError(404, SimErrorCode.NOT_FOUND, `no route for ${method} ${path}`);
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const a = actual[i] as string;
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(a);
      } catch {
        return undefined;
      }
    } else if (p !== a) {
      return undefined;
    }
  }
  return params;
}

function makeContext(
  req: http.IncomingMessage,
  method: string,
  path: string,
  params: Record<string, string>,
  query: URLSearchParams,
  maxBodyBytes: number,
): RequestContext {
  let body: Promise<unknown> | undefined;
  return {
    req,
    method,
    path,
    params,
    query,
    json() {
      body ??= readJsonBody(req, maxBodyBytes);
      return body;
    },
  };
}

/** Read the whole body as text, refusing more than `maxBytes` (413). */
export async function readBodyText(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new HttpError(413, SimErrorCode.PAYLOAD_TOO_LARGE, `request body over ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) throw new HttpError(413, SimErrorCode.PAYLOAD_TOO_LARGE, `request body over ${maxBytes} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJsonBody(req: http.IncomingMessage, maxBytes: number): Promise<unknown> {
  const text = await readBodyText(req, maxBytes);
  if (text.trim().length === 0) return undefined;
  const type = req.headers['content-type'];
  if (type !== undefined && !JSON_TYPES.test(type)) {
    throw new HttpError(415, SimErrorCode.UNSUPPORTED_MEDIA_TYPE, `expected a JSON body (application/json), got ${type}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** Validate `value` with `schema`; a failure is a 400 listing every problem with its field path. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what = 'request body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ field: i.path.join('.') || '(root)', message: i.message }));
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  return throwIt(badRequest(`invalid ${what}: ${summary}`, { issues }));
}

function throwIt(e: Error): never {
  throw e;
}

/** Parse a path parameter as a positive integer (400 otherwise). */
export function intParam(ctx: RequestContext, name: string): number {
  const raw = ctx.params[name] ?? '';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw badRequest(`path parameter ${name} must be a positive integer, got "${raw}"`, { field: name });
  }
  return n;
}

export function writeReply(res: http.ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  headers['content-type'] ??= 'application/json';
  headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(payload);
}

export const ok = (body: unknown, status = 200): Reply => ({ status, body });
export const noContent = (): Reply => ({ status: 204 });
