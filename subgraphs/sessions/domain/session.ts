import {
  DefinitionStatus,
  GradingSessionStatus,
  LabletSessionStatus,
  UserSessionStatus,
  values,
} from '../../../core/domain/enums.ts';
import { sessionStateMachine } from '../../../core/domain/session-state-machine.ts';
import { badInput, conflict, ErrorCode, invalidTransition, LcmError, notFound } from '../../../core/errors.ts';
import type { DefinitionStatusProjection } from '../../../core/read-models/definition.ts';
import type {
  GradingSession,
  PipelineProgress,
  PortMapping,
  Session,
  StatusTransition,
  UserSession,
  UserSessionDevice,
} from './model.ts';

/**
 * The LabletSession aggregate: creation, status transitions through `sessionStateMachine`, placement,
 * and the updates the controllers make (lab id, pipeline progress, user and grading sessions). Pure
 * functions: each takes the current state and returns the next one (revision + 1), or throws an
 * LcmError naming the field at fault. Nothing here reads a clock, an id generator or a database.
 */

/** Who changes a session, and when. */
export interface ChangeContext {
  actor: string;
  now: Date;
}

/** What the definition must tell about itself for a session to be created from it. */
export type DefinitionSnapshot = Pick<DefinitionStatusProjection, 'id' | 'version' | 'status'>;

export interface NewSession {
  definitionId: string;
  owner: string;
  timeslotStart?: Date | null;
  timeslotEnd?: Date | null;
}

/** Ports a session may get on a worker (DESIGN.md §3). */
export const PORT_RANGE = { min: 2000, max: 9999 } as const;
/** Statuses whose entry ends a session (`endedAt` is set the first time one is entered). */
export const SESSION_END_STATUSES: ReadonlySet<LabletSessionStatus> = new Set([
  LabletSessionStatus.STOPPED,
  LabletSessionStatus.ARCHIVED,
  LabletSessionStatus.EXPIRED,
  LabletSessionStatus.TERMINATED,
]);

const MAX_OWNER = 256;
const MAX_REASON = 1024;
const MAX_TEXT = 2048;
const MAX_DEVICES = 256;
const MAX_PROGRESS_BYTES = 64 * 1024;
const PIPELINE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkText(field: string, value: string | null | undefined, max = MAX_TEXT): string | null {
  if (value === null || value === undefined) return null;
  if (value.length > max) throw badInput(field, `must be at most ${max} characters`);
  return value;
}

/** A new session: PENDING, with the creation as the first history entry. */
export function createSession(
  input: NewSession,
  definition: DefinitionSnapshot | undefined,
  id: string,
  { actor, now }: ChangeContext,
): Session {
  const owner = input.owner.trim();
  if (owner.length < 1 || owner.length > MAX_OWNER || CONTROL.test(owner)) {
    throw badInput('input.owner', `must be 1–${MAX_OWNER} printable characters`);
  }
  const timeslotStart = input.timeslotStart ?? now;
  const timeslotEnd = input.timeslotEnd ?? null;
  if (timeslotEnd) {
    if (timeslotEnd.getTime() <= timeslotStart.getTime()) {
      throw badInput('input.timeslotEnd', `must be after timeslotStart (${timeslotStart.toISOString()})`);
    }
    if (timeslotEnd.getTime() <= now.getTime()) {
      throw badInput('input.timeslotEnd', `is in the past (${timeslotEnd.toISOString()})`);
    }
  }
  if (!definition) throw notFound('LabletDefinition', input.definitionId);
  if (definition.status !== DefinitionStatus.ACTIVE) {
    throw conflict(`the definition is ${definition.status}: ${definition.id} accepts no new sessions`, {
      definitionId: definition.id,
      definitionStatus: definition.status,
    });
  }
  return {
    id,
    revision: 1,
    status: LabletSessionStatus.PENDING,
    owner,
    definitionId: definition.id,
    definitionVersion: definition.version,
    workerId: null,
    timeslotStart,
    timeslotEnd,
    allocatedPorts: [],
    cmlLabId: null,
    statusHistory: [{ from: null, to: LabletSessionStatus.PENDING, at: now, actor, reason: 'created' }],
    userSession: null,
    gradingSession: null,
    startedAt: null,
    endedAt: null,
    pipelineProgress: {},
    createdAt: now,
    updatedAt: now,
  };
}

