/**
 * How a controller process is put together (DESIGN.md §4 "Common runtime"): each controller module
 * exports a `ControllerFactory`; this file gives it its dependencies (the internal GraphQL client, the
 * coordination store, metrics, configuration) and serves `/healthz`, `/readyz` and `/metrics` (plus
 * any routes of its own, e.g. the lablet-controller's CloudEvents sink) on its port. `lcm up` starts
 * the three in one process on the shared embedded store; `lcm controller <name>` starts one on etcd.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { ConfigError, env, type Env } from '../../core/config.ts';
import { openCoordinationStore } from '../../core/adapters/coordination/open.ts';
import { GraphQLClient } from '../../core/graphql/client.ts';
import { createLogger, type Logger } from '../../core/logging.ts';
import { createMetricsRegistry, handleOpsRequest, listen, type RunningServer } from '../../core/ops/ops-server.ts';
import type { CoordinationStore } from '../../core/ports/coordination.ts';
import type { RoleOptions, Stoppable } from '../../core/role.ts';
import type { Controller, ControllerOptions } from '../../core/runtime/index.ts';
import { withoutWatchWakeups } from './sources.ts';

export type ControllerName = 'resource-scheduler' | 'lablet-controller' | 'worker-controller';

/** Default health/metrics port of each controller when run alone (`lcm controller <name>`). */
export const DEFAULT_CONTROLLER_PORTS: Record<ControllerName, number> = {
  'resource-scheduler': 4011,
  'lablet-controller': 4012,
  'worker-controller': 4013,
};

export interface ControllerDeps {
  /** GraphQL client on the gateway's /internal/graphql, with a token holding the `internal` scope. */
  client: GraphQLClient;
  store: CoordinationStore;
  registry: Registry;
  logger: Logger;
  config: Env;
  clock: () => Date;
  /** Leader-election settings for the runtime's `Controller` (tests shorten them). */
  leaderElection?: ControllerOptions['leaderElection'];
  /** Overrides of external endpoints and credentials that `lcm up` and tests set directly. */
  overrides?: {
    ec2Endpoint?: string;
    ec2Credentials?: { accessKeyId: string; secretAccessKey: string };
    ldsUrl?: string;
    gradingUrl?: string;
    cmlScheme?: 'http' | 'https';
    cmlPort?: number;
  };
}

export interface ControllerRole {
  controllers: Controller[];
  /** Handle a request on the ops port that is not /healthz, /readyz or /metrics; false if not handled. */
  handle?(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean>;
  /** Extra readiness checks. */
  readiness?(): Promise<string[]>;
  stop(): Promise<void>;
}

export type ControllerFactory = (deps: ControllerDeps) => Promise<ControllerRole>;

export interface RunningController {
  name: ControllerName;
  role: ControllerRole;
  /** Base URL of its ops server (health, metrics and its own routes). */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Start a controller role and its ops server; `stop()` stops both (controllers first). */
export async function startController(
  name: ControllerName,
  factory: ControllerFactory,
  deps: ControllerDeps,
  listenOn: { port: number; host?: string },
): Promise<RunningController> {
  const role = await factory(deps.config.LCM_CONTROLLER_WATCH ? deps : { ...deps, store: withoutWatchWakeups(deps.store) });
  for (const c of role.controllers) c.start();
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        const handled =
          (await handleOpsRequest(req, res, {
            registry: deps.registry,
            readiness: async () => [
              ...(await Promise.all(role.controllers.map((c) => c.readiness()))).flat(),
              ...((await role.readiness?.()) ?? []),
            ],
          })) || (await role.handle?.(req, res));
        if (!handled && !res.headersSent) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } }));
        }
      } catch (err) {
        deps.logger.error({ err }, 'ops request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'internal error' } }));
      }
    })();
  });
  let running: RunningServer;
  try {
    running = await listen(server, listenOn.port, listenOn.host ?? '127.0.0.1');
  } catch (e) {
    await role.stop();
    throw e;
  }
  return {
    name,
    role,
    url: running.url,
    port: running.port,
    async stop() {
      await role.stop();
      await running.close();
    },
  };
}

/** The token a standalone controller uses: LCM_TOKEN, else LCM_ADMIN_TOKEN, else `.lcm/admin-token`. */
export function controllerToken(config: Env, dir = join(process.cwd(), '.lcm')): string | undefined {
  if (config.LCM_TOKEN) return config.LCM_TOKEN;
  if (config.LCM_ADMIN_TOKEN) return config.LCM_ADMIN_TOKEN;
  const file = join(dir, 'admin-token');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}

/** `lcm controller <name>`: one controller on etcd, talking to the gateway at LCM_URL. */
export async function runControllerRole(name: ControllerName, factory: ControllerFactory, options: RoleOptions): Promise<Stoppable> {
  const config = env();
  const problems: string[] = [];
  if (!config.LCM_ETCD_ENDPOINTS) problems.push(`LCM_ETCD_ENDPOINTS: \`lcm controller ${name}\` needs etcd (leader election and watches); \`lcm up\` runs every controller on the embedded store`);
  const token = controllerToken(config);
  if (!token) problems.push('LCM_TOKEN: a token with the `internal` scope is required (or LCM_ADMIN_TOKEN, or .lcm/admin-token)');
  if (problems.length > 0) throw new ConfigError(problems);
  const logger = createLogger(name, config.LCM_LOG_LEVEL);
  const store = openCoordinationStore({ etcdEndpoints: config.LCM_ETCD_ENDPOINTS, logger });
  const gatewayUrl = config.LCM_URL ?? `http://127.0.0.1:${config.LCM_GATEWAY_PORT}`;
  const client = new GraphQLClient({ url: `${gatewayUrl.replace(/\/+$/, '')}/internal/graphql`, token });
  const registry = createMetricsRegistry(true, { role: name });
  let running: RunningController;
  try {
    running = await startController(name, factory, { client, store, registry, logger, config, clock: () => new Date() }, {
      port: options.port ?? DEFAULT_CONTROLLER_PORTS[name],
      host: typeof options.host === 'string' ? options.host : '127.0.0.1',
    });
  } catch (e) {
    await client.close();
    await store.close();
    throw e;
  }
  return {
    banner: [`${name}: health and metrics on ${running.url} (/healthz, /readyz, /metrics); gateway ${gatewayUrl}`],
    async stop() {
      await running.stop();
      await client.close();
      await store.close();
    },
  };
}
