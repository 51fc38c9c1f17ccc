import os from 'node:os';
import { sessionsPerWorker } from './lower-bound.ts';
import { measureBurst, measureLatency, type BurstResult, type LatencyResult } from './scenarios.ts';
import { SESSION_NEED, TEMPLATE, WORKER_OFFER, startBacking, type Backing, type StoreKind } from './system.ts';

export interface ControlLoopOptions {
  stores: StoreKind[];
  latencySamples: number;
  pollingSamples: number;
  /** The polling period (LCM_CONTROLLER_RESYNC_SECONDS with the watch off). */
  resyncSeconds: number;
  burst: Record<StoreKind, number>;
  burstTimeoutMs: number;
}

/** The resync period of the watch-driven runs (the default; the watch does the work). */
const WATCH_RESYNC_SECONDS = 30;

const log = (line: string) => console.log(`  [control-loop ${new Date().toISOString().slice(11, 19)}] ${line}`);

/**
 * The control-loop benchmark: for each store, watch-driven latency, then the bursts (one system each,
 * one after another); then the polling runs of every store side by side (they wait on timers, not on
 * the CPU, so running them together only saves wall time).
 */
export async function runControlLoopBench(options: ControlLoopOptions) {
  const loadAverageAtStart = os.loadavg()[0] as number;
  const latency: LatencyResult[] = [];
  const bursts: BurstResult[] = [];
  const backings: Backing[] = [];
  try {
    for (const store of options.stores) backings.push(await startBacking(store));
    for (const backing of backings) {
      log(`${backing.kind}: watch-driven latency, ${options.latencySamples} sessions`);
      latency.push(await measureLatency(backing, 'watch', options.latencySamples, WATCH_RESYNC_SECONDS));
      const n = options.burst[backing.kind];
      for (const scenario of ['warm workers', 'scale-up from zero'] as const) {
        log(`${backing.kind}: burst of ${n}, ${scenario}`);
        bursts.push(await measureBurst(backing, scenario, n, { concurrency: 32, timeoutMs: options.burstTimeoutMs }));
      }
    }
    log(`polling (${options.resyncSeconds} s) latency, ${options.pollingSamples} sessions, ${options.stores.join(' and ')} side by side`);
    latency.push(...(await Promise.all(backings.map((b) => measureLatency(b, 'polling', options.pollingSamples, options.resyncSeconds)))));
  } finally {
    await Promise.allSettled(backings.map((b) => b.stop()));
  }
  return {
    stores: options.stores,
    resyncSeconds: options.resyncSeconds,
    watchResyncSeconds: WATCH_RESYNC_SECONDS,
    template: TEMPLATE,
    need: `${SESSION_NEED.cpuCores} cores, ${SESSION_NEED.memoryGb} GB, ${SESSION_NEED.storageGb} GB disk, ${SESSION_NEED.nodeCount} nodes, ${SESSION_NEED.ports} ports`,
    offer: `${WORKER_OFFER.cpuCores} cores, ${WORKER_OFFER.memoryGb} GB, ${WORKER_OFFER.storageGb} GB disk, ${WORKER_OFFER.maxNodes} nodes, ${WORKER_OFFER.ports} ports`,
    perWorker: sessionsPerWorker(SESSION_NEED, WORKER_OFFER),
    cpus: os.cpus().length,
    loadAverageAtStart,
    latency,
    bursts,
  };
}