/** The next state of a changed session: revision + 1, updatedAt = now. */
function changed(session: Session, patch: Partial<Session>, now: Date): Session {
  return { ...session, ...patch, revision: session.revision + 1, updatedAt: now };
}

/**
 * Move a session to `to`, if the transition table allows it (INVALID_TRANSITION naming both statuses
 * otherwise). Appends one history entry; sets `startedAt` on entering RUNNING and `endedAt` the first
 * time an end status is entered.
 */
export function transitionSession(
  session: Session,
  to: LabletSessionStatus,
  reason: string | null | undefined,
  { actor, now }: ChangeContext,
  patch: Partial<Pick<Session, 'workerId' | 'allocatedPorts'>> = {},
): Session {
  const from = session.status;
  if (!sessionStateMachine.canTransition(from, to)) throw invalidTransition('LabletSession', from, to);
  const entry: StatusTransition = { from, to, at: now, actor, reason: checkText('reason', reason, MAX_REASON) };
  return changed(
    session,
    {
      ...patch,
      status: to,
      statusHistory: [...session.statusHistory, entry],
      startedAt: to === LabletSessionStatus.RUNNING ? (session.startedAt ?? now) : session.startedAt,
      endedAt: SESSION_END_STATUSES.has(to) ? (session.endedAt ?? now) : session.endedAt,
    },
    now,
  );
}

/**
 * The moves a person makes through the public `transitionSession` (CONTRACT.md): the student starts
 * (READY → RUNNING) and finishes (RUNNING → COLLECTING), an operator stops a session early (→ STOPPING)
 * or ends it (→ TERMINATED, also `terminateSession`). Every other move of the table is the controllers'
 * (`advanceSession`, internal): placing, booting, grading and archiving are not the public's to claim.
 */
export const MANUAL_TRANSITIONS: ReadonlyMap<LabletSessionStatus, ReadonlySet<LabletSessionStatus>> = new Map<LabletSessionStatus, ReadonlySet<LabletSessionStatus>>([
  [LabletSessionStatus.READY, new Set([LabletSessionStatus.RUNNING])],
  [LabletSessionStatus.RUNNING, new Set([LabletSessionStatus.COLLECTING, LabletSessionStatus.STOPPING])],
  [LabletSessionStatus.COLLECTING, new Set([LabletSessionStatus.STOPPING])],
  [LabletSessionStatus.GRADING, new Set([LabletSessionStatus.STOPPING])],
  [LabletSessionStatus.EXPIRED, new Set([LabletSessionStatus.STOPPING])],
]);

/** Whether a person may make this move through the public API (TERMINATED: from any non-final status). */
export const isManualTransition = (from: LabletSessionStatus, to: LabletSessionStatus): boolean =>
  sessionStateMachine.canTransition(from, to) && (to === LabletSessionStatus.TERMINATED || (MANUAL_TRANSITIONS.get(from)?.has(to) ?? false));

/** A move made through the public API: only the manual moves; the rest belong to the controllers. */
export function manualTransition(session: Session, to: LabletSessionStatus, reason: string | null | undefined, ctx: ChangeContext): Session {
  const from = session.status;
  if (sessionStateMachine.canTransition(from, to) && !isManualTransition(from, to)) {
    const manual = [...(MANUAL_TRANSITIONS.get(from) ?? []), LabletSessionStatus.TERMINATED];
    throw new LcmError(
      ErrorCode.INVALID_TRANSITION,
      `LabletSession cannot be moved from ${from} to ${to} through transitionSession: the controllers make that move; from ${from} a person may move it to ${manual.join(' or ')}`,
      { from, to, manual },
    );
  }
  return transitionSession(session, to, reason, ctx);
}

