/**
 * The resource-scheduler's decisions, pure: what it observed in → the actions it asks for out. Two
 * reconcile keys (see index.ts):
 *   - `cycle`: the PENDING sessions → binds (reserve on a worker, then schedule), worker requests
 *     (after the scale-up batch window), terminations of sessions whose timeslot ended while PENDING;
 *     the placement itself is the engine in core/domain/scheduling.ts.
 *   - `sweep`: every reservation on every worker against the session that holds it → release what no
 *     live session needs, resume the bind of a PENDING session that crashed between reserve and
 *     schedule. Reservations younger than the grace period are left alone (a bind may be in flight).
 */
import { type Capacity } from '../../core/domain/capacity.ts';
import { LabletSessionStatus, type LicenseType } from '../../core/domain/enums.ts';
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
  for (const e of plan.expired) actions.push({ kind: 'terminate', sessionId: e.sessionId, reason: e.reason });
  for (const p of plan.placements) {
    const s = byId.get(p.sessionId) as ObservedPendingSession;
    actions.push({ kind: 'bind', sessionId: s.sessionId, revision: s.revision, workerId: p.workerId, capacity: s.capacity, portNames: s.portNames, licenseAffinity: s.licenseAffinity });
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
  return { actions, plan, holding, needSince, requeueAfterMs: waits.length ? Math.min(...waits) : undefined };
}

/** A session as the sweep sees it: its status and the worker it is placed on. */
export interface ObservedLiveSession {
  id: string;
  status: LabletSessionStatus;
  revision: number;
  workerId: string | null;
}

export type SweepAction =
  | { kind: 'release'; workerId: string; sessionId: string; reason: string }
  | { kind: 'resume'; workerId: string; sessionId: string; revision: number; ports: PortMapping[] };

export interface SweepObservation {
  now: Date;
  /** Workers listed BEFORE the sessions: a reservation whose session is not live below is stale. */
  workers: readonly ObservedWorker[];
  /** Every live session (PENDING … EXPIRED, not STOPPED, ARCHIVED, TERMINATED). */
  liveSessions: readonly ObservedLiveSession[];
  graceMs: number;
}

export interface SweepDecision {
  actions: SweepAction[];
  /** Look again when the youngest PENDING reservation left alone leaves its grace period. */
  requeueAfterMs: number | undefined;
}

/**
 * Decide the sweep (decision table, per reservation of session S on worker W):
 *   S gone, STOPPED, ARCHIVED or TERMINATED                → release
 *   S placed (SCHEDULED … EXPIRED) on W                    → keep
 *   S placed on another worker, or on none                 → release (stale)
 *   S PENDING, reserved less than the grace period ago     → keep, look again when it ends (a bind
 *                                                            may be between its two steps)
 *   S PENDING, W accepts sessions                          → resume: schedule S on W with its ports
 *   S PENDING, W does not accept sessions any more         → release (the next cycle places S afresh)
 * Only the PENDING rows race with a bind in flight (it schedules a PENDING session); a session that
 * is no longer live can never be scheduled again, so its reservation goes at once.
 */
export function reconcileSweep(o: SweepObservation): SweepDecision {
  const live = new Map(o.liveSessions.map((s) => [s.id, s]));
  const actions: SweepAction[] = [];
  let wait: number | undefined;
  for (const w of o.workers) {
    for (const r of w.reservations) {
      const s = live.get(r.sessionId);
      const release = (reason: string) => actions.push({ kind: 'release', workerId: w.id, sessionId: r.sessionId, reason });
      if (!s) {
        release('the session is gone, stopped, archived or terminated');
      } else if (s.status === LabletSessionStatus.PENDING) {
        const age = o.now.getTime() - r.reservedAt.getTime();
        if (age < o.graceMs) {
          wait = Math.min(wait ?? Infinity, o.graceMs - age);
          continue;
        }
        if (acceptsSessions(w)) actions.push({ kind: 'resume', workerId: w.id, sessionId: s.id, revision: s.revision, ports: r.ports });
        else release(`the session is still PENDING and worker ${w.id} is ${w.status} (desired ${w.desiredStatus}); it will be placed afresh`);
      } else if (s.workerId !== w.id) {
        release(`the session is ${s.status} on ${s.workerId ? `worker ${s.workerId}` : 'no worker'}`);
      }
    }
  }
  return { actions, requeueAfterMs: wait };
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
