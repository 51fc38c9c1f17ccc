/**
 * The chaos run from the command line (what the vitest files call, with a report on stdout):
 *   LCM_CHAOS_SESSIONS=500 LCM_CHAOS_SECONDS=600 npx tsx test/chaos/run.ts
 * Environment: LCM_CHAOS_SESSIONS (default 50), LCM_CHAOS_SECONDS (chaos duration, default 60),
 * LCM_CHAOS_KILL_EVERY_MS (default 4000), LCM_CHAOS_SETTLE_SECONDS (time to end every session after the
 * chaos, default 180), LCM_CHAOS_GRACE_SECONDS (how long the sessions not ended by then are still
 * watched, to tell slow from stuck; default 60), LCM_CHAOS_KEEP_LOGS=1 keeps every process's log,
 * LCM_CHAOS_LOG_LEVEL the processes' log level (e.g. `lablet-controller=debug,info`; see cluster.ts),
 * LCM_CHAOS_WORKER_TEMPLATES a worker templates file for the workers subgraph (e.g.
 * test/chaos/fixtures/metal-workers.yaml: many sessions per worker instead of one `medium` worker each).
 */
import { resolve } from 'node:path';
import { startCluster } from './cluster.ts';
import { formatReport, runChaos, type ChaosOptions, type ChaosReport } from './chaos.ts';

export function chaosOptionsFromEnv(defaults: Omit<ChaosOptions, 'log'>): Omit<ChaosOptions, 'log'> {
  const n = (name: string, fallback: number) => {
    const v = process.env[name];
    return v === undefined || v === '' ? fallback : Number(v);
  };
  return {
    sessions: n('LCM_CHAOS_SESSIONS', defaults.sessions),
    chaosSeconds: n('LCM_CHAOS_SECONDS', defaults.chaosSeconds),
    killEveryMs: n('LCM_CHAOS_KILL_EVERY_MS', defaults.killEveryMs),
    settleSeconds: n('LCM_CHAOS_SETTLE_SECONDS', defaults.settleSeconds),
    graceSeconds: n('LCM_CHAOS_GRACE_SECONDS', defaults.graceSeconds ?? 60),
  };
}

/** Starts the cluster, runs the chaos, stops the cluster; the report and where the logs are. */
export async function chaosRun(options: Omit<ChaosOptions, 'log'>, log: (line: string) => void): Promise<ChaosReport & { runDir: string }> {
  const templates = process.env.LCM_CHAOS_WORKER_TEMPLATES;
  const cluster = await startCluster(templates ? { workerTemplatesFile: resolve(templates) } : {});
  log(`cluster up: ${cluster.processes.length} processes, logs in ${cluster.runDir}`);
  try {
    const report = await runChaos(cluster, { ...options, log });
    return { ...report, runDir: cluster.runDir };
  } finally {
    await cluster.stop();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const options = chaosOptionsFromEnv({ sessions: 50, chaosSeconds: 60, killEveryMs: 4000, settleSeconds: 180 });
  const started = Date.now();
  const report = await chaosRun(options, (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`));
  console.log(formatReport(report));
  console.log(JSON.stringify(report));
}
