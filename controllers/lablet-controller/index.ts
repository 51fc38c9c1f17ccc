/**
 * The lablet-controller (DESIGN.md §4): drives each placed session through its lab's life — boot
 * window, instantiation on CML (reuse a wiped lab or import, PATty port tags, start, boot), the
 * student's user session in LDS, health and timeslot, evidence and grading, the score report, teardown
 * and release of capacity — and receives LDS and grading-engine CloudEvents on `POST /events`.
 * Decisions are pure in decide.ts, I/O in reconcile.ts, events in events.ts, lab helpers in lab.ts.
 *
 * Wiring: one leader-elected `Controller` keyed by session id. The informer lists every session that
 * is not ARCHIVED or TERMINATED and is woken by their status projections (`/lcm/sessions/<id>/status`);
 * a session that becomes TERMINATED leaves the cache, which reconciles it once more (its teardown);
 * waits (boot window, boot, grading, health, timeslot end) are requeues. This controller owns the
 * teardown and the release of every session that reached a worker; a reservation held by a session
 * that ended is the durable marker of a teardown not finished, and the teardown scan (scan.ts, key
 * `scan:teardown`: at leadership start, on every resync and on worker changes) enqueues every such
 * session, so one that ended while no lablet-controller led is torn down all the same. The periodic
 * resync re-lists, so a missed event only delays work.
 *
 * The sink requires `Authorization: Bearer <events token>` (`LCM_EVENTS_TOKEN`, else derived from the
 * internal secret: core/auth/events-token.ts): without it anyone reaching the port could post
 * `grading.session.completed` with any score, or end a student's session.
 */
import type http from 'node:http';
import { resolveEventsToken } from '../../core/auth/events-token.ts';
import { LabletSessionStatus as S } from '../../core/domain/enums.ts';
import { cloudEventsHandler } from '../../core/events/cloudevents-http.ts';
import { Controller, type InformerSource, type ReconcileContext, type ReconcileResult } from '../../core/runtime/index.ts';
import type { ControllerDeps, ControllerFactory } from '../kit/role.ts';
import { actionRecorder } from '../kit/metrics.ts';
import { sessionSource, workerSource } from '../kit/sources.ts';
import { labletClients, type LabletClients } from './clients.ts';
import type { Settings } from './decide.ts';
import { LabletEvents, SeenEvents } from './events.ts';
import { LabletReconciler } from './reconcile.ts';
import { scanForTeardowns, TEARDOWN_SCAN_KEY } from './scan.ts';

const NAME = 'lablet-controller';

/** Every status in which the controller has something to do (TERMINATED: once more, via the cache). */
const WATCHED = Object.values(S).filter((s) => s !== S.ARCHIVED && s !== S.TERMINATED && s !== S.PENDING);

export interface LabletControllerOptions extends Partial<Omit<Settings, 'bootTimeoutMs' | 'gradingTimeoutMs'>> {
  /** Sessions reconciled at once (never one twice). Default 16. */
  concurrency?: number;
  /** How long a lab stop or wipe may take. Default 120 s. */
  labActionTimeoutMs?: number;
  /** First retry delay of a failed step (doubling). Default 500 ms. */
  retryBaseDelayMs?: number;
  /** The external clients (default: from the configuration and overrides). */
  clients?: (deps: ControllerDeps) => LabletClients;
  /** Retention of processed event ids. Default 7200 s. */
  seenEventsTtlSeconds?: number;
  /** Least time between two teardown scans (worker changes come in bursts). Default 1 s. */
  teardownScanMinIntervalMs?: number;
  /**
   * The bearer token `POST /events` requires (default: `LCM_EVENTS_TOKEN`, else derived from the
   * internal secret, see core/auth/events-token.ts).
   */
  eventsToken?: string;
}

/** An object that is listed on every resync and never announced by a watch: a periodic key. */
function periodic(key: string): InformerSource<{ id: string }> {
  return { name: `periodic(${key})`, prefix: `/lcm/${NAME}/never/`, keyOf: (o) => o.id, list: async () => [{ id: key }], decode: () => undefined };
}

export const DEFAULT_SETTINGS: Omit<Settings, 'bootTimeoutMs' | 'gradingTimeoutMs'> = {
  maxStepAttempts: 6,
  maxGradingAttempts: 2,
  pollMs: 1_000,
  gradingPollMs: 5_000,
  healthIntervalMs: 30_000,
};

