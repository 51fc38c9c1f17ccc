import { numberFlag, formatNumber, ratio, type Bench, type BenchFlags, type BenchTable } from '../support/report.ts';
import type { runControlLoopBench } from './run.ts';

/**
 * Options (defaults full / --quick): --stores embedded,etcd+ferretdb (both / embedded) ·
 * --latency-samples N (20 / 3; watch-driven, one at a time) · --polling-samples N (20 / 4) ·
 * --resync S (30 / 3: the polling period; 30 s is the original's) · --burst N (100 / 10, embedded) ·
 * --burst-etcd N (30 / 10, etcd + FerretDB) · --burst-timeout S (600 / 60).
 * The 1,000-session burst is `--burst 1000`: on this 2-core machine it takes far longer than
 * a full run may (the whole system shares one event loop; see docs/benchmarks.md).
 */
export const bench: Bench = {
  description: 'control loop: create → READY latency, watch-driven vs 30 s polling; bursts on warm workers and from zero workers',
  async run(flags: BenchFlags, quick: boolean) {
    const { runControlLoopBench } = await import('./run.ts');
    // --quick is a smoke check: the embedded store only, unless --stores says otherwise.
    const stores = typeof flags.stores === 'string' ? flags.stores.split(',').map((s) => s.trim()) : quick ? ['embedded'] : ['embedded', 'etcd+ferretdb'];
    for (const s of stores) if (s !== 'embedded' && s !== 'etcd+ferretdb') throw new Error(`unknown store "${s}"; embedded or etcd+ferretdb`);
    const burst = numberFlag(flags.burst, quick ? 10 : 100);
    const raw = await runControlLoopBench({
      stores: stores as Array<'embedded' | 'etcd+ferretdb'>,
      latencySamples: numberFlag(flags['latency-samples'], quick ? 3 : 20),
      pollingSamples: numberFlag(flags['polling-samples'], quick ? 4 : 20),
      resyncSeconds: numberFlag(flags.resync, quick ? 3 : 30),
      burst: { embedded: burst, 'etcd+ferretdb': numberFlag(flags['burst-etcd'], quick ? 10 : Math.min(burst, 30)) },
      burstTimeoutMs: numberFlag(flags['burst-timeout'], quick ? 60 : 600) * 1000,
    });
    return { name: 'control-loop', tables: tables(raw), raw };
  },
};

type Raw = Awaited<ReturnType<typeof runControlLoopBench>>;

function tables(raw: Raw): BenchTable[] {
  const latency: BenchTable = {
    title: 'Control loop: session create → READY (zero-delay simulators, warm workers)',
    columns: ['mode', 'store', 'sessions', 'p50 ms', 'p99 ms', 'vs polling p50', 'vs polling p99'],
    rows: [],
    notes: [
      'Latency = READY time in the session\'s status history minus the moment the create call was sent (one process, one clock).',
      `watch: one session at a time, the controllers woken by the status projections (resync ${raw.watchResyncSeconds} s). polling: LCM_CONTROLLER_WATCH=false, re-list every ${raw.resyncSeconds} s, sessions created at random offsets over one period.`,
      '"vs polling" = polling ÷ this row: how many times sooner the session is READY.',
    ],
  };
  for (const store of raw.stores) {
    const watch = raw.latency.find((r) => r.store === store && r.mode === 'watch');
    const polling = raw.latency.find((r) => r.store === store && r.mode === 'polling');
    for (const r of [watch, polling]) {
      if (!r) continue;
      latency.rows.push([
        r.mode === 'watch' ? 'watch' : `polling ${r.resyncSeconds} s`,
        store,
        r.sessions,
        Math.round(r.p50),
        Math.round(r.p99),
        polling ? ratio(polling.p50, r.p50) : 'n/a',
        polling ? ratio(polling.p99, r.p99) : 'n/a',
      ]);
    }
  }
  const burst: BenchTable = {
    title: 'Control loop: bursts of sessions created at once',
    columns: ['scenario', 'store', 'sessions', 'all READY s', 'sessions/s', 'create→READY p50 ms', 'p99 ms', 'CPU ms / session', 'workers launched', 'workers needed', 'launched ÷ needed'],
    rows: raw.bursts.map((b) => [
      b.scenario,
      b.store,
      b.sessions,
      Number(b.allReadySec.toFixed(1)),
      b.sessionsPerSec,
      Math.round(b.p50ReadyMs),
      Math.round(b.p99ReadyMs),
      Math.round(b.cpuMsPerSession),
      b.instancesLaunched,
      b.workersNeeded,
      ratio(b.instancesLaunched, b.workersNeeded),
    ]),
    notes: [
      `Definition examples/two-routers.yaml (${raw.need}); one template enabled, ${raw.template} (${raw.offer}): ${raw.perWorker} sessions per worker, so N sessions need ⌈N / ${raw.perWorker}⌉ workers (exact for identical sessions).`,
      'all READY = first create sent → last session READY (status history); CPU ms / session = CPU time of the one process over that span ÷ sessions (less sensitive to other load on the machine than the times); workers launched = EC2 simulator instances (warm: the ones provisioned before the burst, which are all the burst may use unless the scheduler asks for more).',
      `Everything (gateway, subgraphs, controllers, simulators, this client) runs in one Node process on ${raw.cpus} cores; load average at the start ${formatNumber(raw.loadAverageAtStart)}.`,
    ],
  };
  return [latency, burst];
}
