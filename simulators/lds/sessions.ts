import { randomBytes, randomUUID } from 'node:crypto';
import { cloudEvent } from '../../core/events/cloudevent.ts';
import {
  ExternalEventType,
  type LdsEndReason,
  type LdsSessionEndedData,
  type LdsSessionStartedData,
} from '../../core/events/external-events.ts';
import type { Logger } from '../../core/logging.ts';
import type { CloudEventDelivery } from '../shared/delivery.ts';
import { invalidTransitionError, notFoundError } from '../shared/http.ts';
import type { TimerSet } from '../shared/timers.ts';
import {
  canMove,
  isEnded,
  LdsState,
  PART_STATE_OF,
  type LdsDevice,
  type LdsSession,
  type LdsSessionPart,
} from './model.ts';

/**
 * The LDS session store and state machine. Every state change goes through `move`, which checks the
 * transition table, records the history, runs the timers of the automatic "student" (start, finish,
 * part timer) and emits `lds.session.started` (first time the session runs) and `lds.session.ended`
 * (first time it finishes, times out or is finalized).
 */

/** Automatic progress; `null` = only by an explicit call. Changes apply to timers scheduled afterwards. */
export interface LdsTimings {
  /** After a session is provisioned (devices set), the student starts after this long. */
  autoStartMs: number | null;
  /** After the student starts (or resumes), they finish after this long. */
  autoFinishMs: number | null;
  /** Part timer: a running session times out this long after it started (paused time excluded). */
  timeoutMs: number | null;
}

export interface LdsPartInput {
  repository_type?: 'svn' | 'minio';
  form_qualified_name?: string | undefined;
  track?: string | undefined;
  exam_version?: string | undefined;
  variables?: Record<string, unknown> | null | undefined;
}

export interface CreateLdsSessionInput {
  origin: string;
  auth_id: string;
  auth_id_type: string;
  candidate_id: string;
  location: string;
  timezone_offset: number;
  first_name: string;
  last_name: string;
  rack_group: string;
  rack_number: string;
  scheduled_date: string;
  email_address?: string | null | undefined;
  session_parts: LdsPartInput[];
  labletSessionId?: string | null | undefined;
}

export interface LdsSessionsDeps {
  delivery: CloudEventDelivery;
  timers: TimerSet;
  /** CloudEvent `source` attribute. */
  source: string;
  timings: () => LdsTimings;
  /** Base URL of launch (login) URLs. */
  launchBaseUrl: () => string;
  logger: Logger;
}

export class LdsSessions {
  private readonly sessions = new Map<string, LdsSession>();

  constructor(private readonly deps: LdsSessionsDeps) {}

  create(input: CreateLdsSessionInput): LdsSession {
    const now = new Date().toISOString();
    const id = randomUUID();
    const session: LdsSession = {
      id,
      origin: input.origin,
      auth_id: input.auth_id,
      auth_id_type: input.auth_id_type,
      candidate_id: input.candidate_id,
      location: input.location,
      timezone_offset: input.timezone_offset,
      first_name: input.first_name,
      last_name: input.last_name,
      rack_group: input.rack_group,
      rack_number: input.rack_number,
      scheduled_date: input.scheduled_date,
      email_address: input.email_address ?? null,
      state: LdsState.PENDING,
      created: now,
      current_session_part: 1,
      parts: input.session_parts.map((p) => ({
        repository_type: p.repository_type ?? 'svn',
        form_qualified_name: p.form_qualified_name ?? null,
        track: p.track ?? null,
        exam_version: p.exam_version ?? null,
        variables: p.variables ?? null,
        session_part_state: PART_STATE_OF[LdsState.PENDING],
        devices: [],
      })),
      labletSessionId: input.labletSessionId ?? labletSessionIdFromVariables(input.session_parts),
      launchToken: randomBytes(18).toString('base64url'),
      startedAt: null,
      endedAt: null,
      endReason: null,
      history: [{ state: LdsState.PENDING, at: now }],
      timerRemainingMs: null,
      timerEndsAt: null,
    };
    this.sessions.set(id, session);
    return session;
  }

  find(id: string): LdsSession | undefined {
    return this.sessions.get(id);
  }

  get(id: string): LdsSession {
    const session = this.sessions.get(id);
    if (!session) throw notFoundError('LDS session', id);
    return session;
  }

  list(): LdsSession[] {
    return [...this.sessions.values()];
  }

  /** The most recently created session currently in `state`. */
  latestForState(state: string): LdsSession | undefined {
    let latest: LdsSession | undefined;
    for (const s of this.sessions.values()) if (s.state === state && (!latest || s.created >= latest.created)) latest = s;
    return latest;
  }

  part(id: string, partNum: number): LdsSessionPart {
    const part = this.get(id).parts[partNum - 1];
    if (!part) throw notFoundError(`part ${partNum} of LDS session`, id);
    return part;
  }

  /** Replace the devices of a part; setting part 1's devices provisions a pending session. */
  setDevices(id: string, partNum: number, devices: LdsDevice[]): LdsDevice[] {
    const session = this.get(id);
    const part = this.part(id, partNum);
    if (session.state === LdsState.FINALIZED) {
      throw invalidTransitionError('LDS session', id, session.state, 'devices changed');
    }
    part.devices = devices.map((d) => ({ ...d }));
    if (partNum === session.current_session_part && session.state === LdsState.PENDING) this.move(session, LdsState.PROVISIONED);
    return part.devices;
  }

