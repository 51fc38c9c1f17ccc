/**
 * The multi-process deployment the chaos suite attacks, as docker-compose runs it but on one machine:
 * real etcd, FerretDB (the MongoDB-compatible server), the EC2 (with CML), LDS and grading simulators,
 * the four subgraphs, the gateway, and TWO of each controller — every role its own `lcm` process, each
 * on a fixed loopback port so it can be killed with SIGKILL and started again where the others expect it.
 *
 * One process per subgraph by default. With `replicas: N` (issue 14) it runs N gateways and N processes
 * of each subgraph, each role's replicas behind a round-robin TCP balancer (a Kubernetes Service's job,
 * test/support/tcp-balancer.ts, each in a process of its own); controller replica i talks to gateway replica i (mod N), and the
 * simulators send their events through a balancer over both lablet-controllers. FerretDB v1 does not
 * apply a filtered replace atomically across processes, so the subgraph replicas run with
 * `LCM_MONGODB_WRITE_LOCKS` (a per-document lock in etcd around each conditional write); with one
 * process per subgraph the adapter's in-process queue is enough (docs/adr/0015-atomic-test-store.md).
 *
 * Simulators stand for external systems (AWS, CML, LDS, the grading engine) and are not killed: their
 * state is the outside world's. Every process's output goes to `<runDir>/<name>.log` (appended across
 * restarts, each start marked by a line) for evidence.
 *
 * Log level: `warn` unless LCM_CHAOS_LOG_LEVEL says otherwise, either one level for every role
 * (`LCM_CHAOS_LOG_LEVEL=info`) or a level per role with an optional default
 * (`LCM_CHAOS_LOG_LEVEL=lablet-controller=debug,worker-controller=info,warn`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startEtcd, startFerretDb, type TestService } from '../support/services.ts';
import { startTcpBalancerProcess, type TcpBalancer } from '../support/tcp-balancer.ts';

const LCM = fileURLToPath(new URL('../../bin/lcm.js', import.meta.url));
const SUBGRAPHS = ['definitions', 'workers', 'sessions', 'score-reports'] as const;
const CONTROLLERS = ['resource-scheduler', 'lablet-controller', 'worker-controller'] as const;

export type Role = 'gateway' | (typeof SUBGRAPHS)[number] | (typeof CONTROLLERS)[number] | 'sim-ec2' | 'sim-lds' | 'sim-grading';

export interface RoleProcess {
  /** Unique: e.g. `lablet-controller-2`. */
  name: string;
  role: Role;
  port: number;
  /** Killable by the chaos loop (LCM roles; not the simulators). */
  killable: boolean;
  /** Controllers: the controller name whose leadership `/metrics` reports. */
  controller?: string;
  up(): boolean;
  start(): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (then SIGKILL) for the final shutdown. */
  stop(): Promise<void>;
}

