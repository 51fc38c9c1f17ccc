import { randomUUID } from 'node:crypto';
import { cloudEvent } from '../../core/events/cloudevent.ts';
import {
  ExternalEventType,
  type GradingSessionCompletedData,
  type GradingSessionFailedData,
} from '../../core/events/external-events.ts';
import type { Logger } from '../../core/logging.ts';
import type { CloudEventDelivery } from '../shared/delivery.ts';
import { HttpError, invalidTransitionError, notFoundError } from '../shared/http.ts';
import type { TimerSet } from '../shared/timers.ts';
import { PartStatus, type AuditEntry, type GradingPart, type GradingSession, type Pod } from './model.ts';
import { computeScore, type GradingOutcome, type Ruleset } from './scoring.ts';

/**
 * The grading engine's sessions and the grading of their parts. Grading a part takes
 * `gradingDelayMs` (plus any `slowGradingMs` fault), then the part is `reviewing` with a score report;
 * with `autoSubmit` it is then `locked` (after `reviewDelayMs`) and `grading.session.completed` is
 * emitted with the final report. A `failGrading` fault turns the grading into `faulted` and
 * `grading.session.failed`.
 */

export interface GradingTimings {
  /** How long grading a part takes. */
  gradingDelayMs: number;
  /** How long a graded part stays in review before it is locked (with autoSubmit). */
  reviewDelayMs: number;
  /** Lock (submit) graded parts by themselves; false = wait for `POST .../submit`. */
  autoSubmit: boolean;
}

export interface GradingPolicy {
  outcome: GradingOutcome;
  /** Seed of the deterministic scores. */
  seed: string;
}

export interface GradingEngineDeps {
  delivery: CloudEventDelivery;
  timers: TimerSet;
  /** CloudEvent `source` attribute. */
  source: string;
  logger: Logger;
  timings(): GradingTimings;
  policy(): GradingPolicy;
  /** The ruleset (sections, cut score) of a part id (a form / ruleset name). */
  ruleset(partId: string): Ruleset;
  /** Consumes a `failGrading` fault: the failure reason, or null to grade normally. */
  takeFailure(): string | null;
  /** Extra grading time from the `slowGradingMs` fault. */
  extraDelayMs(): number;
}

export interface CreateGradingSessionInput {
  id?: string | null | undefined;
  candidateId: string;
  lds?: { id: string; environment: string } | null | undefined;
  parts?: Array<{ id: string; pod?: Pod | null | undefined }> | null | undefined;
  labletSessionId?: string | null | undefined;
}

const SYSTEM_ACTOR = { id: 'grading-engine', name: 'Grading Engine', email: 'grading-engine@lcm.invalid' };

export class GradingEngine {
  private readonly sessions = new Map<string, GradingSession>();

  constructor(private readonly deps: GradingEngineDeps) {}

  createSession(input: CreateGradingSessionInput): GradingSession {
    const id = input.id ?? randomUUID();
    if (this.sessions.has(id)) throw new HttpError(409, 'CONFLICT', `grading session ${id} already exists`, { id });
    const partIds = (input.parts ?? []).map((p) => p.id);
    const duplicate = partIds.find((p, i) => partIds.indexOf(p) !== i);
    if (duplicate !== undefined) throw new HttpError(400, 'BAD_USER_INPUT', `part ${duplicate} is listed twice`, { field: 'parts' });
    const now = new Date().toISOString();
    const session: GradingSession = {
      id,
      createdAt: now,
      lastModified: null,
      candidateId: input.candidateId,
      lds: input.lds ?? null,
      labletSessionId: input.labletSessionId ?? null,
      parts: (input.parts ?? []).map((p) => newPart(p.id, p.pod ?? null, now)),
    };
    this.sessions.set(id, session);
    return session;
  }

  find(id: string): GradingSession | undefined {
    return this.sessions.get(id);
  }

  get(id: string): GradingSession {
    const session = this.sessions.get(id);
    if (!session) throw notFoundError('grading session', id);
    return session;
  }

  list(): GradingSession[] {
    return [...this.sessions.values()];
  }

  part(sessionId: string, partId: string): GradingPart {
    const part = this.get(sessionId).parts.find((p) => p.id === partId);
    if (!part) throw notFoundError(`part ${partId} of grading session`, sessionId);
    return part;
  }

