import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { resolveEventsToken } from '../core/auth/events-token.ts';
import { IdentitySigner } from '../core/auth/identity.ts';
import { readOrCreateLocalSecret } from '../core/auth/local-secret.ts';
import { openCoordinationStore } from '../core/adapters/coordination/open.ts';
import { EtcdEventBus } from '../core/adapters/etcd/etcd-event-bus.ts';
import { MemoryEventBus } from '../core/adapters/memory/memory-event-bus.ts';
import type { Logger } from '../core/logging.ts';
import type { Storage } from '../core/persistence/document-store.ts';
import { MemoryStorage } from '../core/persistence/memory-document-store.ts';
import { MongoStorage } from '../core/persistence/mongo-document-store.ts';
import type { EventBus } from '../core/ports/event-bus.ts';
import type { CoordinationStore } from '../core/ports/coordination.ts';
import type { SubgraphServer } from '../core/graphql/subgraph-server.ts';
import type { SubgraphDeps } from '../core/subgraph/deps.ts';
import { startLcmGateway, type LcmGateway } from '../gateway/lcm-gateway.ts';
import type { SubgraphName } from '../schema/subgraphs.ts';
import { startDefinitionsSubgraph } from '../subgraphs/definitions/server.ts';
import { startScoreReportsSubgraph } from '../subgraphs/score-reports/server.ts';
import { startSessionsSubgraph } from '../subgraphs/sessions/server.ts';
import { startWorkersSubgraph } from '../subgraphs/workers/server.ts';
import { checkPortsFree, type FixedPort } from './ports.ts';
import { startCmlSimulatorsOnEc2, type SimulatorFleet } from './simulators.ts';
import { Scope } from '../core/auth/identity.ts';
import { env, type Env } from '../core/config.ts';
import { GraphQLClient } from '../core/graphql/client.ts';
import { createMetricsRegistry } from '../core/ops/ops-server.ts';
import { startController, type ControllerDeps, type ControllerFactory, type ControllerName, type RunningController } from '../controllers/kit/role.ts';
import { factory as labletController } from '../controllers/lablet-controller/index.ts';
import { factory as resourceScheduler } from '../controllers/resource-scheduler/index.ts';
import { factory as workerController } from '../controllers/worker-controller/index.ts';

const CONTROLLER_NAMES: readonly ControllerName[] = ['worker-controller', 'resource-scheduler', 'lablet-controller'];

const CONTROLLER_FACTORIES: Record<ControllerName, ControllerFactory> = {
  'worker-controller': workerController,
  'resource-scheduler': resourceScheduler,
  'lablet-controller': labletController,
};

/**
 * The whole system in one process (`lcm up`, `npm start`, and the end-to-end tests): the four
 * subgraphs and the gateway on shared embedded stores (or MongoDB / etcd when configured), the
 * simulators of the external systems, and the three controllers (each with its own API key holding the
 * internal scope, and its own health/metrics port; the LDS and grading simulators deliver their
 * CloudEvents to the lablet-controller).
 */
export interface SystemOptions {
  gatewayPort?: number;
  host?: string;
  adminToken: string;
  mongoUri?: string;
  mongoDb?: string;
  etcdEndpoints?: string[];
  /** Prefix of every etcd key of this system (isolates systems sharing one etcd, e.g. in tests). */
  etcdNamespace?: string;
  /** Serve schema introspection (default: LCM_GATEWAY_INTROSPECTION). */
  introspection?: boolean;
  /** Start the EC2/CML/LDS/grading simulators (default true). */
  simulators?: boolean;
  ec2BootMs?: number;
  cmlBootMs?: number;
  /** The 127.B.0.0/16 block of the simulated instances' addresses (default: a random free one). */
  simAddressBlock?: number;
  /** Start the three controllers (default true). */
  controllers?: boolean;
  /**
   * Where the controllers reach EC2, LDS, grading and CML when this system starts no simulators of its
   * own (e.g. a second replica of a system sharing the first one's simulated outside world).
   */
  controllerOverrides?: ControllerDeps['overrides'];
  /** Configuration the controllers read (default: the process environment, parsed). */
  config?: Env;
  logger: Logger;
}

