import type http from 'node:http';
import { z } from 'zod';
import { Scope, hasScope, missingScope } from '../../core/auth/identity.ts';
import { ErrorCode, LcmError } from '../../core/errors.ts';
import type { ApiKeyStore } from './api-keys.ts';
import type { Authenticator } from './authenticator.ts';

/**
 * `/admin/api-keys`: API key management for administrators (the `admin` scope).
 *   POST   /admin/api-keys        {"name": "...", "scopes": ["read", ...]} → 201 {key, apiKey} (the key is shown once)
 *   GET    /admin/api-keys        → 200 {apiKeys: [...]} (never the secrets)
 *   DELETE /admin/api-keys/{id}   → 200 {apiKey} (revoked)
 * Errors: `{error: {code, message}}` with the contract's codes and 400/401/403/404.
 */
const CreateKey = z.object({ name: z.string(), scopes: z.array(z.string()) });
const STATUS: Partial<Record<string, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.CONFLICT]: 409,
};

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson(req: http.IncomingMessage, limit = 16 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new LcmError(ErrorCode.BAD_USER_INPUT, 'body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new LcmError(ErrorCode.BAD_USER_INPUT, 'the body must be JSON');
  }
}

export function apiKeyAdminRoute(authenticator: Authenticator, keys: ApiKeyStore) {
  return {
    prefix: '/admin/api-keys',
    async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
      try {
        const identity = await authenticator.authenticate(req.headers.authorization);
        if (!hasScope(identity, Scope.ADMIN)) throw missingScope([Scope.ADMIN]);
        const id = path.slice('/admin/api-keys'.length).replace(/^\//, '');
        if (req.method === 'GET' && id === '') {
          send(res, 200, { apiKeys: await keys.list() });
        } else if (req.method === 'POST' && id === '') {
          if (!(req.headers['content-type'] ?? '').includes('application/json')) {
            throw new LcmError(ErrorCode.BAD_USER_INPUT, 'content-type must be application/json');
          }
          const parsed = CreateKey.safeParse(await readJson(req));
          if (!parsed.success) throw new LcmError(ErrorCode.BAD_USER_INPUT, 'expected {"name": string, "scopes": string[]}');
          const { key, record } = await keys.create(parsed.data.name, parsed.data.scopes);
          send(res, 201, { key, apiKey: record });
        } else if (req.method === 'DELETE' && id !== '') {
          send(res, 200, { apiKey: await keys.revoke(id) });
        } else {
          res.writeHead(405, { allow: id === '' ? 'GET, POST' : 'DELETE' }).end();
        }
      } catch (e) {
        if (e instanceof LcmError) send(res, STATUS[e.code] ?? 400, { error: { code: e.code, message: e.message } });
        else throw e;
      }
    },
  };
}
