/**
 * One run of the stores script (test/chaos/stores.ts) on a fresh cluster, with the checks both test
 * forms make: the chaos run's invariants, failover within the lease TTL, no two leaders, no double
 * placement, no acknowledged write lost, watches re-listed after a compaction, a subscription that
 * never hangs. Returns the findings (empty lists when everything held) and the printed figures.
 */
import { formatReport, runChaos, type ChaosReport } from './chaos.ts';
import {
  LEADER_LEASE_TTL_SECONDS,
  LEADER_RENEW_INTERVAL_SECONDS,
  formatStores,
  lostWrites,
  placedTwice,
  startStoresCluster,
  storesProbes,
  subscriptionAfterSteps,
  type StepKind,
  type StoresProbes,
} from './stores.ts';

/**
 * The bound on a failover: the TTL, plus 5 s for what follows the expiry on a loaded 2-core machine —
 * etcd's expiry check (every 500 ms) and the revoke it writes, the watch delivering the delete to the
 * successor, its campaign step (one list) and the 100 ms poll of its `/metrics`, each of which waits
 * for a CPU behind a dozen busy processes.
 */
export const FAILOVER_MARGIN_SECONDS = 5;
/**
 * The floor: the killed leader's lease cannot expire sooner than TTL minus the renew interval after
 * the kill (its last renewal is at most that old), minus 1 s for clock and sampling slack. A
 * successor before that would have taken over while etcd still held the old leader's lease.
 */
export const FAILOVER_FLOOR_SECONDS = LEADER_LEASE_TTL_SECONDS - LEADER_RENEW_INTERVAL_SECONDS - 1;

export interface StoresRunOptions {
  sessions: number;
  script: StepKind[];
  chaosSeconds: number;
  settleSeconds: number;
  /** Random kill -9 of any LCM process beside the script (0: none). */
  killEveryMs?: number;
  writeEveryMs?: number;
}

export interface StoresRunResult {
  chaos: ChaosReport;
  stores: StoresProbes;
  runDir: string;
  findings: {
    chaos: ChaosReport['findings'];
    stepsNotRun: string[];
    failoverOutOfBounds: string[];
    dualLeaders: string[];
    doublePlacements: string[];
    lostWrites: string[];
    compactionWithoutRelist: string[];
    subscription: string[];
  };
}

/** The findings of a run in which everything held (what the tests expect). */
export const NO_STORE_FINDINGS: StoresRunResult['findings'] = {
  chaos: { stuck: [], portClashes: [], capacityLeaks: [], duplicateEc2: [] },
  stepsNotRun: [],
  failoverOutOfBounds: [],
  dualLeaders: [],
  doublePlacements: [],
  lostWrites: [],
  compactionWithoutRelist: [],
  subscription: [],
};

export async function storesRun(o: StoresRunOptions, log: (line: string) => void): Promise<StoresRunResult> {
  const { cluster, proxy } = await startStoresCluster();
  log(`cluster up: ${cluster.processes.length} processes, etcd through ${proxy.url}, logs in ${cluster.runDir}`);
  const chaosEnds = Date.now() + o.chaosSeconds * 1000;
  const { probes, disruption } = storesProbes(cluster, proxy, {
    script: o.script,
    everyMs: 3000,
    writeEveryMs: o.writeEveryMs ?? 10_000,
    writeUntil: chaosEnds - 15_000,
  });
  try {
    const chaos = await runChaos(cluster, {
      sessions: o.sessions,
      chaosSeconds: o.chaosSeconds,
      killEveryMs: o.killEveryMs ?? 0,
      settleSeconds: o.settleSeconds,
      graceSeconds: 30,
      disruptions: [disruption],
      log,
    });
    await probes.stop();
    const bound = (LEADER_LEASE_TTL_SECONDS + FAILOVER_MARGIN_SECONDS) * 1000;
    const floor = FAILOVER_FLOOR_SECONDS * 1000;
    const done = probes.steps.map((s) => s.name);
    const missing: string[] = [...o.script];
    for (const d of done) missing.splice(missing.indexOf(d), 1);
    const findings: StoresRunResult['findings'] = {
      chaos: chaos.findings,
      stepsNotRun: missing.map((m) => `${m} did not run within the chaos time`),
      failoverOutOfBounds: probes.failovers
        .filter((f) => f.ms > bound || f.ms < floor)
        .map((f) => `${f.controller}: ${f.from} -> ${f.to} in ${f.ms} ms (expected ${floor}–${bound} ms)`),
      dualLeaders: probes.dualLeaders,
      doublePlacements: [...probes.doublePlacements, ...(await placedTwice(cluster))],
      lostWrites: await lostWrites(cluster, probes.acked),
      compactionWithoutRelist: probes.resetsByCompaction.flatMap((n, i) => (n > 0 ? [] : [`compaction ${i + 1}: no controller informer re-listed`])),
      subscription: [
        ...probes.subscription.ends.filter((e) => e.code !== 'SUBSCRIPTION_CURSOR_EXPIRED').map((e) => `subscription ended with ${e.code} at ${new Date(e.at).toISOString()}`),
        ...subscriptionAfterSteps(probes).flatMap((s) => (s.nextEventMs === null ? [`no event after ${s.step}`] : [])),
      ],
    };
    log(formatReport(chaos));
    log(formatStores(probes));
    return { chaos, stores: probes, runDir: cluster.runDir, findings };
  } finally {
    await probes.stop();
    await proxy.close();
    await cluster.stop();
  }
}
