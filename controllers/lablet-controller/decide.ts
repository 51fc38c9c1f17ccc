/**
 * The lablet-controller's decisions, pure: from what is observed of one session (its status, timeslot,
 * children, saved pipeline progress) and the time, the ONE next step. The reconcile (reconcile.ts)
 * performs it, reads the session again and asks again, until the answer is to wait or nothing is left
 * to do. Every step is idempotent and its completion is saved in `pipelineProgress`, so a controller
 * that stops at any moment is resumed by the next one exactly where it was.
 *
 * Decision table (first matching row wins within a status):
 *
 * | status | condition | step |
 * |---|---|---|
 * | PENDING | — | nothing (the scheduler's) |
 * | TERMINATED | placed on a worker, teardown not done | teardown step (below), then `teardown.done` |
 * | ARCHIVED | placed on a worker, a teardown step left (archived by hand, found by the scan) | teardown step |
 * | ARCHIVED | otherwise | nothing (final; the teardown ran in STOPPING) |
 * | any other | no worker | terminate "no worker" |
 * | SCHEDULED | timeslot ended | terminate (SCHEDULED cannot expire) |
 * | SCHEDULED | before timeslotStart − bootLeadTime | wait until then |
 * | SCHEDULED | otherwise | advance INSTANTIATING |
 * | INSTANTIATING, READY, RUNNING | timeslot ended | advance EXPIRED |
 * | INSTANTIATING | a step failed `maxStepAttempts` times | fail: terminate with the reason (teardown cleans up) |
 * | INSTANTIATING | no lab recorded | resolve the lab (reuse a wiped one, or import) |
 * | INSTANTIATING | ports not tagged | tag the nodes |
 * | INSTANTIATING | not started | start the lab |
 * | INSTANTIATING | not booted, boot timeout passed | fail "lab did not boot" |
 * | INSTANTIATING | not booted | check the boot (poll) |
 * | INSTANTIATING | no user session | provision it in LDS |
 * | INSTANTIATING | otherwise | advance READY |
 * | READY | user session ACTIVE | advance RUNNING (the student started; event missed or early) |
 * | READY | user session ENDED/EXPIRED | advance EXPIRED (ended without starting) |
 * | RUNNING | user session ENDED/EXPIRED | advance COLLECTING (the student finished) |
 * | READY, RUNNING | health check due | check lab and LDS |
 * | READY, RUNNING | otherwise | wait (health interval, timeslot end) |
 * | COLLECTING | grading requested | advance GRADING |
 * | COLLECTING | collect failed `maxStepAttempts` times | fail |
 * | COLLECTING | otherwise | collect the evidence and request grading |
 * | GRADING | score report published | advance STOPPING |
 * | GRADING | grading FAULTED, attempts left | grade again |
 * | GRADING | grading FAULTED, none left | terminate "grading failed: …" |
 * | GRADING | grading timeout passed | terminate "grading timed out" |
 * | GRADING | otherwise | poll the grading engine (fallback for a missed event), wait |
 * | EXPIRED | — | advance STOPPING |
 * | STOPPING, STOPPED | teardown step left | teardown step |
 * | STOPPING, STOPPED | otherwise | advance ARCHIVED |
 *
 * Teardown steps, in order: stop the lab, wipe it (and delete it when this session's import failed),
 * finalize the LDS session, release capacity and ports. Lab steps that keep failing are abandoned
 * (recorded with the reason) so the rest still runs: a session is never stuck in teardown. The release
 * comes last: until then the reservation keeps the session's ports from being handed to another
 * session while PATty may still map them to this lab, and it marks the teardown as owed (the teardown
 * scan finds ended sessions by it; the resource-scheduler's sweep releases it only when the teardown is
 * done or after its grace period).
 */
import { LabletSessionStatus as S, type LabletSessionStatus } from '../../core/domain/enums.ts';

export type InstantiateStep = 'lab' | 'tags' | 'start' | 'boot' | 'lds';
export type TeardownStep = 'stop' | 'wipe' | 'delete' | 'finalizeLds' | 'release';
export type FailingStep = InstantiateStep | 'collect' | 'teardown';

export interface InstantiateProgress {
  labId?: string;
  imported?: boolean;
  reused?: boolean;
  tagged?: boolean;
  bootStartedAt?: string;
  booted?: boolean;
}

export interface GradingProgress {
  requestedAt?: string;
  attempts?: number;
  partId?: string;
}

export interface TeardownProgress {
  stopped?: boolean;
  wiped?: boolean;
  deleted?: boolean;
  /** Delete the lab instead of keeping it for reuse (this session's import failed to boot). */
  deleteLab?: boolean;
  /** Lab steps done or given up (`labAbandoned` says why). */
  labDone?: boolean;
  labAbandoned?: string;
  ldsFinalized?: boolean;
  released?: boolean;
  done?: boolean;
}

export interface StepFailure {
  count: number;
  lastError: string;
  at: string;
}