export interface RunningSystem {
  gatewayUrl: string;
  gateway: LcmGateway;
  subgraphs: Record<SubgraphName, SubgraphServer>;
  deps: SubgraphDeps;
  simulators: SimulatorFleet | undefined;
  controllers: RunningController[];
  /** The coordination store every role of this process shares. */
  coordination: CoordinationStore;
  stop(): Promise<void>;
}

/**
 * The fixed ports a system with these options binds (everything else listens on port 0): the gateway's,
 * and the CML simulator's on every simulated EC2 instance (LCM_SIM_CML_PORT). The instances bind their
 * own 127.B.x.y addresses, never 127.0.0.1, so that port is probed on the first instance's address
 * (127.B.0.1; without a pinned block, on 127.255.255.254, which no instance gets): a probe there fails
 * when anything holds the port on the wildcard address (0.0.0.0 or ::) or on that address itself,
 * which is what would make the instances' CML servers fail; a listener on 127.0.0.1 alone would not.
 */
export function systemPorts(options: Pick<SystemOptions, 'gatewayPort' | 'host' | 'simulators' | 'simAddressBlock' | 'config'>): FixedPort[] {
  const ports: FixedPort[] = [{ port: options.gatewayPort ?? 4000, host: options.host ?? '127.0.0.1', what: 'the gateway', setting: 'LCM_GATEWAY_PORT' }];
  if (options.simulators ?? true) {
    const host = options.simAddressBlock !== undefined ? `127.${options.simAddressBlock}.0.1` : '127.255.255.254';
    ports.push({
      port: (options.config ?? env()).LCM_SIM_CML_PORT,
      host,
      what: 'the CML simulator of every simulated EC2 instance',
      setting: 'LCM_SIM_CML_PORT',
    });
  }
  return ports;
}

/** Throws PortInUseError naming the first fixed port of `systemPorts(options)` that is taken. */
export function checkSystemPorts(options: Parameters<typeof systemPorts>[0]): Promise<void> {
  return checkPortsFree(systemPorts(options));
}