  addPart(sessionId: string, part: { id: string; pod?: Pod | null | undefined }): GradingSession {
    const session = this.get(sessionId);
    if (session.parts.some((p) => p.id === part.id)) {
      throw new HttpError(409, 'CONFLICT', `grading session ${sessionId} already has a part ${part.id}`, { id: sessionId });
    }
    const now = new Date().toISOString();
    session.parts.push(newPart(part.id, part.pod ?? null, now));
    session.lastModified = now;
    return session;
  }

  removePart(sessionId: string, partId: string): GradingSession {
    const session = this.get(sessionId);
    const part = this.part(sessionId, partId);
    this.deps.timers.cancelPrefix(timerPrefix(session, part));
    session.parts = session.parts.filter((p) => p !== part);
    session.lastModified = new Date().toISOString();
    return session;
  }

  /** Assign (or replace) the pod of a part; null unassigns it. Refused once the part is locked. */
  setPod(sessionId: string, partId: string, pod: Pod | null): GradingSession {
    const session = this.get(sessionId);
    const part = this.part(sessionId, partId);
    if (part.status === PartStatus.LOCKED || part.status === PartStatus.GRADING) {
      throw new HttpError(409, 'CONFLICT', `part ${partId} of grading session ${sessionId} is ${part.status}: its pod cannot change`, {
        id: sessionId,
      });
    }
    part.pod = pod;
    this.touch(session, part, pod ? 'assign-pod' : 'unassign-pod');
    return session;
  }

  /** Start grading a part (from created, reviewing or faulted). Needs a pod. */
  grade(sessionId: string, partId: string): GradingPart {
    const session = this.get(sessionId);
    const part = this.part(sessionId, partId);
    if (part.status === PartStatus.GRADING || part.status === PartStatus.LOCKED) {
      throw invalidTransitionError(`part ${partId} of grading session`, sessionId, part.status, PartStatus.GRADING);
    }
    if (!part.pod) {
      throw new HttpError(409, 'CONFLICT', `part ${partId} of grading session ${sessionId} has no pod: assign one before grading`, {
        id: sessionId,
      });
    }
    this.deps.timers.cancel(`${timerPrefix(session, part)}submit`);
    part.status = PartStatus.GRADING;
    part.statusReason = null;
    this.touch(session, part, 'grade');
    const failure = this.deps.takeFailure();
    const delay = this.deps.timings().gradingDelayMs + this.deps.extraDelayMs();
    this.deps.timers.schedule(
      `${timerPrefix(session, part)}grade`,
      delay,
      () => (failure === null ? this.finishGrading(session, part) : this.fault(session, part, failure)),
      (e) => this.deps.logger.error({ err: e, session: session.id, part: part.id }, 'grading step failed'),
    );
    return part;
  }

  /** Lock a reviewed part: its score is final; emits grading.session.completed. */
  submit(sessionId: string, partId: string): GradingSession {
    const session = this.get(sessionId);
    const part = this.part(sessionId, partId);
    if (part.status !== PartStatus.REVIEWING || !part.scoreReport) {
      throw invalidTransitionError(`part ${partId} of grading session`, sessionId, part.status, PartStatus.LOCKED);
    }
    this.deps.timers.cancel(`${timerPrefix(session, part)}submit`);
    const now = new Date().toISOString();
    part.status = PartStatus.LOCKED;
    part.lastSubmitted = now;
    part.scoreReport.lastModified = now;
    this.touch(session, part, 'submit');
    this.emitCompleted(session, part);
    return session;
  }

  /** Test control: finish a grading in progress now instead of after its delay. */
  completeNow(sessionId: string, partId: string): GradingPart {
    const session = this.get(sessionId);
    const part = this.part(sessionId, partId);
    if (part.status !== PartStatus.GRADING) throw invalidTransitionError(`part ${partId} of grading session`, sessionId, part.status, PartStatus.REVIEWING);
    this.deps.timers.cancel(`${timerPrefix(session, part)}grade`);
    this.finishGrading(session, part);
    return part;
  }