/** `pipelineProgress` as this controller writes it (other pipelines are ignored). */
export interface Progress {
  instantiate: InstantiateProgress;
  grading: GradingProgress;
  teardown: TeardownProgress;
  failures: Partial<Record<FailingStep, StepFailure>>;
}

export interface SessionFacts {
  id: string;
  status: LabletSessionStatus;
  revision: number;
  timeslotStart: Date | null;
  timeslotEnd: Date | null;
  workerId: string | null;
  cmlLabId: string | null;
  bootLeadTimeMinutes: number;
  userSession: { status: string; externalId: string | null } | null;
  gradingSession: { status: string; externalId: string | null; faultReason: string | null } | null;
  hasScoreReport: boolean;
}

export interface Settings {
  bootTimeoutMs: number;
  gradingTimeoutMs: number;
  /** Attempts of one failing step before the session is failed (lab steps abandoned in teardown). */
  maxStepAttempts: number;
  /** Gradings asked for at most (the first and the retries after a FAULTED one). */
  maxGradingAttempts: number;
  /** Boot polling interval. */
  pollMs: number;
  /** Grading-engine polling interval (the fallback for a missed event). */
  gradingPollMs: number;
  /** Lab and LDS checks of READY and RUNNING sessions. */
  healthIntervalMs: number;
}

export interface Observation {
  now: Date;
  session: SessionFacts;
  progress: Progress;
  settings: Settings;
  /** When this process last checked the session's health (in memory; undefined = never). */
  lastHealthCheck?: Date;
}

export type Step =
  | { kind: 'nothing' }
  | { kind: 'wait'; ms: number; why: string }
  | { kind: 'advance'; to: LabletSessionStatus; reason: string }
  | { kind: 'terminate'; reason: string }
  | { kind: 'fail'; step: FailingStep; reason: string; deleteLab: boolean }
  | { kind: 'instantiate'; step: InstantiateStep }
  | { kind: 'health' }
  | { kind: 'collect' }
  | { kind: 'pollGrading' }
  | { kind: 'regrade'; attempt: number }
  | { kind: 'teardown'; step: TeardownStep }
  | { kind: 'abandonLab'; reason: string }
  | { kind: 'teardownDone' };

const ENDED_USER = new Set(['ENDED', 'EXPIRED']);

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Read this controller's pipelines out of a session's `pipelineProgress` (tolerant of anything else). */
export function readProgress(pipelineProgress: unknown): Progress {
  const p = obj(pipelineProgress);
  return {
    instantiate: obj(p.instantiate) as InstantiateProgress,
    grading: obj(p.grading) as GradingProgress,
    teardown: obj(p.teardown) as TeardownProgress,
    failures: obj(p.failures) as Progress['failures'],
  };
}

const failed = (o: Observation, step: FailingStep): StepFailure | undefined => {
  const f = o.progress.failures[step];
  return f && f.count >= o.settings.maxStepAttempts ? f : undefined;
};

const since = (o: Observation, iso: string | undefined): number => (iso ? o.now.getTime() - Date.parse(iso) : 0);

/** The next teardown step, or undefined when every one is done. */
export function nextTeardownStep(o: Observation): Step | undefined {
  const { session: s, progress } = o;
  const t = progress.teardown;
  if (s.cmlLabId && !t.labDone) {
    const f = failed(o, 'teardown');
    if (f) return { kind: 'abandonLab', reason: `lab ${s.cmlLabId} could not be torn down after ${f.count} attempts: ${f.lastError}` };
    if (!t.stopped) return { kind: 'teardown', step: 'stop' };
    if (!t.wiped) return { kind: 'teardown', step: 'wipe' };
    if (t.deleteLab && !t.deleted) return { kind: 'teardown', step: 'delete' };
  }
  if (s.userSession?.externalId && !t.ldsFinalized) return { kind: 'teardown', step: 'finalizeLds' };
  if (s.workerId && !t.released) return { kind: 'teardown', step: 'release' };
  return undefined;
}

function instantiating(o: Observation): Step {
  const { session: s, progress, settings } = o;
  const i = progress.instantiate;
  for (const step of ['lab', 'tags', 'start', 'boot', 'lds'] as const) {
    const f = failed(o, step);
    if (f) return { kind: 'fail', step, reason: `instantiation failed at step ${step} after ${f.count} attempts: ${f.lastError}`, deleteLab: i.imported === true };
  }
  if (!s.cmlLabId) return { kind: 'instantiate', step: 'lab' };
  if (!i.tagged) return { kind: 'instantiate', step: 'tags' };
  if (!i.bootStartedAt) return { kind: 'instantiate', step: 'start' };
  if (!i.booted) {
    if (since(o, i.bootStartedAt) > settings.bootTimeoutMs) {
      return {
        kind: 'fail',
        step: 'boot',
        reason: `lab ${s.cmlLabId} did not boot within ${Math.round(settings.bootTimeoutMs / 1000)} s`,
        deleteLab: i.imported === true,
      };
    }
    return { kind: 'instantiate', step: 'boot' };
  }
  if (!s.userSession?.externalId) return { kind: 'instantiate', step: 'lds' };
  return { kind: 'advance', to: S.READY, reason: 'lab booted; user session provisioned' };
}

