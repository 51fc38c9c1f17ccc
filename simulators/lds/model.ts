import { UserSessionStatus } from '../../core/domain/enums.ts';

/**
 * The LDS (Lab Delivery System) session model as the Reservations API v3 shows it: a session
 * (reservation) with numbered parts, each part with its devices, and native states named
 * `SESSION_*` / `SESSION_PART_*`. LCM maps the native states to its UserSessionStatus
 * (`lcm_core/domain/enums/user_session_status.py` in the original).
 */

export const LdsState = {
  PENDING: 'SESSION_PENDING',
  PROVISIONED: 'SESSION_PROVISIONED',
  RUNNING: 'SESSION_RUNNING',
  PAUSED: 'SESSION_PAUSED',
  USER_FINISHED: 'SESSION_USER_FINISHED',
  TIMEOUT: 'SESSION_TIMEOUT',
  FINALIZED: 'SESSION_FINALIZED',
} as const;
export type LdsState = (typeof LdsState)[keyof typeof LdsState];

export const LdsPartState = {
  PENDING: 'SESSION_PART_PENDING',
  RUNNING: 'SESSION_PART_RUNNING',
  PAUSED: 'SESSION_PART_PAUSED',
  USER_FINISHED: 'SESSION_PART_USER_FINISHED',
  TIMEOUT: 'SESSION_PART_TIMEOUT',
  FINALIZED: 'SESSION_PART_FINALIZED',
} as const;
export type LdsPartState = (typeof LdsPartState)[keyof typeof LdsPartState];

/** Allowed moves of a session. Anything not listed is refused with 409 INVALID_TRANSITION. */
export const LDS_TRANSITIONS: Readonly<Record<LdsState, readonly LdsState[]>> = {
  SESSION_PENDING: ['SESSION_PROVISIONED', 'SESSION_RUNNING', 'SESSION_TIMEOUT', 'SESSION_FINALIZED'],
  SESSION_PROVISIONED: ['SESSION_RUNNING', 'SESSION_TIMEOUT', 'SESSION_FINALIZED'],
  SESSION_RUNNING: ['SESSION_PAUSED', 'SESSION_USER_FINISHED', 'SESSION_TIMEOUT', 'SESSION_FINALIZED'],
  SESSION_PAUSED: ['SESSION_RUNNING', 'SESSION_USER_FINISHED', 'SESSION_TIMEOUT', 'SESSION_FINALIZED'],
  SESSION_USER_FINISHED: ['SESSION_FINALIZED'],
  SESSION_TIMEOUT: ['SESSION_FINALIZED'],
  SESSION_FINALIZED: [],
};

export const canMove = (from: LdsState, to: LdsState): boolean => LDS_TRANSITIONS[from].includes(to);

/** The part state that goes with a session state. */
export const PART_STATE_OF: Readonly<Record<LdsState, LdsPartState>> = {
  SESSION_PENDING: 'SESSION_PART_PENDING',
  SESSION_PROVISIONED: 'SESSION_PART_PENDING',
  SESSION_RUNNING: 'SESSION_PART_RUNNING',
  SESSION_PAUSED: 'SESSION_PART_PAUSED',
  SESSION_USER_FINISHED: 'SESSION_PART_USER_FINISHED',
  SESSION_TIMEOUT: 'SESSION_PART_TIMEOUT',
  SESSION_FINALIZED: 'SESSION_PART_FINALIZED',
};

/**
 * LDS native state → LCM UserSessionStatus (original mapping: pending/initial_login/prelaunch/
 * provisioned → PROVISIONED; running/active → ACTIVE; paused → PAUSED; user_finished/finalized →
 * ENDED; timeout → EXPIRED).
 */
export function toUserSessionStatus(state: LdsState): UserSessionStatus {
  switch (state) {
    case LdsState.PENDING:
    case LdsState.PROVISIONED:
      return UserSessionStatus.PROVISIONED;
    case LdsState.RUNNING:
      return UserSessionStatus.ACTIVE;
    case LdsState.PAUSED:
      return UserSessionStatus.PAUSED;
    case LdsState.USER_FINISHED:
    case LdsState.FINALIZED:
      return UserSessionStatus.ENDED;
    case LdsState.TIMEOUT:
      return UserSessionStatus.EXPIRED;
  }
}

/** An LDS device access entry (`LDSSessionPartDev`). */
export interface LdsDevice {
  device_label: string;
  protocol: string;
  host: string;
  port?: number | null;
  password?: string | null;
}

export interface LdsSessionPart {
  repository_type: 'svn' | 'minio';
  form_qualified_name: string | null;
  track: string | null;
  exam_version: string | null;
  variables: Record<string, unknown> | null;
  session_part_state: LdsPartState;
  devices: LdsDevice[];
}

export interface LdsStatusChange {
  state: LdsState;
  at: string;
}

/** One LDS session, as the simulator stores it. */
export interface LdsSession {
  id: string;
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
  email_address: string | null;
  state: LdsState;
  created: string;
  current_session_part: number;
  parts: LdsSessionPart[];
  /** Simulator extension: the LCM lablet session this LDS session serves (carried in the events). */
  labletSessionId: string | null;
  /** Opaque token embedded in the launch URL. */
  launchToken: string;
  startedAt: string | null;
  endedAt: string | null;
  endReason: 'user_finished' | 'timeout' | 'finalized' | null;
  history: LdsStatusChange[];
  /** Milliseconds left on the part timer while paused (the timer stops during a pause). */
  timerRemainingMs: number | null;
  /** When the running part timer expires (ISO), or null. */
  timerEndsAt: string | null;
}

export const isEnded = (s: LdsSession): boolean =>
  s.state === LdsState.USER_FINISHED || s.state === LdsState.TIMEOUT || s.state === LdsState.FINALIZED;
