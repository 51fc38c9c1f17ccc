/** Domain types of the sessions subgraph; the resolvers map from them (codegen `mappers`). */
import type { GradingSessionStatus, LabletSessionStatus, UserSessionStatus } from '../../../core/domain/enums.ts';

/** One status change of a session. `from` is null for the creation entry. */
export interface StatusTransition {
  from: LabletSessionStatus | null;
  to: LabletSessionStatus;
  at: Date;
  /** `user:<name>`, `controller:<name>` or `system` (see `actorOf`). */
  actor: string;
  reason: string | null;
}

/** A named port and the number it got on the worker. */
export interface PortMapping {
  name: string;
  port: number;
}

/** A device the student can reach through the user session. */
export interface UserSessionDevice {
  name: string;
  protocol: string;
  host: string | null;
  port: number | null;
}

/** The student's access to the lab (a child entity, embedded in the session: ADR 0005). */
export interface UserSession {
  id: string;
  status: UserSessionStatus;
  loginUrl: string | null;
  /** The lab delivery system's own session id. */
  externalId: string | null;
  devices: UserSessionDevice[];
  createdAt: Date;
  updatedAt: Date;
}

/** The grading of the session (a child entity, embedded in the session: ADR 0005). */
export interface GradingSession {
  id: string;
  status: GradingSessionStatus;
  /** The grading engine's own session id. */
  externalId: string | null;
  faultReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Saved progress of the controllers' pipelines, keyed by pipeline name. */
export type PipelineProgress = Record<string, Record<string, unknown>>;

/**
 * The LabletSession aggregate as stored: one document holding the session and its children, written
 * with one conditional replace per change (optimistic concurrency on `revision`).
 */
export interface Session {
  id: string;
  /** 1 after creation, +1 on every change. */
  revision: number;
  status: LabletSessionStatus;
  owner: string;
  definitionId: string;
  /** Version of the definition when the session was created (a snapshot). */
  definitionVersion: string;
  workerId: string | null;
  timeslotStart: Date | null;
  timeslotEnd: Date | null;
  allocatedPorts: PortMapping[];
  cmlLabId: string | null;
  /** Every status change, oldest first; the first entry is the creation (from null to PENDING). */
  statusHistory: StatusTransition[];
  userSession: UserSession | null;
  gradingSession: GradingSession | null;
  /** Set when the session enters RUNNING. */
  startedAt: Date | null;
  /** Set the first time the session enters STOPPED, ARCHIVED, EXPIRED or TERMINATED. */
  endedAt: Date | null;
  pipelineProgress: PipelineProgress;
  createdAt: Date;
  updatedAt: Date;
}

/** A reference to a CmlWorker (an entity of the workers subgraph, extended here with `sessions`). */
export interface WorkerRef {
  id: string;
}

/** A reference to a LabletDefinition (resolved by the definitions subgraph). */
export interface DefinitionRef {
  id: string;
}

/**
 * A session snapshot from an event back into a `Session`. Over the in-process bus the event data is
 * the object itself; over etcd it arrived as JSON, so its dates are ISO strings. Either way the result
 * has real `Date`s (what the resolvers and `durationSeconds` expect).
 */
export function reviveSession(data: unknown): Session {
  const s = data as Session;
  return {
    ...s,
    timeslotStart: optionalDate(s.timeslotStart),
    timeslotEnd: optionalDate(s.timeslotEnd),
    startedAt: optionalDate(s.startedAt),
    endedAt: optionalDate(s.endedAt),
    createdAt: toDate(s.createdAt),
    updatedAt: toDate(s.updatedAt),
    statusHistory: (s.statusHistory ?? []).map((t): StatusTransition => ({ ...t, at: toDate(t.at) })),
    userSession: s.userSession ? reviveChild<UserSession>(s.userSession) : null,
    gradingSession: s.gradingSession ? reviveChild<GradingSession>(s.gradingSession) : null,
    allocatedPorts: s.allocatedPorts ?? [],
    pipelineProgress: s.pipelineProgress ?? {},
  };
}

function reviveChild<T extends { createdAt: Date; updatedAt: Date }>(child: T): T {
  return { ...child, createdAt: toDate(child.createdAt), updatedAt: toDate(child.updatedAt) };
}

function toDate(v: Date | string | number): Date {
  return v instanceof Date ? v : new Date(v);
}

function optionalDate(v: Date | string | number | null | undefined): Date | null {
  return v === null || v === undefined ? null : toDate(v);
}
