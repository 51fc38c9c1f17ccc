import type http from 'node:http';

/**
 * Cross-origin resource sharing for a GraphQL path, off unless configured (`LCM_CORS_ORIGINS`): a
 * browser page on an allowed origin may call the API; every other origin gets no CORS header, so its
 * browser keeps the answer from the page. The allowed origin is reflected exactly (never `*`), with
 * `Vary: Origin` so a shared cache keeps answers for different origins apart. Credentials are bearer
 * tokens in `Authorization`, which a page sets itself: no cookies, so no `Allow-Credentials`.
 */
export interface CorsOptions {
  /** Origins allowed to call, exactly as browsers send them (`https://app.example.com`). */
  origins: readonly string[];
  /** How long a browser may reuse a preflight answer, seconds (default 600). */
  maxAgeSeconds?: number;
}

export const CORS_ALLOWED_METHODS = 'GET, POST';
export const CORS_ALLOWED_HEADERS = 'authorization, content-type';

/** An origin as browsers send it: scheme, host and port, lowercase, no path or trailing slash. */
export function normalizeOrigin(origin: string): string {
  return new URL(origin).origin;
}

/** The CORS headers for an actual (non-preflight) answer to `req`; empty when its origin is not allowed. */
export function corsHeaders(cors: CorsOptions | undefined, req: http.IncomingMessage): Record<string, string> {
  const origin = allowedOrigin(cors, req);
  if (!origin) return cors ? { vary: 'Origin' } : {};
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}

/**
 * Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`) when CORS is on: 204 with the
 * allowed origin, methods, headers and max-age for an allowed origin, 204 without any of them for
 * another (the browser then refuses the call). Returns false when the request is not a preflight or
 * CORS is off, so the caller answers it as any other request.
 */
export function answerPreflight(cors: CorsOptions | undefined, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (!cors || req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
  const origin = allowedOrigin(cors, req);
  const headers: Record<string, string | number> = { vary: 'Origin', 'content-length': 0 };
  if (origin) {
    Object.assign(headers, {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': CORS_ALLOWED_METHODS,
      'access-control-allow-headers': CORS_ALLOWED_HEADERS,
      'access-control-max-age': cors.maxAgeSeconds ?? 600,
    });
  }
  res.writeHead(204, headers);
  res.end();
  return true;
}

function allowedOrigin(cors: CorsOptions | undefined, req: http.IncomingMessage): string | undefined {
  const origin = req.headers.origin;
  if (!cors || typeof origin !== 'string') return undefined;
  return cors.origins.includes(origin) ? origin : undefined;
}
