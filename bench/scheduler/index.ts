import { planScheduling, type SchedulingWorker, type SessionDemand, type TemplateOffer } from '../../core/domain/scheduling.ts';
import { numberFlag, formatNumber, ratio, type Bench, type BenchFlags, type BenchTable } from '../support/report.ts';
import { firstFit, firstFitScaleUp } from './first-fit.ts';
import { binPackingLowerBound } from './lower-bound.ts';
import { definitions, METAL, PERSONAL, PLAN_AT, prng, sessions as makeSessions, workers as makeWorkers } from './workload.ts';

/** Wall and CPU time of one synchronous call. */
function timed<T>(f: () => T): { value: T; ms: number; cpuMs: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = f();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { value, ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

interface Outcome {
  algorithm: string;
  ms: number;
  cpuMs: number;
  placed: number;
  workersUsed: number;
  lowerBound: number;
  boundDimension: string | null;
}

function outcome(algorithm: string, t: { ms: number; cpuMs: number }, placed: ReadonlyArray<{ sessionId: string; workerId: string }>, byId: Map<string, SessionDemand>, capacity: TemplateOffer['capacity']): Outcome {
  const bound = binPackingLowerBound(placed.map((p) => (byId.get(p.sessionId) as SessionDemand).capacity), capacity);
  return { algorithm, ms: t.ms, cpuMs: t.cpuMs, placed: placed.length, workersUsed: new Set(placed.map((p) => p.workerId)).size, lowerBound: bound.workers, boundDimension: bound.dimension };
}

/** The engine's placement cycle and first-fit, on the same sessions and workers. */
function placeOnFleet(sessions: readonly SessionDemand[], workers: readonly SchedulingWorker[]): Outcome[] {
  const byId = new Map(sessions.map((s) => [s.sessionId, s]));
  const engine = timed(() => planScheduling({ now: PLAN_AT, sessions, workers, templates: [METAL, PERSONAL] }));
  const baseline = timed(() => firstFit(sessions, workers));
  return [
    outcome('engine (planScheduling: filter, MostAllocated score)', engine, engine.value.placements, byId, METAL.capacity),
    outcome('first-fit (arrival order, same filter, no score)', baseline, baseline.value.placements, byId, METAL.capacity),
  ];
}

/** From zero workers: how many `metal` workers each would launch for the sessions. */
function scaleUpFromZero(sessions: readonly SessionDemand[]): Outcome[] {
  const byId = new Map(sessions.map((s) => [s.sessionId, s]));
  const engine = timed(() => planScheduling({ now: PLAN_AT, sessions, workers: [], templates: [METAL] }));
  const asPlacements = engine.value.scaleUp.flatMap((r, i) => r.sessionIds.map((sessionId) => ({ sessionId, workerId: `new-${i}` })));
  const baseline = timed(() => firstFitScaleUp(sessions, METAL));
  return [
    outcome('engine (first-fit by size and by arrival, fewer workers kept)', engine, asPlacements, byId, METAL.capacity),
    outcome('first-fit (arrival order)', baseline, baseline.value.placements, byId, METAL.capacity),
  ];
}

/**
 * Options: --seed N (default 11), --sched-sessions N and --sched-workers N for the fleet scenario (default
 * 10,000 × 1,000; quick 1,000 × 100), --scale-up-sessions N (default 2,000; quick 500).
 */
export const bench: Bench = {
  description: 'scheduler engine, pure: placements/s and workers used vs the bin-packing lower bound, beside first-fit',
  async run(flags: BenchFlags, quick: boolean) {
    const seed = numberFlag(flags.seed, 11, true);
    const sessionCount = numberFlag(flags['sched-sessions'], quick ? 1000 : 10_000, true);
    const workerCount = numberFlag(flags['sched-workers'], quick ? 100 : 1000, true);
    const scaleUpCount = numberFlag(flags['scale-up-sessions'], quick ? 500 : 2000, true);
    console.log(`seed ${seed}: ${sessionCount} sessions × ${workerCount} workers; scale-up ${scaleUpCount} sessions (repeat with --seed ${seed})`);

    const random = prng(seed);
    const defs = definitions(random, 40);
    const sessions = makeSessions(random, defs, sessionCount);
    const fleet = makeWorkers(random, workerCount);
    const scaleUpSessions = makeSessions(random, defs, scaleUpCount);

    // Warm-up on a small instance of the same mix, so the measured run is not the JIT's first pass.
    const warm = prng(seed + 1);
    placeOnFleet(makeSessions(warm, defs, 300), makeWorkers(warm, 30));
    scaleUpFromZero(makeSessions(warm, defs, 100));

    const fleetRuns = placeOnFleet(sessions, fleet);
    const scaleRuns = scaleUpFromZero(scaleUpSessions);
    const [engine, ff] = fleetRuns as [Outcome, Outcome];
    const [engineUp, ffUp] = scaleRuns as [Outcome, Outcome];
    const rate = (o: Outcome) => o.placed / (o.ms / 1000);

    const placement: BenchTable = {
      title: `Placement: ${formatNumber(sessionCount)} PENDING sessions onto ${formatNumber(workerCount)} RUNNING workers (seed ${seed})`,
      columns: ['algorithm', 'placements/s', 'per CPU-s', 'placed', 'workers used', 'lower bound', 'used/bound', 'placements/s vs first-fit', 'workers vs first-fit'],
      rows: fleetRuns.map((o) => [o.algorithm, rate(o), o.placed / (o.cpuMs / 1000), o.placed, o.workersUsed, o.lowerBound, ratio(o.workersUsed, o.lowerBound), ratio(rate(o), rate(ff)), ratio(o.workersUsed, ff.workersUsed)]),
      notes: [
        `One cycle each (the resource-scheduler decides all PENDING sessions in one planScheduling call, recording each placement on its copy of the worker before the next). placements/s is over wall time, per CPU-s over the process's CPU time (steadier on a shared machine). Wall time: engine ${formatNumber(engine.ms)} ms (CPU ${formatNumber(engine.cpuMs)} ms), first-fit ${formatNumber(ff.ms)} ms (CPU ${formatNumber(ff.cpuMs)} ms).`,
        `Lower bound: max over cpu/memory/storage/nodes of ⌈placed demand ÷ one metal worker⌉ (binding: ${engine.boundDimension}); 2% of the fleet are smaller PERSONAL workers (one session each), so the bound is loose there.`,
      ],
    };
    const scaleUp: BenchTable = {
      title: `Scale-up from zero: ${formatNumber(scaleUpCount)} PENDING sessions, template metal (48 cores, 192 GiB, 1000 GiB, 200 nodes)`,
      columns: ['algorithm', 'workers to launch', 'lower bound', 'launched/bound', 'vs first-fit', 'decision ms'],
      rows: scaleRuns.map((o) => [o.algorithm, o.workersUsed, o.lowerBound, ratio(o.workersUsed, o.lowerBound), ratio(o.workersUsed, ffUp.workersUsed), o.ms]),
      notes: [`Sessions held: engine ${engineUp.placed}, first-fit ${ffUp.placed} of ${scaleUpCount}. Lower bound as above (binding: ${engineUp.boundDimension}).`],
    };
    return {
      name: 'scheduler',
      tables: [placement, scaleUp],
      raw: { seed, sessions: sessionCount, workers: workerCount, scaleUpSessions: scaleUpCount, placement: fleetRuns, scaleUp: scaleRuns },
    };
  },
};
