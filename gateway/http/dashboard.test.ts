import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentitySigner } from '../../core/auth/identity.ts';
import { silentLogger } from '../../core/logging.ts';
import { MemoryStorage } from '../../core/persistence/memory-document-store.ts';
import { startLcmGateway, type LcmGateway } from '../lcm-gateway.ts';
import { prefersHtml } from './request.ts';

const ADMIN = 'dashboard-routes-admin-token-0123456789';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

describe('prefersHtml: a browser navigation, not a GraphQL client', () => {
  it.each([
    [BROWSER_ACCEPT, true],
    ['text/html', true],
    ['text/html, application/json;q=0.5', true],
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['application/json', false],
    ['application/graphql-response+json, application/json;q=0.9', false],
    ['text/html, application/json', false],
    ['application/json, text/html;q=0.9', false],
    ['text/html;q=0', false],
  ])('%j → %s', (accept, expected) => {
    expect(prefersHtml(accept)).toBe(expected);
  });
});

describe('the dashboard and GraphiQL routes of the LCM gateway', () => {
  let gateway: LcmGateway;
  const storage = new MemoryStorage();

  beforeAll(async () => {
    gateway = await startLcmGateway({ port: 0, storage, signer: new IdentitySigner(randomBytes(32).toString('base64url')), adminToken: ADMIN, logger: silentLogger });
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    await storage.close();
  });

  it('GET / is the dashboard page, with a policy that lets it load only from the gateway', async () => {
    const res = await fetch(`${gateway.url}/`, { headers: { accept: BROWSER_ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/dashboard/assets/dashboard.js"></script>');
    // Nothing from elsewhere.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('serves the assets with an ETag (304 when unchanged) and gzip when asked', async () => {
    const plain = await fetch(`${gateway.url}/dashboard/assets/dashboard.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const body = Buffer.from(await plain.arrayBuffer());
    const etag = plain.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);

    const again = await fetch(`${gateway.url}/dashboard/assets/dashboard.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);

    // fetch() decodes gzip itself: the same bytes arrive.
    const zipped = await fetch(`${gateway.url}/dashboard/assets/dashboard.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(Buffer.from(await zipped.arrayBuffer())).toEqual(body);

    for (const css of ['dashboard.css', 'graphiql.css', 'graphiql.js']) {
      expect((await fetch(`${gateway.url}/dashboard/assets/${css}`)).status).toBe(200);
    }
  });

  it('answers 404 for anything else under /dashboard (no path traversal) and 405 for writes', async () => {
    for (const path of ['/dashboard/assets/nope.js', '/dashboard/assets/..%2Fbuild.ts', '/dashboard/assets/../build.ts', '/dashboard/assets/index.html', '/dashboard/other']) {
      expect((await fetch(`${gateway.url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${gateway.url}/`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${gateway.url}/favicon.ico`)).status).toBe(404);
  });

  it('GET /dashboard/whoami says what a token is, 200 either way', async () => {
    const none = await fetch(`${gateway.url}/dashboard/whoami`);
    expect(none.status).toBe(200);
    expect(await none.json()).toMatchObject({ active: false, code: 'UNAUTHENTICATED' });
    const wrong = await fetch(`${gateway.url}/dashboard/whoami`, { headers: { authorization: 'Bearer lcm_nope' } });
    expect(await wrong.json()).toMatchObject({ active: false, code: 'UNAUTHENTICATED' });
    const admin = await fetch(`${gateway.url}/dashboard/whoami`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(admin.headers.get('cache-control')).toBe('no-store');
    expect(await admin.json()).toMatchObject({ active: true, subject: 'admin', scopes: expect.arrayContaining(['read', 'internal']) });
    const { key } = await gateway.apiKeys.create('reader', ['read']);
    const reader = await fetch(`${gateway.url}/dashboard/whoami`, { headers: { authorization: `Bearer ${key}` } });
    expect(await reader.json()).toEqual({ active: true, subject: 'reader', kind: 'api-key', scopes: ['read'] });
  });

  it('a browser GET of /graphql or /internal/graphql gets GraphiQL; no token needed for the page itself', async () => {
    for (const path of ['/graphql', '/internal/graphql', '/graphql?query=%7B__typename%7D']) {
      const res = await fetch(`${gateway.url}${path}`, { headers: { accept: BROWSER_ACCEPT } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await res.text()).toContain('/dashboard/assets/graphiql.js');
    }
  });

  it('other GETs and every POST stay GraphQL over HTTP, as before', async () => {
    const get = await fetch(`${gateway.url}/graphql?query=%7B__typename%7D`, { headers: { authorization: `Bearer ${ADMIN}`, 'apollo-require-preflight': 'true' } });
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });

    const anyType = await fetch(`${gateway.url}/graphql?query=%7B__typename%7D`, { headers: { accept: '*/*', 'apollo-require-preflight': 'true' } });
    expect(anyType.status).toBe(401);
    expect(((await anyType.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');

    // A browser's GET without a preflight header is still refused as before (CSRF prevention).
    expect((await fetch(`${gateway.url}/graphql?query=%7B__typename%7D`, { headers: { accept: '*/*' } })).status).toBe(400);

    const post = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(post.status).toBe(406);
  });

  it('can be turned off', async () => {
    const bare = await startLcmGateway({ port: 0, storage, signer: new IdentitySigner(randomBytes(32).toString('base64url')), adminToken: ADMIN, logger: silentLogger, dashboard: false });
    try {
      expect((await fetch(`${bare.url}/`)).status).toBe(404);
      const res = await fetch(`${bare.url}/graphql`, { headers: { accept: BROWSER_ACCEPT } });
      expect(res.headers.get('content-type')).not.toContain('text/html');
    } finally {
      await bare.close();
    }
  });
});