export interface Cluster {
  runDir: string;
  /** The gateway; with `replicas` > 1 a round-robin balancer over the gateway replicas. */
  gatewayUrl: string;
  /** Each gateway replica's own URL (one entry without `replicas`). */
  gatewayUrls: string[];
  /**
   * With `replicas` > 1, the balancers in front of each role's replicas (`gateway`, each subgraph,
   * `lablet-controller` for the event sink): connections forwarded to each replica so far.
   */
  balancers: Record<string, TcpBalancer>;
  adminToken: string;
  ec2Url: string;
  /** The simulators' own URLs (for `POST /_sim/faults`), never through a `link`. */
  cmlUrl: string;
  ldsUrl: string;
  gradingUrl: string;
  etcd: TestService;
  mongo: TestService;
  processes: RoleProcess[];
  /** Leader of each controller now, by process name (read from each process's /metrics). */
  leaders(): Promise<Record<string, string | undefined>>;
  /** The text of a process's /metrics, or undefined when it is down or does not answer within 2 s. */
  metrics(name: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** The log level of a role from LCM_CHAOS_LOG_LEVEL (see the file's comment); `warn` by default. */
export function chaosLogLevel(role: string, spec = process.env.LCM_CHAOS_LOG_LEVEL ?? ''): string {
  let fallback = 'warn';
  for (const part of spec.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) fallback = part;
    else if (part.slice(0, eq) === role) return part.slice(eq + 1);
  }
  return fallback;
}

async function waitReady(url: string, timeoutMs: number, alive: () => boolean, name: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new Error(`${name} exited before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready at ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function roleProcess(opts: {
  name: string;
  role: Role;
  args: string[];
  port: number;
  env: Record<string, string>;
  runDir: string;
  killable: boolean;
  readyPath: string;
  controller?: string;
}): RoleProcess {
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const alive = () => proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  const log = join(opts.runDir, `${opts.name}.log`);
  return {
    name: opts.name,
    role: opts.role,
    port: opts.port,
    killable: opts.killable,
    ...(opts.controller ? { controller: opts.controller } : {}),
    up: alive,
    async start() {
      const fd = openSync(log, 'a');
      try {
        // A restart appends: mark where each run of the process begins.
        writeSync(fd, `--- ${new Date().toISOString()} start ${opts.name}\n`);
        proc = spawn(process.execPath, [LCM, ...opts.args], {
          cwd: opts.runDir,
          env: { ...process.env, LCM_LOG_LEVEL: chaosLogLevel(opts.role), ...opts.env },
          stdio: ['ignore', fd, fd],
        });
      } finally {
        closeSync(fd);
      }
      const p = proc;
      exited = new Promise((resolve) => p.once('exit', () => resolve()));
      await waitReady(`http://127.0.0.1:${opts.port}${opts.readyPath}`, 90_000, alive, opts.name);
    },
    async kill9() {
      if (!alive()) return;
      proc?.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!alive()) return;
      proc?.kill('SIGTERM');
      const timer = setTimeout(() => proc?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function metricsOf(p: RoleProcess): Promise<string | undefined> {
  if (!p.up()) return undefined;
  try {
    return await (await fetch(`http://127.0.0.1:${p.port}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  } catch {
    return undefined; // down or busy: no answer this time
  }
}

/**
 * Where a process reaches another: given the process name (`gateway`, `sessions`, `lablet-controller-2`,
 * `sim-lds`…), the target (`etcd`, `mongo`, `gateway`, a subgraph's name, `sim-ec2`, `sim-cml`, `sim-lds`,
 * `sim-grading`, `lablet-controller-1` for the simulators' event sink) and the target's own URL, the
 * URL that process is given instead (e.g. a TCP proxy's, to cut that one link). Called once per pair.
 */
export type Link = (from: string, to: string, url: string) => Promise<string> | string;

export interface ClusterOptions {
  adminToken?: string;
  /** Route each process-to-target connection (default: direct). */
  link?: Link;
  /** Controller environment overrides (resync, scale-down…). */
  controllerEnv?: Record<string, string>;
  /**
   * Gateway and subgraph processes per role (default 1: the names are `gateway`, `sessions`…). With N > 1
   * they are `gateway-1`…`gateway-N`, `sessions-1`…, each role behind a balancer; the controllers stay two.
   */
  replicas?: number;
  /**
   * The worker templates the workers subgraph seeds (LCM_WORKER_TEMPLATES_FILE); default its own file,
   * where the example's 2-core session fits one `medium` worker each, the cheapest per session.
   */
  workerTemplatesFile?: string;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const adminToken = options.adminToken ?? 'chaos-admin-token-0123456789abcdef';
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`replicas must be a whole number >= 1, got ${replicas}`);
  const replicated = replicas > 1;
  /** Process names of a role's replicas: the role's own name when there is one. */
  const namesOf = (role: string) => (replicated ? Array.from({ length: replicas }, (_, i) => `${role}-${i + 1}`) : [role]);
  const runDir = mkdtempSync(join(tmpdir(), 'lcm-chaos-'));
  const [etcd, mongo] = await Promise.all([startEtcd(), startFerretDb()]);
  const processes: RoleProcess[] = [];
  const balancers: Record<string, TcpBalancer> = {};
  const stopAll = async () => {
    for (const p of [...processes].reverse()) await p.stop();
    await Promise.all(Object.values(balancers).map((b) => b.close()));
    await Promise.all([etcd.stop(), mongo.stop()]);
  };
  const link: Link = options.link ?? ((_from, _to, url) => url);
  try {
    const port = async () => freePort();
    const secrets = {
      LCM_MONGODB_DB: 'lcm_chaos',
      LCM_ADMIN_TOKEN: adminToken,
      LCM_INTERNAL_SECRET: 'chaos-internal-secret-0123456789abcdef',
    };
    /** The stores as the process `from` reaches them. */
    const storesFor = async (from: string) => ({
      ...secrets,
      LCM_ETCD_ENDPOINTS: await link(from, 'etcd', etcd.url),
      LCM_MONGODB_URI: await link(from, 'mongo', mongo.url),
    });
    const portOf = (url: string) => String(new URL(url).port);
    /** Where a role's replicas are reached: the one process, or a balancer over them. */
    const serviceUrl = async (role: string, ports: number[]) => {
      if (!replicated) return `http://127.0.0.1:${ports[0]}`;
      const balancer = await startTcpBalancerProcess(ports.map((p) => ({ port: p })));
      balancers[role] = balancer;
      return balancer.url;
    };
    const cmlPort = await port();
    const [ec2Port, ldsPort, gradingPort] = [await port(), await port(), await port()];
    const gatewayPorts: number[] = [];
    for (let i = 0; i < replicas; i++) gatewayPorts.push(await port());
    const gatewayUrls = gatewayPorts.map((p) => `http://127.0.0.1:${p}`);
    const gatewayUrl = await serviceUrl('gateway', gatewayPorts);
    const controllerPorts = new Map<string, number>();
    for (const c of CONTROLLERS) for (const i of [1, 2]) controllerPorts.set(`${c}-${i}`, await port());
    // The event sink: lablet-controller-1, or a balancer over both lablet-controllers (any replica takes events).
    const sinkUrl = replicated
      ? await serviceUrl('lablet-controller', [1, 2].map((i) => controllerPorts.get(`lablet-controller-${i}`) as number))
      : `http://127.0.0.1:${controllerPorts.get('lablet-controller-1')}`;
    const sinkFor = async (from: string) => `${(await link(from, replicated ? 'lablet-controller' : 'lablet-controller-1', sinkUrl)).replace(/\/$/, '')}/events`;
    // The simulators send the events token the lablet-controllers derive from the same internal secret.
    const sinkEnv = { LCM_INTERNAL_SECRET: secrets.LCM_INTERNAL_SECRET };

    const sims: RoleProcess[] = [
      roleProcess({
        name: 'sim-ec2', role: 'sim-ec2', args: ['sim', 'ec2', '--port', String(ec2Port)], port: ec2Port, runDir, killable: false, readyPath: '/healthz',
        env: { LCM_SIM_EC2_BOOT_MS: '300', LCM_SIM_CML_BOOT_MS: '200', LCM_SIM_CML_PORT: String(cmlPort) },
      }),
      roleProcess({ name: 'sim-lds', role: 'sim-lds', args: ['sim', 'lds', '--port', String(ldsPort), '--sink', await sinkFor('sim-lds')], port: ldsPort, runDir, killable: false, readyPath: '/healthz', env: sinkEnv }),
      roleProcess({ name: 'sim-grading', role: 'sim-grading', args: ['sim', 'grading', '--port', String(gradingPort), '--sink', await sinkFor('sim-grading')], port: gradingPort, runDir, killable: false, readyPath: '/healthz', env: sinkEnv }),
    ];
    processes.push(...sims);
    await Promise.all(sims.map((p) => p.start()));

    // Subgraph replicas: replica 1 of every subgraph first, then the others (a subgraph seeds at start).
    const subgraphTargets = new Map<string, string>();
    const subgraphWaves: RoleProcess[][] = Array.from({ length: replicas }, () => []);
    for (const s of SUBGRAPHS) {
      const ports: number[] = [];
      for (let i = 0; i < replicas; i++) ports.push(await port());
      subgraphTargets.set(s, await serviceUrl(s, ports));
      for (const [i, name] of namesOf(s).entries()) {
        const p = ports[i] as number;
        const env = {
          ...(await storesFor(name)),
          ...(replicated ? { LCM_MONGODB_WRITE_LOCKS: 'true' } : {}),
          ...(s === 'workers' && options.workerTemplatesFile ? { LCM_WORKER_TEMPLATES_FILE: options.workerTemplatesFile } : {}),
        };
        const proc = roleProcess({ name, role: s, args: ['subgraph', s, '--port', String(p)], port: p, runDir, killable: true, readyPath: '/readyz', env });
        (subgraphWaves[i] as RoleProcess[]).push(proc);
        processes.push(proc);
      }
    }
    for (const wave of subgraphWaves) await Promise.all(wave.map((p) => p.start()));

    const gateways: RoleProcess[] = [];
    for (const [i, name] of namesOf('gateway').entries()) {
      const urls: string[] = [];
      for (const s of SUBGRAPHS) urls.push(`${s}=${(await link(name, s, subgraphTargets.get(s) as string)).replace(/\/$/, '')}/graphql`);
      const p = gatewayPorts[i] as number;
      gateways.push(
        roleProcess({
          name, role: 'gateway', args: ['gateway', '--port', String(p)], port: p, runDir, killable: true, readyPath: '/readyz',
          env: { ...(await storesFor(name)), LCM_SUBGRAPH_URLS: urls.join(',') },
        }),
      );
    }
    processes.push(...gateways);
    // One at a time: a gateway writes the bootstrap admin key at start.
    for (const g of gateways) await g.start();

    const controllerEnv = async (from: string, gateway: string) => ({
      ...(await storesFor(from)),
      LCM_URL: (await link(from, 'gateway', gateway)).replace(/\/$/, ''),
      LCM_TOKEN: adminToken,
      LCM_MIN_WORKERS: '0',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'lcm-chaos',
      AWS_SECRET_ACCESS_KEY: 'lcm-chaos',
      LCM_EC2_ENDPOINT: (await link(from, 'sim-ec2', `http://127.0.0.1:${ec2Port}`)).replace(/\/$/, ''),
      LCM_LDS_URL: (await link(from, 'sim-lds', `http://127.0.0.1:${ldsPort}`)).replace(/\/$/, ''),
      LCM_GRADING_URL: (await link(from, 'sim-grading', `http://127.0.0.1:${gradingPort}`)).replace(/\/$/, ''),
      LCM_CML_SCHEME: 'http',
      // CML is reached at each worker's address on this port; a link keeps 127.0.0.1 and changes the port.
      LCM_CML_PORT: portOf(await link(from, 'sim-cml', `http://127.0.0.1:${cmlPort}`)),
      LCM_CONTROLLER_RESYNC_SECONDS: '5',
      LCM_SCALE_UP_BATCH_MS: '200',
      LCM_SCALE_DOWN_IDLE_SECONDS: '30',
      LCM_SCALE_DOWN_COOLDOWN_SECONDS: '10',
      ...options.controllerEnv,
    });
    const controllers: RoleProcess[] = [];
    for (const c of CONTROLLERS) {
      for (const i of [1, 2]) {
        const name = `${c}-${i}`;
        const p = controllerPorts.get(name) as number;
        // Each controller replica on its own gateway replica (the only one without replicas).
        const gateway = gatewayUrls[(i - 1) % gatewayUrls.length] as string;
        controllers.push(roleProcess({ name, role: c, controller: c, args: ['controller', c, '--port', String(p)], port: p, runDir, killable: true, readyPath: '/healthz', env: await controllerEnv(name, gateway) }));
      }
    }
    processes.push(...controllers);
    await Promise.all(controllers.map((p) => p.start()));

    return {
      runDir,
      gatewayUrl,
      gatewayUrls,
      balancers,
      adminToken,
      ec2Url: `http://127.0.0.1:${ec2Port}`,
      cmlUrl: `http://127.0.0.1:${cmlPort}`,
      ldsUrl: `http://127.0.0.1:${ldsPort}`,
      gradingUrl: `http://127.0.0.1:${gradingPort}`,
      etcd,
      mongo,
      processes,
      async leaders() {
        const out: Record<string, string | undefined> = {};
        await Promise.all(
          controllers.map(async (p) => {
            const text = await metricsOf(p);
            if (text && /^lcm_controller_leader\{[^}]*\} 1$/m.test(text)) out[p.controller as string] = p.name;
          }),
        );
        return out;
      },
      async metrics(name) {
        const p = processes.find((x) => x.name === name);
        return p ? metricsOf(p) : undefined;
      },
      async stop() {
        await stopAll();
        if (!process.env.LCM_CHAOS_KEEP_LOGS) rmSync(runDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopAll();
    throw new Error(`${(e as Error).message} (logs in ${runDir})`);
  }
}
