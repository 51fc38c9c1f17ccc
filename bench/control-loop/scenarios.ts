/**
 * The measurements, each on a fresh system: create → READY latency (one session at a time with the
 * watch; sessions at random offsets with polling), and a burst of sessions on warm workers or from
 * zero workers. Times come from the sessions' status history (the server's clock, in this same
 * process): READY's `at` minus the moment just before the create call was sent.
 */
import { percentile } from '../support/report.ts';
import { workersNeeded } from './lower-bound.ts';
import { SESSION_NEED, WORKER_OFFER, startBenchSystem, type Api, type Backing, type BenchSystem } from './system.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, intervalMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** `fn` over 0..n-1, at most `limit` at once. */
async function limited<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
  return out;
}

/** Request `count` workers of the bench template and wait until every one runs with its CML observed. */
export async function warmWorkers(api: Api, count: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  await limited(count, 16, (i) => api.requestWorker(`warm-${i}`));
  await until(`${count} warm workers`, timeoutMs, 100, async () => {
    const ws = await api.workers();
    return ws.filter((w) => w.status === 'RUNNING' && w.cmlVersion).length >= count ? true : undefined;
  });
  return performance.now() - t0;
}

/** Fail fast when a session ended instead of getting READY. */
async function assertNoneTerminated(api: Api): Promise<void> {
  if ((await api.countSessions(['TERMINATED'])) > 0) throw new Error(`a session was TERMINATED: ${await api.firstTerminationReason()}`);
}

export interface LatencyResult {
  store: string;
  mode: 'watch' | 'polling';
  resyncSeconds: number;
  sessions: number;
  latenciesMs: number[];
  p50: number;
  p99: number;
  /** Wall time of the whole measurement, seconds (warm-up included). */
  wallSec: number;
}

/**
 * Create → READY, `sessions` samples on warm workers. With the watch, one session at a time (each
 * created once the previous one is READY: no queueing). With polling, created at uniform random
 * offsets over one resync period (so they meet the re-list at every phase), then all awaited.
 */
export async function measureLatency(backing: Backing, mode: 'watch' | 'polling', sessions: number, resyncSeconds: number): Promise<LatencyResult> {
  const wall = performance.now();
  let bench: BenchSystem | undefined;
  try {
    bench = await startBenchSystem(backing, `latency-${mode}`, { watch: mode === 'watch', resyncSeconds });
    const { api } = bench;
    const definitionId = await api.createDefinition(`latency-${mode}`);
    await warmWorkers(api, workersNeeded(sessions, SESSION_NEED, WORKER_OFFER), 3 * resyncSeconds * 1000 + 30_000);
    const createdAt = new Map<string, number>();
    if (mode === 'watch') {
      for (let i = 0; i < sessions; i++) {
        const t0 = Date.now();
        const id = await api.createSession(definitionId, `student-${i}`);
        createdAt.set(id, t0);
        await until(`session ${id} READY`, 60_000, 5, async () => {
          const status = await api.sessionStatus(id);
          if (status === 'TERMINATED') await assertNoneTerminated(api);
          return status === 'READY' ? true : undefined;
        });
      }
    } else {
      const windowMs = resyncSeconds * 1000;
      const offsets = Array.from({ length: sessions }, () => Math.random() * windowMs).sort((a, b) => a - b);
      const start = Date.now();
      await Promise.all(
        offsets.map(async (offset, i) => {
          await sleep(offset);
          const t0 = Date.now();
          createdAt.set(await api.createSession(definitionId, `student-${i}`), t0);
        }),
      );
      // Two re-list periods (scheduler, then lablet-controller) plus slack after the last create.
      await until(`${sessions} sessions READY`, windowMs * 3 + 30_000 - (Date.now() - start), 250, async () => {
        await assertNoneTerminated(api);
        return (await api.countSessions(['READY'])) >= sessions ? true : undefined;
      });
    }
    const ready = await api.readySessions();
    const latenciesMs = ready.filter((r) => createdAt.has(r.id)).map((r) => r.readyAt - (createdAt.get(r.id) as number));
    if (latenciesMs.length !== sessions) throw new Error(`${latenciesMs.length} of ${sessions} sessions READY`);
    return {
      store: backing.kind,
      mode,
      resyncSeconds,
      sessions,
      latenciesMs,
      p50: percentile(latenciesMs, 50),
      p99: percentile(latenciesMs, 99),
      wallSec: (performance.now() - wall) / 1000,
    };
  } finally {
    await bench?.stop();
  }
}

export interface BurstResult {
  store: string;
  scenario: 'warm workers' | 'scale-up from zero';
  sessions: number;
  /** From the first create sent to the last session READY (status history), seconds. */
  allReadySec: number;
  /** Until every create call had answered, seconds. */
  createSec: number;
  sessionsPerSec: number;
  /** Workers in the system at the end (warm: provisioned beforehand + any launched during the burst). */
  workers: number;
  /** EC2 instances the simulator launched (for this system's whole life). */
  instancesLaunched: number;
  workersNeeded: number;
  /** Warm-up before the burst (warm workers only), seconds. */
  warmupSec: number;
  p50ReadyMs: number;
  p99ReadyMs: number;
  /** CPU time of this whole process (every role runs in it) from the first create to all READY, per session. */
  cpuMsPerSession: number;
}

/** `sessions` created at once (`concurrency` create calls in flight) on warm workers or from zero. */
export async function measureBurst(backing: Backing, scenario: BurstResult['scenario'], sessions: number, options: { concurrency: number; timeoutMs: number }): Promise<BurstResult> {
  let bench: BenchSystem | undefined;
  try {
    bench = await startBenchSystem(backing, `burst-${scenario}`, { watch: true, resyncSeconds: 30 });
    const { api, system } = bench;
    const definitionId = await api.createDefinition('burst');
    const needed = workersNeeded(sessions, SESSION_NEED, WORKER_OFFER);
    const warmupMs = scenario === 'warm workers' ? await warmWorkers(api, needed, 120_000) : 0;
    const createdAt = new Map<string, number>();
    const cpu0 = process.cpuUsage();
    const start = Date.now();
    await limited(sessions, options.concurrency, async (i) => {
      const t0 = Date.now();
      createdAt.set(await api.createSession(definitionId, `student-${i}`), t0);
    });
    const createSec = (Date.now() - start) / 1000;
    await until(`${sessions} sessions READY`, options.timeoutMs, 250, async () => {
      await assertNoneTerminated(api);
      return (await api.countSessions(['READY'])) >= sessions ? true : undefined;
    });
    const cpu = process.cpuUsage(cpu0);
    const ready = (await api.readySessions()).filter((r) => createdAt.has(r.id));
    const last = Math.max(...ready.map((r) => r.readyAt));
    const allReadySec = (last - start) / 1000;
    const latencies = ready.map((r) => r.readyAt - (createdAt.get(r.id) as number));
    const workers = (await api.workers()).length;
    return {
      store: backing.kind,
      scenario,
      sessions,
      allReadySec,
      createSec,
      sessionsPerSec: sessions / allReadySec,
      workers,
      instancesLaunched: system.simulators?.ec2.instances().length ?? 0,
      workersNeeded: needed,
      warmupSec: warmupMs / 1000,
      p50ReadyMs: percentile(latencies, 50),
      p99ReadyMs: percentile(latencies, 99),
      cpuMsPerSession: (cpu.user + cpu.system) / 1000 / sessions,
    };
  } finally {
    await bench?.stop();
  }
}
