/**
 * The resource-scheduler's decisions, pure: what it observed in → the actions it asks for out. Two
 * reconcile keys (see index.ts):
 *   - `cycle`: the PENDING sessions → binds (reserve on a worker, then schedule), worker requests
 *     (after the scale-up batch window), terminations of sessions whose timeslot ended while PENDING;
 *     the placement itself is the engine in core/domain/scheduling.ts.
 *   - `sweep`: every reservation on every worker against the session that holds it → release what no
 *     session needs any more, resume the bind of a PENDING session that crashed between reserve and
 *     schedule. Reservations younger than the grace period are left alone (a bind may be in flight);
 *     a reservation of a session that ended on its worker waits for the lablet-controller's teardown
 *     (which releases it) and is released here only when that teardown is done or after the teardown
 *     grace period: the safety net when no lablet-controller runs.
 */
import { type Capacity } from '../../core/domain/capacity.ts';
import { LabletSessionStatus, WorkerStatus, type LicenseType } from '../../core/domain/enums.ts';
import type { CmlRequirements } from '../../core/domain/placement.ts';
import { acceptsSessions, planScheduling, type SchedulingPlan, type SchedulingWorker, type SessionDemand, type TemplateOffer } from '../../core/domain/scheduling.ts';
import type { PortMapping } from '../../core/domain/tcp-ports.ts';

/** A worker as observed, with when each reservation was made. */
export interface ObservedWorker extends SchedulingWorker {
  reservations: Array<{ sessionId: string; capacity: Capacity; ports: PortMapping[]; reservedAt: Date }>;
}

/** A PENDING session as observed, with its definition's requirements. */
export interface ObservedPendingSession extends SessionDemand {
  revision: number;
}

export type CycleAction =
  | {
      kind: 'bind';
      sessionId: string;
      revision: number;
      workerId: string;
      capacity: Capacity;
      portNames: readonly string[];
      licenseAffinity: readonly LicenseType[];
    }
  | { kind: 'request-worker'; templateName: string; sessionIds: string[]; reason: string }
  | { kind: 'terminate'; sessionId: string; reason: string };

export interface CycleObservation {
  now: Date;
  sessions: readonly ObservedPendingSession[];
  workers: readonly ObservedWorker[];
  templates: readonly TemplateOffer[];
  /** When the current unmet need for capacity was first seen (undefined: none so far). */
  needSince: Date | undefined;
  batchWindowMs: number;
}

export interface CycleDecision {
  actions: CycleAction[];
  plan: SchedulingPlan;
  /** Sessions left out because they hold a reservation already: the sweep resumes or releases them. */
  holding: string[];
  /** The new value of `needSince`. */
  needSince: Date | undefined;
  /** Look again after this long (the batch window closing, a timeslot becoming eligible), if at all. */
  requeueAfterMs: number | undefined;
}

/** Decide one scheduling cycle. */
export function reconcileCycle(o: CycleObservation): CycleDecision {
  const reserved = new Set(o.workers.flatMap((w) => w.reservations.map((r) => r.sessionId)));
  const holding = o.sessions.filter((s) => reserved.has(s.sessionId)).map((s) => s.sessionId);
  const sessions = o.sessions.filter((s) => !reserved.has(s.sessionId));
  const plan = planScheduling({ now: o.now, sessions, workers: o.workers, templates: o.templates });
  const byId = new Map(sessions.map((s) => [s.sessionId, s]));
  const actions: CycleAction[] = [];
  const binds: CycleAction[] = [];
  for (const e of plan.expired) actions.push({ kind: 'terminate', sessionId: e.sessionId, reason: e.reason });
  for (const p of plan.placements) {
    const s = byId.get(p.sessionId) as ObservedPendingSession;
    binds.push({ kind: 'bind', sessionId: s.sessionId, revision: s.revision, workerId: p.workerId, capacity: s.capacity, portNames: s.portNames, licenseAffinity: s.licenseAffinity });
  }
  const waits: number[] = [];
  if (plan.nextWakeAt) waits.push(Math.max(0, plan.nextWakeAt.getTime() - o.now.getTime()));
  let needSince: Date | undefined;
  if (plan.scaleUp.length > 0) {
    needSince = o.needSince ?? o.now;
    const left = needSince.getTime() + o.batchWindowMs - o.now.getTime();
    if (left > 0) {
      waits.push(left);
    } else {
      needSince = undefined;
      for (const r of plan.scaleUp) {
        const n = r.sessionIds.length;
        actions.push({
          kind: 'request-worker',
          templateName: r.templateName,
          sessionIds: r.sessionIds,
          reason: `scale-up for ${n} pending session${n === 1 ? '' : 's'}: ${r.sessionIds.slice(0, 5).join(', ')}${n > 5 ? ', …' : ''}`,
        });
      }
    }
  }
  // Worker requests before the binds: a burst's binds can take minutes (a few writes each, 8 at a
  // time), and the workers asked for take minutes to boot, so asking first overlaps the two.
  actions.push(...binds);
  return { actions, plan, holding, needSince, requeueAfterMs: waits.length ? Math.min(...waits) : undefined };
}