export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const logger = options.logger;
  await checkSystemPorts(options);
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        logger.warn({ err }, 'error while stopping');
      }
    }
  };
  try {
    const storage: Storage = options.mongoUri ? await MongoStorage.connect(options.mongoUri, options.mongoDb ?? 'lcm') : new MemoryStorage();
    cleanups.push(() => storage.close());
    const coordination = openCoordinationStore({
      ...(options.etcdEndpoints ? { etcdEndpoints: options.etcdEndpoints } : {}),
      ...(options.etcdNamespace ? { namespace: options.etcdNamespace } : {}),
      logger,
    });
    cleanups.push(() => coordination.close());
    const bus: EventBus = options.etcdEndpoints?.length ? await EtcdEventBus.start(coordination, { logger }) : new MemoryEventBus();
    cleanups.push(() => bus.close());
    const deps: SubgraphDeps = {
      storage,
      bus,
      coordination,
      signer: new IdentitySigner(randomBytes(32).toString('base64url')),
      logger,
      clock: () => new Date(),
    };
    const host = options.host ?? '127.0.0.1';
    const starters: Record<SubgraphName, (d: SubgraphDeps, o: { port: number; host: string }) => Promise<SubgraphServer>> = {
      definitions: startDefinitionsSubgraph,
      workers: startWorkersSubgraph,
      sessions: startSessionsSubgraph,
      'score-reports': startScoreReportsSubgraph,
    };
    const subgraphs = {} as Record<SubgraphName, SubgraphServer>;
    for (const [name, start] of Object.entries(starters) as Array<[SubgraphName, (typeof starters)[SubgraphName]]>) {
      const server = await start({ ...deps, logger: logger.child({ component: `subgraph-${name}` }) }, { port: 0, host: '127.0.0.1' });
      subgraphs[name] = server;
      cleanups.push(() => server.close());
    }
    const gateway = await startLcmGateway({
      port: options.gatewayPort ?? 4000,
      host,
      storage,
      signer: deps.signer,
      adminToken: options.adminToken,
      logger: logger.child({ component: 'gateway' }),
      introspection: options.introspection ?? (options.config ?? env()).LCM_GATEWAY_INTROSPECTION,
      ...corsOf(options.config ?? env()),
      subgraphUrls: Object.fromEntries(Object.entries(subgraphs).map(([n, s]) => [n, s.graphqlUrl])),
    });
    cleanups.push(() => gateway.close());
    let simulators: SimulatorFleet | undefined;
    if (options.simulators ?? true) {
      simulators = await startCmlSimulatorsOnEc2({
        logger: logger.child({ component: 'simulators' }),
        cmlPort: (options.config ?? env()).LCM_SIM_CML_PORT,
        ...(options.simAddressBlock !== undefined ? { addressBlock: options.simAddressBlock } : {}),
        ...(options.ec2BootMs !== undefined ? { ec2BootMs: options.ec2BootMs } : {}),
        ...(options.cmlBootMs !== undefined ? { cmlBootMs: options.cmlBootMs } : {}),
      });
      cleanups.push(() => (simulators as SimulatorFleet).close());
    }
    const controllers: RunningController[] = [];
    if (options.controllers ?? true) {
      const config = options.config ?? env();
      for (const name of CONTROLLER_NAMES) {
        const factory = CONTROLLER_FACTORIES[name];
        const { key } = await gateway.apiKeys.create(name, [Scope.INTERNAL]);
        const client = new GraphQLClient({ url: `${gateway.url}/internal/graphql`, token: key });
        cleanups.push(() => client.close());
        const controllerDeps: ControllerDeps = {
          client,
          store: coordination,
          registry: createMetricsRegistry(false, { role: name }),
          logger: logger.child({ component: name }),
          config,
          clock: () => new Date(),
          overrides: options.controllerOverrides ?? (simulators
            ? {
                ec2Endpoint: simulators.ec2.url,
                ec2Credentials: { accessKeyId: 'lcm-up', secretAccessKey: 'lcm-up' },
                ldsUrl: simulators.lds.url,
                gradingUrl: simulators.grading.url,
                cmlScheme: 'http',
                cmlPort: simulators.cmlPort,
              }
            : {}),
        };
        const running = await startController(name, factory, controllerDeps, { port: 0, host: '127.0.0.1' });
        controllers.push(running);
        cleanups.push(() => running.stop());
        if (name === 'lablet-controller' && simulators) {
          // The same token the lablet-controller resolved from this configuration (core/auth/events-token.ts).
          const sink = { sinkUrl: `${running.url}/events`, sinkToken: resolveEventsToken(config) };
          simulators.lds.configure(sink);
          simulators.grading.configure(sink);
        }
      }
    }
    return { gatewayUrl: gateway.url, gateway, subgraphs, deps, simulators, controllers, coordination, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The admin token: `LCM_ADMIN_TOKEN`, or one generated once into `.lcm/admin-token`. */
export function resolveAdminToken(configured: string | undefined, dir: string): { token: string; generated: boolean; file?: string } {
  if (configured) return { token: configured, generated: false };
  const file = join(dir, 'admin-token');
  const { secret, created } = readOrCreateLocalSecret(file, () => `lcm-admin-${randomBytes(24).toString('base64url')}`);
  return { token: secret, generated: created, file };
}

/** The gateway's CORS policy from LCM_CORS_ORIGINS (unset: none). */
function corsOf(config: Env): { cors?: { origins: string[] } } {
  return config.LCM_CORS_ORIGINS ? { cors: { origins: config.LCM_CORS_ORIGINS } } : {};
}