/** End a session now, from any status but TERMINATED. */
export function terminateSession(session: Session, reason: string | null | undefined, ctx: ChangeContext): Session {
  return transitionSession(session, LabletSessionStatus.TERMINATED, reason ?? 'terminated', ctx);
}

/** Validate ports for a worker: integers in 2000–9999, names and numbers unique. */
export function checkAllocatedPorts(ports: readonly PortMapping[], field = 'input.allocatedPorts'): PortMapping[] {
  const names = new Set<string>();
  const numbers = new Set<number>();
  return ports.map((p, i) => {
    const name = p.name.trim();
    if (name.length < 1 || name.length > 64) throw badInput(`${field}[${i}].name`, 'must be 1–64 characters');
    if (names.has(name)) throw badInput(`${field}[${i}].name`, `duplicates port "${name}"`);
    if (!Number.isInteger(p.port) || p.port < PORT_RANGE.min || p.port > PORT_RANGE.max) {
      throw badInput(`${field}[${i}].port`, `must be an integer between ${PORT_RANGE.min} and ${PORT_RANGE.max}; got ${p.port}`);
    }
    if (numbers.has(p.port)) throw badInput(`${field}[${i}].port`, `port ${p.port} is given twice`);
    names.add(name);
    numbers.add(p.port);
    return { name, port: p.port };
  });
}

/** Place a PENDING session on a worker with its ports: → SCHEDULED. */
export function scheduleSession(
  session: Session,
  placement: { workerId: string; allocatedPorts: readonly PortMapping[] },
  ctx: ChangeContext,
): Session {
  const workerId = placement.workerId.trim();
  if (workerId.length < 1 || workerId.length > 128) throw badInput('input.workerId', 'must be 1–128 characters');
  const allocatedPorts = checkAllocatedPorts(placement.allocatedPorts);
  if (session.status !== LabletSessionStatus.PENDING) {
    throw invalidTransition('LabletSession', session.status, LabletSessionStatus.SCHEDULED);
  }
  return transitionSession(session, LabletSessionStatus.SCHEDULED, `scheduled on worker ${workerId}`, ctx, {
    workerId,
    allocatedPorts,
  });
}

/** Record (or clear, with null) the id of the session's lab on the CML server. */
export function recordSessionLab(session: Session, cmlLabId: string | null | undefined, { now }: ChangeContext): Session {
  const id = cmlLabId?.trim() || null;
  checkText('cmlLabId', id, 256);
  return changed(session, { cmlLabId: id }, now);
}

/** Throw unless `value` is JSON whose object keys are storable (no `$` prefix, no `.`). */
function checkStorableJson(field: string, value: unknown, depth = 0): void {
  if (depth > 16) throw badInput(field, 'is nested too deeply');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badInput(field, 'must hold finite numbers only');
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkStorableJson(`${field}[${i}]`, v, depth + 1));
    return;
  }
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.length === 0 || k.startsWith('$') || k.includes('.')) {
        throw badInput(field, `key "${k}" must be non-empty, without "." and not starting with "$"`);
      }
      checkStorableJson(`${field}.${k}`, v, depth + 1);
    }
    return;
  }
  throw badInput(field, 'must be JSON');
}

/** Merge `progress` into `pipelineProgress[pipeline]` (keys of `progress` replace earlier ones). */
export function recordPipelineProgress(session: Session, pipeline: string, progress: unknown, { now }: ChangeContext): Session {
  if (!PIPELINE_NAME.test(pipeline)) {
    throw badInput('pipeline', 'must be 1–64 letters, digits, `_` or `-`, starting with a letter or digit');
  }
  if (progress === null || typeof progress !== 'object' || Array.isArray(progress)) {
    throw badInput('progress', 'must be a JSON object');
  }
  checkStorableJson('progress', progress);
  const merged = { ...(session.pipelineProgress[pipeline] ?? {}), ...(progress as Record<string, unknown>) };
  const pipelineProgress: PipelineProgress = { ...session.pipelineProgress, [pipeline]: merged };
  if (JSON.stringify(pipelineProgress).length > MAX_PROGRESS_BYTES) {
    throw badInput('progress', `would make pipelineProgress larger than ${MAX_PROGRESS_BYTES} bytes`);
  }
  return changed(session, { pipelineProgress }, now);
}

