/**
 * A tiny method + path router over node:http for the simulator (no framework): patterns like
 * `/labs/:labId/nodes/:nodeId`, replies as plain values, and CML-style error bodies.
 */
import type http from 'node:http';
import { CmlHttpError } from './errors.ts';

export interface RequestContext {
  req: http.IncomingMessage;
  method: string;
  /** Path below the API prefix, e.g. `/labs/<id>/start`. */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: Buffer;
  /** The authenticated user's id, or null on public routes. */
  userId: string | null;
}

export type Reply =
  | { status: 204 }
  | { status: number; json: unknown }
  | { status: number; text: string; contentType: string };

export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

export interface Route {
  method: string;
  pattern: string;
  handler: Handler;
  /** No bearer token needed (authentication, system_information). */
  public: boolean;
  regex: RegExp;
  names: string[];
}

export type Match = { route: Route; params: Record<string, string> } | { methodNotAllowed: true } | null;

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler, options: { public?: boolean } = {}): this {
    const names: string[] = [];
    const source = pattern
      .split('/')
      .map((segment) => {
        if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(segment.slice(1));
        return '([^/]+)';
      })
      .join('/');
    this.routes.push({ method, pattern, handler, public: options.public ?? false, regex: new RegExp(`^${source}/?$`), names });
    return this;
  }

  match(method: string, path: string): Match {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1] ?? '');
      });
      return { route, params };
    }
    return pathMatched ? { methodNotAllowed: true } : null;
  }
}

export const json = (json: unknown, status = 200): Reply => ({ status, json });
export const noContent = (): Reply => ({ status: 204 });

/** Writes a reply. */
export function send(res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  if (!('json' in reply) && !('text' in reply)) {
    res.writeHead(reply.status);
    res.end();
    return;
  }
  const body = 'json' in reply ? JSON.stringify(reply.json) : reply.text;
  const type = 'json' in reply ? 'application/json' : reply.contentType;
  res.writeHead(reply.status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** CML's ErrorResponse: `{code, description}` with `code` = the HTTP status. */
export const errorReply = (status: number, description: string): Reply => ({ status, json: { code: status, description } });

export const replyForError = (error: CmlHttpError): Reply => errorReply(error.status, error.description);

/** What nginx in front of the CML controller answers while the API services are not up. */
export const badGatewayReply = (): Reply => ({
  status: 502,
  contentType: 'text/html',
  text: '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
});

/** Reads the request body, at most `limit` bytes. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new CmlHttpError(413, `Request body larger than ${limit} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a JSON body or fails with 400. */
export function jsonBody(ctx: RequestContext): unknown {
  const text = ctx.body.toString('utf8');
  if (text.trim() === '') throw new CmlHttpError(400, 'A JSON request body is required.');
  try {
    return JSON.parse(text);
  } catch {
    throw new CmlHttpError(400, 'The request body is not valid JSON.');
  }
}

export const flag = (query: URLSearchParams, name: string): boolean => {
  const v = query.get(name);
  return v !== null && v !== 'false' && v !== '0';
};