  launchUrl(id: string): string {
    const session = this.get(id);
    return `${this.deps.launchBaseUrl()}/lablet/launch/${encodeURIComponent(session.id)}?token=${session.launchToken}`;
  }

  /** The student logs in and starts (or resumes after a pause). */
  start(id: string): LdsSession {
    return this.move(this.get(id), LdsState.RUNNING);
  }

  pause(id: string): LdsSession {
    return this.move(this.get(id), LdsState.PAUSED);
  }

  resume(id: string): LdsSession {
    const session = this.get(id);
    if (session.state !== LdsState.PAUSED) throw invalidTransitionError('LDS session', id, session.state, LdsState.RUNNING);
    return this.move(session, LdsState.RUNNING);
  }

  /** The student finishes the lab. */
  finish(id: string): LdsSession {
    return this.move(this.get(id), LdsState.USER_FINISHED);
  }

  /** The LDS part timer runs out. */
  timeout(id: string): LdsSession {
    return this.move(this.get(id), LdsState.TIMEOUT);
  }

  /** Finalize (release/archive) the session; idempotent. */
  finalize(id: string): LdsSession {
    const session = this.get(id);
    if (session.state === LdsState.FINALIZED) return session;
    return this.move(session, LdsState.FINALIZED);
  }

  /** Forget every session and cancel their timers. */
  reset(): void {
    for (const id of this.sessions.keys()) this.deps.timers.cancelPrefix(`${id}:`);
    this.sessions.clear();
  }

  private move(session: LdsSession, to: LdsState): LdsSession {
    const from = session.state;
    if (!canMove(from, to)) throw invalidTransitionError('LDS session', session.id, from, to);
    const now = new Date();
    const at = now.toISOString();
    session.state = to;
    session.history.push({ state: to, at });
    const part = session.parts[session.current_session_part - 1];
    if (part) part.session_part_state = PART_STATE_OF[to];
    const { timers } = this.deps;
    const timings = this.deps.timings();
    const key = (step: string) => `${session.id}:${step}`;
    const run = (step: string, fn: () => void) => () => {
      try {
        fn();
      } catch (e) {
        this.deps.logger.debug({ err: e, session: session.id, step }, 'automatic step skipped');
      }
    };

    switch (to) {
      case LdsState.PROVISIONED:
        if (timings.autoStartMs !== null) timers.schedule(key('start'), timings.autoStartMs, run('start', () => this.start(session.id)));
        break;
      case LdsState.RUNNING: {
        timers.cancel(key('start'));
        const firstStart = session.startedAt === null;
        if (firstStart) session.startedAt = at;
        const remaining = firstStart ? timings.timeoutMs : session.timerRemainingMs;
        session.timerRemainingMs = null;
        session.timerEndsAt = null;
        if (remaining !== null) {
          session.timerEndsAt = new Date(now.getTime() + remaining).toISOString();
          timers.schedule(key('timeout'), remaining, run('timeout', () => this.timeout(session.id)));
        }
        if (timings.autoFinishMs !== null) timers.schedule(key('finish'), timings.autoFinishMs, run('finish', () => this.finish(session.id)));
        if (firstStart) this.emitStarted(session);
        break;
      }
      case LdsState.PAUSED:
        timers.cancel(key('finish'));
        if (timers.cancel(key('timeout')) && session.timerEndsAt !== null) {
          session.timerRemainingMs = Math.max(0, Date.parse(session.timerEndsAt) - now.getTime());
        }
        session.timerEndsAt = null;
        break;
      default:
        timers.cancelPrefix(`${session.id}:`);
        session.timerEndsAt = null;
        session.timerRemainingMs = null;
        if (isEnded(session) && session.endedAt === null) {
          session.endedAt = at;
          session.endReason = END_REASON[to] ?? 'finalized';
          this.emitEnded(session);
        }
    }
    return session;
  }

  private emitStarted(session: LdsSession): void {
    const data: LdsSessionStartedData = {
      ldsSessionId: session.id,
      labletSessionId: session.labletSessionId,
      partId: session.current_session_part,
      state: session.state,
      startedAt: session.startedAt as string,
    };
    this.emit(session, ExternalEventType.LDS_SESSION_STARTED, data);
  }

  private emitEnded(session: LdsSession): void {
    const data: LdsSessionEndedData = {
      ldsSessionId: session.id,
      labletSessionId: session.labletSessionId,
      partId: session.current_session_part,
      state: session.state,
      reason: session.endReason as LdsEndReason,
      startedAt: session.startedAt,
      endedAt: session.endedAt as string,
    };
    this.emit(session, ExternalEventType.LDS_SESSION_ENDED, data);
  }

  private emit(session: LdsSession, type: string, data: unknown): void {
    const event = cloudEvent({ source: this.deps.source, type, subject: session.id, data });
    this.deps.delivery.enqueue(event, session.labletSessionId ?? session.id);
    this.deps.logger.info({ type, ldsSessionId: session.id, labletSessionId: session.labletSessionId }, 'event emitted');
  }
}

const END_REASON: Partial<Record<LdsState, LdsEndReason>> = {
  SESSION_USER_FINISHED: 'user_finished',
  SESSION_TIMEOUT: 'timeout',
  SESSION_FINALIZED: 'finalized',
};

/** A client that cannot send the `lablet_session_id` extension may pass it as a part variable. */
function labletSessionIdFromVariables(parts: LdsPartInput[]): string | null {
  for (const part of parts) {
    const value = part.variables?.lablet_session_id;
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return null;
}