/** A status of one of the child enums, case-insensitive (the original system's enums are). */
function childStatus<T extends string>(field: string, status: string, allowed: readonly T[]): T {
  const upper = status.trim().toUpperCase();
  const found = allowed.find((s) => s === upper);
  if (!found) throw badInput(field, `must be one of ${allowed.join(', ')}; got "${status}"`);
  return found;
}

export interface UserSessionChange {
  status: string;
  loginUrl?: string | null;
  externalId?: string | null;
  devices?: ReadonlyArray<{ name: string; protocol: string; host?: string | null; port?: number | null }> | null;
}

function checkDevices(devices: NonNullable<UserSessionChange['devices']>): UserSessionDevice[] {
  if (devices.length > MAX_DEVICES) throw badInput('input.devices', `has more than ${MAX_DEVICES} devices`);
  return devices.map((d, i) => {
    const name = d.name.trim();
    const protocol = d.protocol.trim().toLowerCase();
    if (name.length < 1 || name.length > 128) throw badInput(`input.devices[${i}].name`, 'must be 1–128 characters');
    if (protocol.length < 1 || protocol.length > 32) throw badInput(`input.devices[${i}].protocol`, 'must be 1–32 characters');
    const port = d.port ?? null;
    if (port !== null && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw badInput(`input.devices[${i}].port`, 'must be an integer between 1 and 65535');
    }
    return { name, protocol, host: checkText(`input.devices[${i}].host`, d.host ?? null, 255), port };
  });
}

/** Create the user session (with `newChildId`) on the first call, update it afterwards. */
export function upsertUserSession(session: Session, change: UserSessionChange, newChildId: string, { now }: ChangeContext): Session {
  const status = childStatus('input.status', change.status, values(UserSessionStatus));
  const loginUrl = checkText('input.loginUrl', change.loginUrl);
  const externalId = checkText('input.externalId', change.externalId, 256);
  const devices = change.devices ? checkDevices(change.devices) : change.devices;
  const previous = session.userSession;
  const userSession: UserSession = previous
    ? {
        ...previous,
        status,
        // A field left out keeps its value; an explicit null clears it.
        loginUrl: change.loginUrl === undefined ? previous.loginUrl : loginUrl,
        externalId: change.externalId === undefined ? previous.externalId : externalId,
        devices: devices === undefined ? previous.devices : (devices ?? []),
        updatedAt: now,
      }
    : { id: newChildId, status, loginUrl, externalId, devices: devices ?? [], createdAt: now, updatedAt: now };
  return changed(session, { userSession }, now);
}

export interface GradingSessionChange {
  status: string;
  externalId?: string | null;
  faultReason?: string | null;
}

/** Create the grading session (with `newChildId`) on the first call, update it afterwards. */
export function upsertGradingSession(session: Session, change: GradingSessionChange, newChildId: string, { now }: ChangeContext): Session {
  const status = childStatus('input.status', change.status, values(GradingSessionStatus));
  const externalId = checkText('input.externalId', change.externalId, 256);
  const faultReason = checkText('input.faultReason', change.faultReason, MAX_REASON);
  const previous = session.gradingSession;
  const gradingSession: GradingSession = previous
    ? {
        ...previous,
        status,
        externalId: change.externalId === undefined ? previous.externalId : externalId,
        faultReason: change.faultReason === undefined ? previous.faultReason : faultReason,
        updatedAt: now,
      }
    : { id: newChildId, status, externalId, faultReason, createdAt: now, updatedAt: now };
  return changed(session, { gradingSession }, now);
}

/** Seconds between `startedAt` and `endedAt`, when both are known. */
export function durationSeconds(session: Pick<Session, 'startedAt' | 'endedAt'>): number | null {
  if (!session.startedAt || !session.endedAt) return null;
  return Math.max(0, (session.endedAt.getTime() - session.startedAt.getTime()) / 1000);
}
