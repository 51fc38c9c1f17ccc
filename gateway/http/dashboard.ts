import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type http from 'node:http';
import { gzipSync } from 'node:zlib';
import { LcmError } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import { DIST_DIR, ensureDashboardBuilt } from '../../dashboard/build.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { GatewayOptions } from '../types.ts';

/**
 * What a person sees (docs/adr/0013-dashboard.md), all served from dashboard/dist/ (built by
 * `npm install`, or here at start when missing or stale):
 *   GET /                          the live dashboard
 *   GET /dashboard/assets/<file>   its scripts and styles, and GraphiQL's
 *   GET /dashboard/whoami          what a bearer token is: {active, subject, kind, scopes} or
 *                                  {active: false, code, message} (200 either way, as RFC 7662
 *                                  token introspection answers, so the page logs no failed request)
 *   GET /graphql, /internal/graphql from a browser (`accept` preferring text/html): GraphiQL
 *                                  (`graphiqlPage`, wired through the gateway's `browserPage`)
 * No CDN: the pages load only these assets; a Content-Security-Policy says so.
 */
export interface DashboardOptions {
  authenticator: Authenticator;
  logger: Logger;
  /** Where the built assets are (default dashboard/dist). */
  distDir?: string;
  /** Makes sure the assets are built (default: build dashboard/dist when missing or stale). */
  ensureBuilt?: () => Promise<void>;
}

type Route = NonNullable<GatewayOptions['routes']>[number];
type BrowserPage = NonNullable<GatewayOptions['browserPage']>;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
};

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // GraphiQL's components set inline styles.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  etag: string;
  type: string;
}

export interface DashboardRoutes {
  routes: Route[];
  /** GraphiQL for a browser's GET of a GraphQL endpoint path. */
  graphiql: BrowserPage;
  /** Settles when the assets are ready (or failed to build). */
  ready: Promise<void>;
}

export function dashboardRoutes(options: DashboardOptions): DashboardRoutes {
  const dist = options.distDir ?? DIST_DIR;
  let buildError: unknown;
  const ready = (options.ensureBuilt ?? ensureDashboardBuilt)().catch((error: unknown) => {
    buildError = error;
    options.logger.error({ err: error }, 'the dashboard could not be built (npm run build:dashboard)');
  });
  const cache = new Map<string, Promise<Asset | undefined>>();

  const load = (name: string): Promise<Asset | undefined> => {
    let asset = cache.get(name);
    if (!asset) {
      asset = (async () => {
        await ready;
        let body: Buffer;
        try {
          body = await readFile(join(dist, name));
        } catch {
          return undefined;
        }
        const type = CONTENT_TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
        const compressible = /^(text|application\/json)/.test(type) && body.length > 1024;
        return { body, gzip: compressible ? gzipSync(body) : undefined, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, type };
      })();
      cache.set(name, asset);
      // A missing file may appear with a later build: do not remember misses.
      void asset.then((a) => a ?? cache.delete(name));
    }
    return asset;
  };

  async function serve(req: http.IncomingMessage, res: http.ServerResponse, name: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end(JSON.stringify({ error: 'method not allowed' }));
      return;
    }
    const asset = await load(name);
    if (!asset) {
      if (buildError !== undefined && (name === 'index.html' || name === 'graphiql.html')) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end('The dashboard is not built: run `npm run build:dashboard` (see the gateway log).\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': asset.type,
      etag: asset.etag,
      // Unhashed names: revalidate every time (a 304 costs one small round trip on loopback or LAN).
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      vary: 'accept-encoding',
    };
    if (asset.type.startsWith('text/html')) {
      headers['content-security-policy'] = CSP;
      headers['referrer-policy'] = 'no-referrer';
      headers['x-frame-options'] = 'DENY';
    }
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip! : asset.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const index: Route = { prefix: '/', handle: (req, res) => serve(req, res, 'index.html') };
  const assets: Route = {
    prefix: '/dashboard',
    async handle(req, res, path) {
      if (path === '/dashboard' || path === '/dashboard/') {
        res.writeHead(302, { location: '/' }).end();
        return;
      }
      if (path === '/dashboard/whoami') return whoami(req, res);
      const name = path.slice('/dashboard/assets/'.length);
      if (!path.startsWith('/dashboard/assets/') || !/^[A-Za-z0-9][\w.-]*$/.test(name) || name.endsWith('.html')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
        return;
      }
      return serve(req, res, name);
    },
  };

  async function whoami(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body: Record<string, unknown>;
    try {
      const identity = await options.authenticator.authenticate(req.headers.authorization);
      body = { active: true, subject: identity.subject, kind: identity.kind, scopes: identity.scopes };
    } catch (error) {
      if (!(error instanceof LcmError)) throw error;
      body = { active: false, code: error.code, message: error.message };
    }
    const text = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }

  return { routes: [index, assets], graphiql: (req, res) => serve(req, res, 'graphiql.html'), ready };
}
