import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The three operational endpoints every process serves (CONTRACT.md "Endpoints"):
 * `GET /healthz` (alive), `GET /readyz` (dependencies reachable), `GET /metrics` (Prometheus).
 * Either standalone (`startOpsServer`) or mounted in another server (`handleOpsRequest`).
 */
export interface OpsOptions {
  registry: Registry;
  /** Returns the names of unready dependencies; empty when ready. */
  readiness?: () => Promise<string[]> | string[];
}

export function createMetricsRegistry(defaultMetrics = true, labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  if (defaultMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Handles the request if it is one of the ops endpoints; returns false otherwise. */
export async function handleOpsRequest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: OpsOptions,
): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') {
    send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
    return true;
  }
  if (path === '/readyz') {
    let failing: string[];
    try {
      failing = options.readiness ? await options.readiness() : [];
    } catch (e) {
      failing = [e instanceof Error ? e.message : String(e)];
    }
    const ready = failing.length === 0;
    send(res, ready ? 200 : 503, 'application/json', JSON.stringify({ status: ready ? 'ready' : 'not ready', failing }));
    return true;
  }
  if (path === '/metrics') {
    send(res, 200, options.registry.contentType, await options.registry.metrics());
    return true;
  }
  return false;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listen on host:port (port 0 = a free port) and return the bound address and a closer. */
export async function listen(server: http.Server, port: number, host = '127.0.0.1'): Promise<RunningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    close: () => closeServer(server),
  };
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

export async function startOpsServer(port: number, options: OpsOptions, host = '127.0.0.1'): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    handleOpsRequest(req, res, options)
      .then((handled) => {
        if (!handled) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'not found' }));
        }
      })
      .catch(() => {
        res.writeHead(500);
        res.end();
      });
  });
  return listen(server, port, host);
}