function waitHealthy(o: Observation): Step {
  const { session: s, settings } = o;
  const due = o.lastHealthCheck ? settings.healthIntervalMs - (o.now.getTime() - o.lastHealthCheck.getTime()) : 0;
  if (due <= 0) return { kind: 'health' };
  const untilEnd = s.timeslotEnd ? s.timeslotEnd.getTime() - o.now.getTime() : Infinity;
  return { kind: 'wait', ms: Math.max(1, Math.min(due, untilEnd)), why: 'next health check or timeslot end' };
}

export function decide(o: Observation): Step {
  const { session: s, progress, settings } = o;
  const now = o.now.getTime();
  const ended = s.timeslotEnd !== null && s.timeslotEnd.getTime() <= now;

  if (s.status === S.PENDING) return { kind: 'nothing' };
  if (s.status === S.TERMINATED) {
    if (!s.workerId || progress.teardown.done) return { kind: 'nothing' };
    return nextTeardownStep(o) ?? { kind: 'teardownDone' };
  }
  if (s.status === S.ARCHIVED) {
    // Normally archived at the end of the STOPPING teardown (nothing left); one archived by hand
    // before its teardown still holds its lab and its reservation.
    if (!s.workerId || progress.teardown.done) return { kind: 'nothing' };
    return nextTeardownStep(o) ?? { kind: 'nothing' };
  }
  if (!s.workerId) return { kind: 'terminate', reason: `session is ${s.status} but placed on no worker` };

  switch (s.status) {
    case S.SCHEDULED: {
      if (ended) return { kind: 'terminate', reason: 'the timeslot ended before the lab was started' };
      if (s.timeslotStart) {
        const startAt = s.timeslotStart.getTime() - s.bootLeadTimeMinutes * 60_000;
        if (startAt > now) return { kind: 'wait', ms: startAt - now, why: 'boot lead time not reached' };
      }
      return { kind: 'advance', to: S.INSTANTIATING, reason: 'boot window reached' };
    }
    case S.INSTANTIATING:
      if (ended) return { kind: 'advance', to: S.EXPIRED, reason: 'the timeslot ended during instantiation' };
      return instantiating(o);
    case S.READY: {
      if (ended) return { kind: 'advance', to: S.EXPIRED, reason: 'the timeslot ended' };
      const us = s.userSession?.status;
      if (us === 'ACTIVE' || us === 'PAUSED') return { kind: 'advance', to: S.RUNNING, reason: 'the student started (LDS)' };
      if (us && ENDED_USER.has(us)) return { kind: 'advance', to: S.EXPIRED, reason: `the LDS session ended (${us}) before the student started` };
      return waitHealthy(o);
    }
    case S.RUNNING: {
      if (ended) return { kind: 'advance', to: S.EXPIRED, reason: 'the timeslot ended' };
      const us = s.userSession?.status;
      if (us && ENDED_USER.has(us)) return { kind: 'advance', to: S.COLLECTING, reason: `the student finished (LDS: ${us})` };
      return waitHealthy(o);
    }
    case S.COLLECTING: {
      if (s.gradingSession?.externalId) return { kind: 'advance', to: S.GRADING, reason: 'evidence collected; grading requested' };
      const f = failed(o, 'collect');
      if (f) return { kind: 'fail', step: 'collect', reason: `evidence collection failed after ${f.count} attempts: ${f.lastError}`, deleteLab: false };
      return { kind: 'collect' };
    }
    case S.GRADING: {
      if (s.hasScoreReport) return { kind: 'advance', to: S.STOPPING, reason: 'score report published' };
      const g = progress.grading;
      const attempts = g.attempts ?? 1;
      if (s.gradingSession?.status === 'FAULTED') {
        if (attempts < settings.maxGradingAttempts) return { kind: 'regrade', attempt: attempts + 1 };
        return { kind: 'terminate', reason: `grading failed after ${attempts} attempt(s): ${s.gradingSession.faultReason ?? 'no reason given'}` };
      }
      if (g.requestedAt && since(o, g.requestedAt) > settings.gradingTimeoutMs) {
        return { kind: 'terminate', reason: `grading timed out after ${Math.round(settings.gradingTimeoutMs / 1000)} s` };
      }
      return { kind: 'pollGrading' };
    }
    case S.EXPIRED:
      return { kind: 'advance', to: S.STOPPING, reason: 'teardown after expiry' };
    case S.STOPPING:
    case S.STOPPED:
      return nextTeardownStep(o) ?? { kind: 'advance', to: S.ARCHIVED, reason: 'torn down' };
    default:
      return { kind: 'nothing' };
  }
}
