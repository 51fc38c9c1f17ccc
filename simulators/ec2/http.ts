import type http from 'node:http';
import { ZodError } from 'zod';
import type { Logger } from '../../core/logging.ts';
import { handleOpsRequest, type OpsOptions } from '../../core/ops/ops-server.ts';
import type { ApiResponse, Ec2Api } from './api.ts';
import { Ec2ApiError } from './errors.ts';
import type { Ec2Faults } from './faults.ts';
import { QueryParams } from './query.ts';

/**
 * The simulator's HTTP surface:
 * - the EC2 Query API: `POST /` with a form-encoded body (what the SDK sends), or `GET /?Action=…`;
 * - control endpoints for standalone use: `GET /_sim/state`, `GET|POST|DELETE /_sim/faults`,
 *   `POST /_sim/instances/{id}/interrupt`;
 * - `/healthz`, `/readyz`, `/metrics` when given ops options.
 */
export interface Ec2HttpOptions {
  api: Ec2Api;
  faults: Ec2Faults;
  /** The JSON served at `GET /_sim/state`. */
  state: () => unknown;
  ops?: OpsOptions;
  logger: Logger;
  /** Called after every API call (metrics). */
  onApiCall?: (response: ApiResponse) => void;
  maxBodyBytes?: number;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge(`request body over ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendApi(res: http.ServerResponse, response: ApiResponse): void {
  res.writeHead(response.status, {
    'content-type': 'text/xml;charset=UTF-8',
    'content-length': Buffer.byteLength(response.body),
    'x-amzn-requestid': response.requestId,
    server: 'AmazonEC2',
  });
  res.end(response.body);
}

const INTERRUPT_PATH = /^\/_sim\/instances\/([^/]+)\/interrupt$/;

export function createEc2RequestHandler(options: Ec2HttpOptions): RequestHandler {
  const limit = options.maxBodyBytes ?? 1024 * 1024;

  const handleControl = async (req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> => {
    const method = req.method ?? 'GET';
    if (path === '/_sim/state' && method === 'GET') return sendJson(res, 200, options.state());
    if (path === '/_sim/faults') {
      if (method === 'GET') return sendJson(res, 200, options.faults.snapshot());
      if (method === 'DELETE') return sendJson(res, 200, options.faults.clear().snapshot());
      if (method === 'POST') {
        let body: unknown;
        try {
          const text = await readBody(req, limit);
          body = text.trim() === '' ? {} : JSON.parse(text);
        } catch (error) {
          return sendJson(res, 400, { error: `invalid JSON body: ${(error as Error).message}` });
        }
        try {
          return sendJson(res, 200, options.faults.apply(body).snapshot());
        } catch (error) {
          if (error instanceof ZodError) {
            return sendJson(res, 400, {
              error: 'invalid faults',
              issues: error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
            });
          }
          throw error;
        }
      }
    }
    const interrupt = INTERRUPT_PATH.exec(path);
    if (interrupt && method === 'POST') {
      const instanceId = decodeURIComponent(interrupt[1] as string);
      try {
        return sendJson(res, 200, { instance: options.faults.interrupt(instanceId) });
      } catch (error) {
        if (error instanceof Ec2ApiError) {
          const status = error.code === 'IncorrectInstanceState' ? 409 : 404;
          return sendJson(res, status, { error: error.code, message: error.message });
        }
        throw error;
      }
    }
    return sendJson(res, 404, { error: `no control endpoint ${method} ${path}` });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname;
    if (path.startsWith('/_sim/')) return handleControl(req, res, path);
    if (options.ops && (await handleOpsRequest(req, res, options.ops))) return;
    if (!options.ops && path === '/healthz') return sendJson(res, 200, { status: 'ok' });

    const method = req.method ?? 'GET';
    if (method !== 'POST' && !(method === 'GET' && url.searchParams.has('Action'))) {
      return sendJson(res, 404, { error: `not found: ${method} ${path} (the EC2 API answers POST /)` });
    }
    let params = QueryParams.parse(url.search);
    if (method === 'POST') params = params.merge(QueryParams.parse(await readBody(req, limit)));
    const response = options.api.invoke(params);
    options.logger.debug(
      { action: response.action, code: response.code, status: response.status, requestId: response.requestId },
      'EC2 API call',
    );
    options.onApiCall?.(response);
    sendApi(res, response);
  };

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof BodyTooLarge) {
        if (!res.headersSent) sendJson(res, 413, { error: error.message });
        return;
      }
      options.logger.error({ err: error }, 'EC2 simulator request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
}
