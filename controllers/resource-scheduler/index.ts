/**
 * The resource-scheduler (DESIGN.md §4): places PENDING sessions on RUNNING workers (reserve, then
 * schedule), asks for workers when nothing fits, and makes sure no reservation outlives the session
 * that holds it. Decisions in reconcile.ts (pure) and core/domain/scheduling.ts (the engine), I/O in
 * actions.ts.
 *
 * Wiring: one leader-elected `Controller` with two keys.
 *   - `cycle` decides every PENDING session at once (the work queue dedupes the key, so the events of
 *     a burst coalesce into one cycle, which bin-packs them together; scale-up waits for the batch
 *     window LCM_SCALE_UP_BATCH_MS from the first unmet need). Woken by PENDING sessions arriving or
 *     changing and by every worker change (a worker turning RUNNING, capacity reserved or released),
 *     a few ms late so that a burst makes one cycle (`COALESCE_MS`); requeued for the next timeslot
 *     that becomes eligible. Writes of sessions outside PENDING do not wake it (see `pendingKeys`).
 *   - `sweep` releases reservations no session needs (its session gone, never placed on that worker,
 *     placed elsewhere), and resumes (or releases) a bind interrupted between its two steps. The
 *     reservation of a session that ended (STOPPED, ARCHIVED, TERMINATED) on its worker belongs to the
 *     lablet-controller's teardown, which releases it once the lab is stopped and wiped: the sweep
 *     releases it only when that teardown is done or `teardownGraceMs` after the session ended (the
 *     safety net when no lablet-controller runs; a warning and
 *     `lcm_scheduler_sweep_releases_total{cause="teardown-grace"}`). Woken when a session leaves the
 *     placed statuses, or leaves PENDING other than by being scheduled, when a grace period ends, and
 *     on every resync; not by the other session writes (it lists every live session, so a sweep per
 *     write made a burst quadratic: see `pendingKeys`, `placedKeys`).
 * The periodic resync re-lists everything, so a missed event only delays work.
 */
import { Counter, Gauge } from 'prom-client';
import { LabletSessionStatus as S } from '../../core/domain/enums.ts';
import { rankWorkers, type TemplateOffer } from '../../core/domain/scheduling.ts';
import { Controller, type InformerSource, type ObjectChange, type ReconcileContext, type ReconcileResult } from '../../core/runtime/index.ts';
import type { ControllerDeps, ControllerFactory } from '../kit/role.ts';
import { actionRecorder } from '../kit/metrics.ts';
import { sessionSource, workerSource, type SessionSummary } from '../kit/sources.ts';
import { SchedulerActions } from './actions.ts';
import { reconcileCycle, reconcileSweep, unlistedHolders, type ObservedEndedSession, type ObservedLiveSession } from './reconcile.ts';

export const CYCLE_KEY = 'cycle';
export const SWEEP_KEY = 'sweep';
const NAME = 'resource-scheduler';

/** Statuses in which a placed session holds its reservation (PENDING is watched on its own). */
const PLACED = [S.SCHEDULED, S.INSTANTIATING, S.READY, S.RUNNING, S.COLLECTING, S.GRADING, S.STOPPING, S.EXPIRED];

export interface ResourceSchedulerOptions {
  /**
   * How long a PENDING session's reservation is left alone before the sweep resumes or releases it
   * (a bind may be between reserve and schedule). Default 30 s.
   */
  bindGraceMs?: number;
  /** Binds run at once in a cycle. Default 8. */
  bindConcurrency?: number;
  /**
   * How long after a session ended on its worker (TERMINATED, ARCHIVED, STOPPED) its reservation waits
   * for the lablet-controller's teardown before the sweep releases it anyway. Default 10 min.
   */
  teardownGraceMs?: number;
}

/**
 * How long a wake-up of the cycle waits for more: the changes of a burst (sessions created, the
 * reservations of a cycle's own binds) coalesce into one cycle, which bin-packs them together.
 */
const COALESCE_MS = 5;

/**
 * The keys a change seen by the PENDING informer concerns. Every change of a session outside PENDING
 * also reaches it, as a delete of a session it never held: those are none of its business (the
 * PLACED informer sees the placed ones), and waking a cycle and a sweep on each — the sweep lists
 * every live session — made every session write cost O(sessions).
 *   - a PENDING session arrives or changes → cycle;
 *   - it leaves PENDING for SCHEDULED (bound by a cycle: the reservation it holds was a worker change,
 *     which woke the cycle already) → nothing;
 *   - it leaves PENDING otherwise (terminated, cancelled) or is deleted → sweep: a bind interrupted
 *     between reserve and schedule may have left it a reservation;
 *   - a session the informer never held → nothing, unless it was really deleted (sweep).
 */
export function pendingKeys(change: ObjectChange<SessionSummary>): string[] {
  if (change.kind !== 'delete') return [CYCLE_KEY];
  if (change.current === undefined) return [SWEEP_KEY];
  if (change.previous === undefined) return [];
  return change.current.status === S.SCHEDULED ? [] : [SWEEP_KEY];
}