export function createLabletController(options: LabletControllerOptions = {}): ControllerFactory {
  return async (deps) => {
    // First: it may read or create `.lcm/internal-secret`, and fails before anything is opened.
    const eventsToken = options.eventsToken ?? resolveEventsToken(deps.config);
    const settings: Settings = {
      bootTimeoutMs: deps.config.LCM_LAB_BOOT_TIMEOUT_SECONDS * 1000,
      gradingTimeoutMs: deps.config.LCM_GRADING_TIMEOUT_SECONDS * 1000,
      maxStepAttempts: options.maxStepAttempts ?? DEFAULT_SETTINGS.maxStepAttempts,
      maxGradingAttempts: options.maxGradingAttempts ?? DEFAULT_SETTINGS.maxGradingAttempts,
      pollMs: options.pollMs ?? DEFAULT_SETTINGS.pollMs,
      gradingPollMs: options.gradingPollMs ?? DEFAULT_SETTINGS.gradingPollMs,
      healthIntervalMs: options.healthIntervalMs ?? DEFAULT_SETTINGS.healthIntervalMs,
    };
    const clients = options.clients?.(deps) ?? labletClients(deps);
    const record = actionRecorder(deps.registry, NAME);
    const reconciler = new LabletReconciler(deps, clients, { settings, labActionTimeoutMs: options.labActionTimeoutMs ?? 120_000 }, record);
    const scanMinIntervalMs = options.teardownScanMinIntervalMs ?? 1_000;
    let lastScanAt = -Infinity;
    const scan = async (ctx: ReconcileContext): Promise<ReconcileResult> => {
      const since = Date.now() - lastScanAt;
      if (since < scanMinIntervalMs) return { requeueAfterMs: Math.ceil(scanMinIntervalMs - since) };
      lastScanAt = Date.now();
      const ids = await scanForTeardowns(deps.client);
      if (ctx.signal.aborted) return undefined;
      if (ids.length > 0) deps.logger.info({ controller: NAME, sessions: ids.slice(0, 20), count: ids.length }, 'ended sessions still hold reservations: tearing them down');
      for (const id of ids) controller.enqueue(id);
      record('teardown-scan', 'ok');
      return undefined;
    };
    const controller: Controller = new Controller({
      name: NAME,
      store: deps.store,
      reconcile: (key, ctx) => (key === TEARDOWN_SCAN_KEY ? scan(ctx) : reconciler.reconcile(key, ctx)),
      watches: [
        { source: sessionSource(deps.client, WATCHED) },
        // The teardown scan: listed at every (re)list, so it runs when leadership starts and on every
        // resync; any worker change (a reservation made or released, a worker ending) wakes it too.
        { source: periodic(TEARDOWN_SCAN_KEY) },
        { source: workerSource(deps.client), keysFor: () => [TEARDOWN_SCAN_KEY] },
      ],
      concurrency: options.concurrency ?? 16,
      rateLimit: { baseDelayMs: options.retryBaseDelayMs ?? 500, maxDelayMs: 60_000 },
      resyncPeriodMs: deps.config.LCM_CONTROLLER_RESYNC_SECONDS * 1000,
      ...(deps.leaderElection ? { leaderElection: deps.leaderElection } : {}),
      registry: deps.registry,
      logger: deps.logger,
    });
    const events = new LabletEvents(deps, new SeenEvents(deps.store, options.seenEventsTtlSeconds ?? 7200), {
      wake: (id) => controller.enqueue(id),
    });
    const sink = cloudEventsHandler({
      bearerToken: eventsToken,
      onEvent: (event) => events.handle(event),
      onError: (err, event) => deps.logger.warn({ err, type: event.type, id: event.id }, 'event could not be processed'),
    });
    return {
      controllers: [controller],
      async handle(req: http.IncomingMessage, res: http.ServerResponse) {
        const path = (req.url ?? '').split('?')[0];
        if (path !== '/events') return false;
        await sink(req, res);
        return true;
      },
      async readiness() {
        const missing: string[] = [];
        if (!clients.lds) missing.push(`${NAME}: no LDS configured (LCM_LDS_URL)`);
        if (!clients.grading) missing.push(`${NAME}: no grading engine configured (LCM_GRADING_URL)`);
        return missing;
      },
      async stop() {
        await controller.stop();
        await clients.close();
      },
    };
  };
}

export const factory: ControllerFactory = createLabletController();