  /** Test control: fault a part now (from created, grading or reviewing); emits grading.session.failed. */
  failNow(sessionId: string, partId: string, reason: string): GradingPart {
    const session = this.get(sessionId);
    const part = this.part(sessionId, partId);
    if (part.status === PartStatus.LOCKED || part.status === PartStatus.FAULTED) {
      throw invalidTransitionError(`part ${partId} of grading session`, sessionId, part.status, PartStatus.FAULTED);
    }
    this.deps.timers.cancelPrefix(timerPrefix(session, part));
    this.fault(session, part, reason);
    return part;
  }

  reset(): void {
    this.sessions.clear();
  }

  private finishGrading(session: GradingSession, part: GradingPart): void {
    if (part.status !== PartStatus.GRADING) return;
    const ruleset = this.deps.ruleset(part.id);
    const policy = this.deps.policy();
    const score = computeScore(ruleset, policy.outcome, `${policy.seed}:${session.labletSessionId ?? session.id}:${part.id}`);
    const now = new Date().toISOString();
    part.scoreReport = {
      createdAt: now,
      lastModified: null,
      gradingRulesetVersion: ruleset.version,
      scoringRulesetVersion: 1,
      generation: (part.scoreReport?.generation ?? 0) + 1,
      revision: 0,
      ...score,
      sections: score.sections.map((s, i) => ({ id: `s${i + 1}`, createdAt: now, ...s })),
    };
    part.firstGraded ??= now;
    part.status = PartStatus.REVIEWING;
    this.touch(session, part, 'graded');
    const timings = this.deps.timings();
    if (!timings.autoSubmit) return;
    if (timings.reviewDelayMs === 0) {
      this.submit(session.id, part.id);
      return;
    }
    this.deps.timers.schedule(
      `${timerPrefix(session, part)}submit`,
      timings.reviewDelayMs,
      () => {
        if (part.status === PartStatus.REVIEWING) this.submit(session.id, part.id);
      },
      (e) => this.deps.logger.error({ err: e, session: session.id, part: part.id }, 'automatic submit failed'),
    );
  }

  private fault(session: GradingSession, part: GradingPart, reason: string): void {
    part.status = PartStatus.FAULTED;
    part.statusReason = reason;
    this.touch(session, part, 'fault');
    const data: GradingSessionFailedData = {
      gradingSessionId: session.id,
      partId: part.id,
      labletSessionId: session.labletSessionId,
      reason,
      failedAt: part.lastModified as string,
    };
    this.emit(session, ExternalEventType.GRADING_SESSION_FAILED, data);
  }

  private emitCompleted(session: GradingSession, part: GradingPart): void {
    const report = part.scoreReport as NonNullable<GradingPart['scoreReport']>;
    const data: GradingSessionCompletedData = {
      gradingSessionId: session.id,
      partId: part.id,
      labletSessionId: session.labletSessionId,
      podId: part.pod?.id ?? null,
      status: part.status,
      scoreReport: {
        score: report.score,
        maxScore: report.maxScore,
        cutScore: report.cutScore,
        passed: report.passed,
        sections: report.sections.map(({ name, score, maxScore, weight }) => ({ name, score, maxScore, weight })),
        gradedAt: report.createdAt,
        submittedAt: part.lastSubmitted as string,
      },
    };
    this.emit(session, ExternalEventType.GRADING_SESSION_COMPLETED, data);
  }

  private emit(session: GradingSession, type: string, data: unknown): void {
    const event = cloudEvent({ source: this.deps.source, type, subject: session.id, data });
    this.deps.delivery.enqueue(event, session.labletSessionId ?? session.id);
    this.deps.logger.info({ type, gradingSessionId: session.id, labletSessionId: session.labletSessionId }, 'event emitted');
  }

  private touch(session: GradingSession, part: GradingPart, action: string): void {
    const now = new Date().toISOString();
    part.lastModified = now;
    session.lastModified = now;
    const entry: AuditEntry = { action, actor: SYSTEM_ACTOR, actionable: part.id, timestamp: now };
    part.auditTrail.push(entry);
  }
}

function newPart(id: string, pod: Pod | null, now: string): GradingPart {
  return {
    id,
    createdAt: now,
    lastModified: null,
    firstGraded: null,
    lastSubmitted: null,
    status: PartStatus.CREATED,
    statusReason: null,
    pod,
    scoreReport: null,
    auditTrail: [],
  };
}

const timerPrefix = (session: GradingSession, part: GradingPart) => `${session.id}\u0000${part.id}\u0000`;