/**
 * The keys a change seen by the PLACED informer concerns: only a placed session leaving the placed
 * statuses (STOPPED, ARCHIVED, TERMINATED) or deleted → sweep (which keeps the reservation of one that
 * ended on its worker until its teardown is done). Changes within the placed statuses, and of
 * sessions the informer never held (PENDING ones, ended ones moving on), concern nobody here; a real
 * deletion of a session never held is swept all the same (it is rare, and it may hold a reservation).
 */
export function placedKeys(change: ObjectChange<SessionSummary>): string[] {
  if (change.kind !== 'delete') return [];
  if (change.current === undefined) return [SWEEP_KEY];
  return change.previous === undefined ? [] : [SWEEP_KEY];
}

/** An object that is listed on every resync and never announced by a watch: a periodic key. */
function periodic(key: string): InformerSource<{ id: string }> {
  return { name: `periodic(${key})`, prefix: `/lcm/${NAME}/never/`, keyOf: (o) => o.id, list: async () => [{ id: key }], decode: () => undefined };
}

/** Run `fn` over `items`, at most `limit` at once; every error is collected, none stops the others. */
async function runLimited<T>(items: readonly T[], limit: number, signal: AbortSignal, fn: (item: T) => Promise<boolean>): Promise<{ done: number; refused: number; errors: unknown[] }> {
  let next = 0;
  const out = { done: 0, refused: 0, errors: [] as unknown[] };
  const lane = async () => {
    while (next < items.length && !signal.aborted) {
      const item = items[next++] as T;
      try {
        if (await fn(item)) out.done += 1;
        else out.refused += 1;
      } catch (e) {
        out.errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

export function createResourceScheduler(options: ResourceSchedulerOptions = {}): ControllerFactory {
  return async (deps: ControllerDeps) => {
    const graceMs = options.bindGraceMs ?? 30_000;
    const concurrency = options.bindConcurrency ?? 8;
    const teardownGraceMs = options.teardownGraceMs ?? 10 * 60_000;
    const resyncMs = deps.config.LCM_CONTROLLER_RESYNC_SECONDS * 1000;
    const logger = deps.logger.child({ controller: NAME });
    const actions = new SchedulerActions(deps.client, logger, actionRecorder(deps.registry, NAME));
    const pending =
      (deps.registry.getSingleMetric('lcm_scheduler_pending_sessions') as Gauge<'state'> | undefined) ??
      new Gauge({
        name: 'lcm_scheduler_pending_sessions',
        help: 'PENDING sessions at the last scheduling cycle, by what holds them back (placed = bound in that cycle)',
        labelNames: ['state'],
        registers: [deps.registry],
      });
    const awaiting =
      (deps.registry.getSingleMetric('lcm_scheduler_reservations_awaiting_teardown') as Gauge | undefined) ??
      new Gauge({
        name: 'lcm_scheduler_reservations_awaiting_teardown',
        help: 'Reservations of ended sessions kept at the last sweep for the lablet-controller to tear their lab down and release them',
        registers: [deps.registry],
      });
    const sweepReleases =
      (deps.registry.getSingleMetric('lcm_scheduler_sweep_releases_total') as Counter<'cause'> | undefined) ??
      new Counter({
        name: 'lcm_scheduler_sweep_releases_total',
        help: 'Reservations the sweep released, by cause (teardown-grace: a teardown not finished within the grace period)',
        labelNames: ['cause'],
        registers: [deps.registry],
      });
    /** Reservations already reported as waiting for their teardown (logged once each). */
    const reportedAwaiting = new Set<string>();
    let needSince: Date | undefined;
    let templatesCache: { at: number; templates: TemplateOffer[] } | undefined;
    const unplaceable = new Map<string, string>();

    const templates = async (): Promise<TemplateOffer[]> => {
      // Templates change rarely (seeded, upserted by an operator): read at most once a second.
      if (templatesCache && Date.now() - templatesCache.at < 1_000) return templatesCache.templates;
      templatesCache = { at: Date.now(), templates: await actions.templates() };
      return templatesCache.templates;
    };

    const cycle = async (ctx: ReconcileContext): Promise<ReconcileResult> => {
      const [offers, workers, sessions] = await Promise.all([templates(), actions.workers(), actions.pendingSessions()]);
      if (ctx.signal.aborted) return undefined;
      const decision = reconcileCycle({ now: deps.clock(), sessions, workers, templates: offers, needSince, batchWindowMs: deps.config.LCM_SCALE_UP_BATCH_MS });
      needSince = decision.needSince;
      const { plan } = decision;
      pending.set({ state: 'placed' }, plan.placements.length);
      pending.set({ state: 'waiting_for_timeslot' }, plan.notYetEligible.length);
      pending.set({ state: 'waiting_for_capacity' }, plan.awaitingCapacity.length);
      pending.set({ state: 'scale_up' }, plan.scaleUp.reduce((n, r) => n + r.sessionIds.length, 0));
      pending.set({ state: 'unplaceable' }, plan.unplaceable.length);
      pending.set({ state: 'holding_reservation' }, decision.holding.length);
      if (plan.scaleUp.length > 0 && logger.isLevelEnabled('debug')) {
        const first = sessions.find((s) => s.sessionId === plan.scaleUp[0]?.sessionIds[0]);
        if (first) logger.debug({ sessionId: first.sessionId, workers: rankWorkers(first, workers).map((v) => ({ id: v.workerId, fits: v.fits, score: v.score, refusal: v.refusal?.message })) }, 'no RUNNING worker fits');
      }
      const stuck = new Map(plan.unplaceable.map((u) => [u.sessionId, u.reason]));
      for (const [id, reason] of stuck) {
        if (unplaceable.get(id) !== reason) logger.warn({ sessionId: id, reason }, 'session fits no worker and no enabled template; it stays PENDING (see its placementPlan)');
      }
      unplaceable.clear();
      for (const [id, reason] of stuck) unplaceable.set(id, reason);
      if (decision.holding.length > 0) controllerRef.enqueueAfter(SWEEP_KEY, graceMs);

      const result = await runLimited(decision.actions, concurrency, ctx.signal, (a) => actions.runCycleAction(a));
      if (result.errors.length > 0) throw new AggregateError(result.errors, `${result.errors.length} scheduling action(s) failed`);
      if (result.refused > 0) return { requeueAfterMs: 50 };
      return decision.requeueAfterMs !== undefined ? { requeueAfterMs: Math.min(decision.requeueAfterMs + 5, resyncMs) } : undefined;
    };

    const sweep = async (ctx: ReconcileContext): Promise<ReconcileResult> => {
      // Workers first, then sessions: a reservation whose session is not live afterwards is stale,
      // unless its session ended on that worker and its teardown is not done (looked up one by one).
      const workers = await actions.workers();
      const liveSessions = await actions.liveSessions();
      const endedSessions = new Map<string, ObservedEndedSession | ObservedLiveSession>();
      const lookups = await runLimited(unlistedHolders(workers, liveSessions), concurrency, ctx.signal, async (id) => {
        const s = await actions.endedSession(id);
        if (s) endedSessions.set(id, s);
        return true;
      });
      if (lookups.errors.length > 0) throw new AggregateError(lookups.errors, `${lookups.errors.length} session lookup(s) failed`);
      if (ctx.signal.aborted) return undefined;
      const decision = reconcileSweep({ now: deps.clock(), workers, liveSessions, endedSessions, graceMs, teardownGraceMs });
      awaiting.set(decision.awaitingTeardown.length);
      const waitingNow = new Set<string>();
      for (const a of decision.awaitingTeardown) {
        const key = `${a.workerId}/${a.sessionId}`;
        waitingNow.add(key);
        if (!reportedAwaiting.has(key)) {
          logger.info({ workerId: a.workerId, sessionId: a.sessionId, status: a.status, releaseAt: a.releaseAt.toISOString() }, 'reservation of an ended session kept for the lablet-controller\'s teardown');
        }
      }
      reportedAwaiting.clear();
      for (const k of waitingNow) reportedAwaiting.add(k);
      const result = await runLimited(decision.actions, concurrency, ctx.signal, async (a) => {
        const done = await actions.runSweepAction(a);
        if (done && a.kind === 'release') sweepReleases.inc({ cause: a.cause });
        return done;
      });
      if (result.errors.length > 0) throw new AggregateError(result.errors, `${result.errors.length} sweep action(s) failed`);
      if (result.done + result.refused > 0) controllerRef.enqueue(CYCLE_KEY);
      return { requeueAfterMs: Math.min(decision.requeueAfterMs !== undefined ? decision.requeueAfterMs + 5 : resyncMs, resyncMs) };
    };

    const controllerRef: Controller = new Controller({
      name: NAME,
      store: deps.store,
      reconcile: (key, ctx) => (key === SWEEP_KEY ? sweep(ctx) : cycle(ctx)),
      watches: [
        { source: sessionSource(deps.client, [S.PENDING]), keysFor: (_key, _object, change) => pendingKeys(change), coalesceMs: COALESCE_MS },
        { source: sessionSource(deps.client, PLACED), keysFor: (_key, _object, change) => placedKeys(change) },
        // Any worker change (RUNNING, capacity reserved or released, draining) → cycle.
        { source: workerSource(deps.client), keysFor: () => [CYCLE_KEY], coalesceMs: COALESCE_MS },
        { source: periodic(SWEEP_KEY) },
        { source: periodic(CYCLE_KEY) },
      ],
      concurrency: 2,
      resyncPeriodMs: resyncMs,
      ...(deps.leaderElection ? { leaderElection: deps.leaderElection } : {}),
      registry: deps.registry,
      logger: deps.logger,
    });

    return {
      controllers: [controllerRef],
      async stop() {
        await controllerRef.stop();
      },
    };
  };
}

export const factory: ControllerFactory = createResourceScheduler();