/** A session as the sweep sees it: its status and the worker it is placed on. */
export interface ObservedLiveSession {
  id: string;
  status: LabletSessionStatus;
  revision: number;
  workerId: string | null;
}

/**
 * A session that holds a reservation but was not listed live (looked up by id): STOPPED, ARCHIVED or
 * TERMINATED, where it was placed, when it ended and whether its teardown is done.
 */
export interface ObservedEndedSession {
  id: string;
  status: LabletSessionStatus;
  workerId: string | null;
  /** The lablet-controller finished its teardown (`pipelineProgress.teardown.done`, or `.released`). */
  teardownDone: boolean;
  /** When the session entered its current status (its last statusHistory entry; else `endedAt`). */
  endedAt: Date | null;
}

/** Why the sweep releases a reservation (the `cause` label of `lcm_scheduler_sweep_releases_total`). */
export type ReleaseCause =
  | 'session-gone'
  | 'placed-elsewhere'
  | 'pending-worker-closed'
  | 'not-placed-here'
  | 'worker-gone'
  | 'teardown-done'
  | 'teardown-grace';

export type SweepAction =
  | { kind: 'release'; workerId: string; sessionId: string; reason: string; cause: ReleaseCause }
  | { kind: 'resume'; workerId: string; sessionId: string; revision: number; ports: PortMapping[] };

export interface SweepObservation {
  now: Date;
  /** Workers listed BEFORE the sessions: a reservation whose session is not live below is stale. */
  workers: readonly ObservedWorker[];
  /** Every live session (PENDING … EXPIRED, not STOPPED, ARCHIVED, TERMINATED). */
  liveSessions: readonly ObservedLiveSession[];
  /**
   * The reservation holders not listed live, looked up one by one (after the live list): absent = the
   * session does not exist. A holder found live after all (a listing race) is left alone.
   */
  endedSessions: ReadonlyMap<string, ObservedEndedSession | ObservedLiveSession>;
  graceMs: number;
  /** How long after a placed session ended its reservation waits for the lablet-controller's teardown. */
  teardownGraceMs: number;
}

export interface SweepDecision {
  actions: SweepAction[];
  /** Reservations of ended sessions kept for their teardown: when each would be released by the grace. */
  awaitingTeardown: Array<{ workerId: string; sessionId: string; status: LabletSessionStatus; releaseAt: Date }>;
  /** Look again when the first reservation left alone leaves its grace period. */
  requeueAfterMs: number | undefined;
}

/** Workers whose lab, if any, is gone with them: nothing on them can map a port any more. */
const GONE_WORKER: ReadonlySet<WorkerStatus> = new Set([WorkerStatus.TERMINATED, WorkerStatus.TERMINATING]);

/** The reservation holders the live list does not account for: the sweep looks each of them up. */
export function unlistedHolders(workers: readonly ObservedWorker[], liveSessions: readonly ObservedLiveSession[]): string[] {
  const live = new Set(liveSessions.map((s) => s.id));
  return [...new Set(workers.flatMap((w) => w.reservations.map((r) => r.sessionId)))].filter((id) => !live.has(id));
}

const isEnded = (s: ObservedEndedSession | ObservedLiveSession): s is ObservedEndedSession => 'teardownDone' in s;

/**
 * Decide the sweep (decision table, per reservation of session S on worker W):
 *   S does not exist                                       → release (nothing can use it)
 *   S ended (STOPPED, ARCHIVED, TERMINATED), not placed on W → release (it never reached W: no lab
 *                                                            there to tear down)
 *   S ended, W TERMINATING or TERMINATED                   → release (the lab went with the instance)
 *   S ended on W, teardown done                            → release (the lablet-controller's own
 *                                                            release did not land, or a replica raced)
 *   S ended on W, ended less than the teardown grace ago   → keep: the lablet-controller owns the
 *                                                            teardown, which ends with the release; the
 *                                                            ports must not be reused while PATty may
 *                                                            still map them to S's lab
 *   S ended on W, past the teardown grace                  → release (safety net: no lablet-controller
 *                                                            ran; logged as a warning, counted)
 *   S placed (SCHEDULED … EXPIRED) on W                    → keep
 *   S placed on another worker, or on none                 → release (stale)
 *   S PENDING, reserved less than the grace period ago     → keep, look again when it ends (a bind
 *                                                            may be between its two steps)
 *   S PENDING, W accepts sessions                          → resume: schedule S on W with its ports
 *   S PENDING, W does not accept sessions any more         → release (the next cycle places S afresh)
 * Only the PENDING rows race with a bind in flight (it schedules a PENDING session); a session that
 * is no longer live can never be scheduled again, so only its teardown can still need its reservation.
 */
