/**
 * The Cisco Modeling Labs (CML 2.9) REST API simulator: one simulated CML controller per call, on its
 * own host:port, faithful to the API the control plane uses (research/cml-api.md) and with faults
 * switchable at run time. See README.md in this folder for what is covered and what is not.
 *
 *   const sim = await startCmlSimulator({ bootMs: 50 });
 *   const client = new CmlClient({ baseUrl: sim.url, username: sim.username, password: sim.password });
 *   sim.faults.neverBoot({ label: 'r2' });
 *   await sim.close();
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { env } from '../../core/config.ts';
import { silentLogger, type Logger } from '../../core/logging.ts';
import { createMetricsRegistry, listen } from '../../core/ops/ops-server.ts';
import { TokenIssuer } from './auth.ts';
import { CmlEngine, seededRandom } from './engine.ts';
import { CmlFaults, type WarmUpOptions } from './faults.ts';
import { Licensing, type ProductLicense } from './licensing.ts';
import { PATTY_DEFAULT_RANGE } from './patty.ts';
import { createRequestListener, simState, type SimContext } from './server.ts';

export { CmlFaults, type FaultSnapshot, type FaultRequest, type WarmUpOptions } from './faults.ts';
export { NODE_DEFINITIONS } from './catalog.ts';

export interface CmlSimulatorOptions {
  /** Address to bind (default 127.0.0.1; any 127.x.y.z works on Linux, one per simulated worker). */
  host?: string;
  /** Port (default 0 = a free port). */
  port?: number;
  /** Accepted credentials (default admin / admin). */
  username?: string;
  password?: string;
  /** Time for a whole lab to boot, all nodes BOOTED (default LCM_SIM_CML_BOOT_MS, 2000). 0 = immediate. */
  bootMs?: number;
  /** Relative jitter of each node's timings (default 0.2 = ±20%). */
  jitter?: number;
  /** Seed of the jitter's PRNG (default random). */
  seed?: number;
  /** Token lifetime, CML's web session timeout (default 86 400 s). */
  sessionTimeoutSeconds?: number;
  /** `system_information.version` (default "2.9.1+build.7"). */
  version?: string;
  /** Hostname of the controller's compute (default "cml-controller"). */
  hostname?: string;
  /** Hardware of the controller (default 32 vCPUs, 128 GiB, 500 GiB): the totals of system_stats. */
  capacity?: { cpus?: number; memoryGb?: number; diskGb?: number };
  /** PATty outside port range (default 2000–7999; the control plane's workers use 2000–9999). */
  pattyRange?: { min: number; max: number };
  licensing?: {
    /** Default CML_Enterprise. CML_Personal is limited to 20 nodes. */
    product?: ProductLicense;
    /** Enterprise expansion nodes on top of the 20 included (default 500). */
    expansionNodes?: number;
    /** Start registered (default false: a fresh instance, UNREGISTERED / EVAL). */
    registered?: boolean;
    /** Time from a registration request to COMPLETED (default 1000 ms). */
    registrationMs?: number;
  };
  /** Answer 502 from the start, as a controller whose services are still coming up. */
  warmUp?: WarmUpOptions;
  logger?: Logger;
}

export interface CmlSimulator {
  /** Root URL, e.g. `http://127.0.0.1:41234` (the API is under `/api/v0`). */
  url: string;
  host: string;
  port: number;
  username: string;
  password: string;
  /** Faults switchable at run time. */
  faults: CmlFaults;
  /** What `GET /_sim/state` returns: labs, node states, faults, PATty bindings. */
  state(): Record<string, unknown>;
  close(): Promise<void>;
}

/** Starts one simulated CML controller. */
export async function startCmlSimulator(options: CmlSimulatorOptions = {}): Promise<CmlSimulator> {
  const host = options.host ?? '127.0.0.1';
  const username = options.username ?? 'admin';
  const password = options.password ?? 'admin';
  const bootMs = options.bootMs ?? env().LCM_SIM_CML_BOOT_MS;
  if (!Number.isFinite(bootMs) || bootMs < 0) throw new RangeError(`bootMs must be >= 0, got ${bootMs}`);
  const jitter = Math.min(0.5, Math.max(0, options.jitter ?? 0.2));
  const pattyRange = options.pattyRange ?? PATTY_DEFAULT_RANGE;
  const hostname = options.hostname ?? 'cml-controller';
  const logger = options.logger ?? silentLogger;

  const tokens = new TokenIssuer();
  const faults = new CmlFaults({ expireTokens: () => tokens.expireAll(), now: Date.now });
  if (options.warmUp) faults.warmUp(options.warmUp);
  const licensing = new Licensing({
    product: options.licensing?.product ?? 'CML_Enterprise',
    expansionNodes: options.licensing?.expansionNodes ?? 500,
    registered: options.licensing?.registered ?? false,
    registrationMs: options.licensing?.registrationMs ?? 1000,
    hostname,
    faults,
  });
  const computeId = randomUUID();
  const engine = new CmlEngine({
    bootMs,
    jitter,
    random: options.seed === undefined ? Math.random : seededRandom(options.seed),
    faults,
    pattyRange,
    computeId,
    licensedNodeLimit: () => licensing.nodeLimit(),
  });

  const GiB = 1024 ** 3;
  const ctx: SimContext = {
    engine,
    licensing,
    tokens,
    faults,
    credentials: { username, password },
    owner: { id: randomUUID(), username, fullname: '' },
    startedAt: new Date(),
    compute: {
      id: computeId,
      hostname,
      address: host,
      cpus: options.capacity?.cpus ?? 32,
      memoryBytes: (options.capacity?.memoryGb ?? 128) * GiB,
      diskBytes: (options.capacity?.diskGb ?? 500) * GiB,
    },
    version: options.version ?? '2.9.1+build.7',
    settings: { sessionTimeoutSeconds: options.sessionTimeoutSeconds ?? 86_400, bootMs },
    pattyRange,
    ops: {
      registry: createMetricsRegistry(false),
      readiness: () => (faults.isWarmingUp() ? ['cml controller warming up'] : []),
    },
    logger,
  };

  const server = http.createServer(createRequestListener(ctx));
  server.keepAliveTimeout = 5_000;
  let running;
  try {
    running = await listen(server, options.port ?? 0, host);
  } catch (e) {
    engine.dispose();
    licensing.dispose();
    throw e;
  }
  logger.info({ url: running.url, bootMs }, 'CML simulator listening');

  let closed: Promise<void> | null = null;
  return {
    url: running.url,
    host,
    port: running.port,
    username,
    password,
    faults,
    state: () => simState(ctx),
    close: () => {
      closed ??= (async () => {
        engine.dispose();
        licensing.dispose();
        await running.close();
      })();
      return closed;
    },
  };
}