export function reconcileSweep(o: SweepObservation): SweepDecision {
  const live = new Map(o.liveSessions.map((s) => [s.id, s]));
  const actions: SweepAction[] = [];
  const awaitingTeardown: SweepDecision['awaitingTeardown'] = [];
  let wait: number | undefined;
  const waitFor = (ms: number) => (wait = Math.min(wait ?? Infinity, Math.max(1, ms)));
  for (const w of o.workers) {
    for (const r of w.reservations) {
      const release = (cause: ReleaseCause, reason: string) => actions.push({ kind: 'release', workerId: w.id, sessionId: r.sessionId, reason, cause });
      let s = live.get(r.sessionId);
      if (!s) {
        const looked = o.endedSessions.get(r.sessionId);
        if (!looked) {
          release('session-gone', 'the session does not exist');
          continue;
        }
        if (!isEnded(looked)) {
          s = looked;
        } else {
          const e = looked;
          if (e.workerId !== w.id) release('not-placed-here', `the session is ${e.status} and was never placed on worker ${w.id}`);
          else if (GONE_WORKER.has(w.status)) release('worker-gone', `the session is ${e.status} and worker ${w.id} is ${w.status}`);
          else if (e.teardownDone) release('teardown-done', `the session is ${e.status} and its teardown is done`);
          else {
            const releaseAt = new Date((e.endedAt ?? r.reservedAt).getTime() + o.teardownGraceMs);
            const left = releaseAt.getTime() - o.now.getTime();
            if (left > 0) {
              awaitingTeardown.push({ workerId: w.id, sessionId: e.id, status: e.status, releaseAt });
              waitFor(left);
            } else {
              release(
                'teardown-grace',
                `the session is ${e.status} since ${(e.endedAt ?? r.reservedAt).toISOString()} and its teardown did not finish within ${Math.round(o.teardownGraceMs / 1000)} s (is a lablet-controller running?)`,
              );
            }
          }
          continue;
        }
      }
      if (s.status === LabletSessionStatus.PENDING) {
        const age = o.now.getTime() - r.reservedAt.getTime();
        if (age < o.graceMs) {
          waitFor(o.graceMs - age);
          continue;
        }
        if (acceptsSessions(w)) actions.push({ kind: 'resume', workerId: w.id, sessionId: s.id, revision: s.revision, ports: r.ports });
        else release('pending-worker-closed', `the session is still PENDING and worker ${w.id} is ${w.status} (desired ${w.desiredStatus}); it will be placed afresh`);
      } else if (s.workerId !== w.id) {
        release('placed-elsewhere', `the session is ${s.status} on ${s.workerId ? `worker ${s.workerId}` : 'no worker'}`);
      }
    }
  }
  return { actions, awaitingTeardown, requeueAfterMs: wait };
}

/** `pipelineProgress.teardown` as the lablet-controller writes it: done, or at least released. */
export function teardownDone(pipelineProgress: unknown): boolean {
  const p = pipelineProgress && typeof pipelineProgress === 'object' ? (pipelineProgress as Record<string, unknown>) : {};
  const t = p.teardown && typeof p.teardown === 'object' ? (p.teardown as Record<string, unknown>) : {};
  return t.done === true || t.released === true;
}

/** The demand of a PENDING session from its definition (GraphQL shapes → engine shapes). */
export function demandOf(node: {
  id: string;
  revision: number;
  createdAt: unknown;
  timeslotStart?: unknown;
  timeslotEnd?: unknown;
  definition: {
    resourceRequirements: { cpuCores: number; memoryGb: number; storageGb: number; nodeCount: number };
    licenseAffinity: readonly LicenseType[];
    portTemplate: ReadonlyArray<{ name: string }>;
    cmlRequirements: { minVersion?: string | null; maxVersion?: string | null; nodeDefinitions: readonly string[] };
    bootLeadTimeMinutes: number;
  };
}): ObservedPendingSession {
  const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));
  const d = node.definition;
  const cml: CmlRequirements = d.cmlRequirements;
  return {
    sessionId: node.id,
    revision: node.revision,
    createdAt: date(node.createdAt),
    timeslotStart: date(node.timeslotStart),
    timeslotEnd: date(node.timeslotEnd),
    bootLeadTimeMinutes: d.bootLeadTimeMinutes,
    capacity: { cpuCores: d.resourceRequirements.cpuCores, memoryGb: d.resourceRequirements.memoryGb, storageGb: d.resourceRequirements.storageGb, maxNodes: d.resourceRequirements.nodeCount },
    portNames: d.portTemplate.map((p) => p.name),
    licenseAffinity: d.licenseAffinity,
    cmlRequirements: cml.minVersion || cml.maxVersion || (cml.nodeDefinitions?.length ?? 0) > 0 ? cml : null,
  };
}
