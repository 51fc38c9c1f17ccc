import { actorOf, requireAnyScope, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import type { LabletSessionStatus } from '../../../core/domain/enums.ts';
import { EventTopic } from '../../../core/events/cloudevent.ts';
import { conflict, notFound } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Page, PageRequest } from '../../../core/persistence/document-store.ts';
import { CoordinationKeys } from '../../../core/ports/coordination.ts';
import { subscribeIterator, type EventBus } from '../../../core/ports/event-bus.ts';
import type { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import type { PortMapping, Session } from '../domain/model.ts';
import { reviveSession } from '../domain/revive-session.ts';
import {
  createSession,
  manualTransition,
  recordPipelineProgress,
  recordSessionLab,
  scheduleSession,
  terminateSession,
  transitionSession,
  upsertGradingSession,
  upsertUserSession,
  type ChangeContext,
  type GradingSessionChange,
  type NewSession,
  type UserSessionChange,
} from '../domain/session.ts';
import type { DefinitionReader } from '../infrastructure/definition-reader.ts';
import type { SessionFilter, SessionRepository } from '../infrastructure/session-repository.ts';

/** CloudEvent types of session changes (the original system's `lablet_session.<status>.v1`). */
export const SessionEventType = {
  created: 'lcm.session.created.v1',
  updated: 'lcm.session.updated.v1',
  /** A status change: `lcm.session.<status in lower case>.v1`. */
  transitioned: (status: LabletSessionStatus) => `lcm.session.${status.toLowerCase()}.v1`,
} as const;

/** What the controllers watch under `/lcm/sessions/<id>/status`. */
export interface SessionStatusProjection {
  status: LabletSessionStatus;
  revision: number;
  workerId: string | null;
  definitionId: string;
  timeslotStart: Date | null;
  timeslotEnd: Date | null;
}

export interface SessionUpdatesFilter {
  ids?: readonly string[] | null;
  statuses?: readonly LabletSessionStatus[] | null;
}

/** Scopes that may create, transition and terminate sessions (users, and the controllers). */
const SESSION_WRITERS: readonly Scope[] = [Scope.SESSIONS_WRITE, Scope.INTERNAL];


/**
 * Use cases of the sessions subgraph: authorise → load → aggregate → one conditional save → project
 * and publish. A rejected command writes nothing; a save that lost a race is a CONFLICT.
 */
export class SessionService {
  constructor(
    private readonly repo: SessionRepository,
    private readonly definitions: DefinitionReader,
    private readonly publisher: ChangePublisher,
    private readonly bus: EventBus,
    private readonly clock: () => Date,
  ) {}

  async create(identity: Identity | undefined, input: NewSession): Promise<Session> {
    const who = requireAnyScope(identity, SESSION_WRITERS);
    const definition = await this.definitions.get(input.definitionId);
    const ctx = this.context(who);
    const session = createSession(input, definition, newId('ses', ctx.now.getTime()), ctx);
    await this.repo.insert(session);
    await this.publish(session, SessionEventType.created, ctx.actor);
    return session;
  }

  /** The public move: only what a student or operator does (see `MANUAL_TRANSITIONS`). */
  transition(
    identity: Identity | undefined,
    id: string,
    to: LabletSessionStatus,
    reason: string | null | undefined,
    expectedRevision?: number | null,
  ): Promise<Session> {
    return this.change(identity, SESSION_WRITERS, id, expectedRevision, (s, ctx) => manualTransition(s, to, reason, ctx));
  }

  /** A controller's move: any move of the transition table (internal scope). */
  advance(
    identity: Identity | undefined,
    id: string,
    to: LabletSessionStatus,
    reason: string | null | undefined,
    expectedRevision?: number | null,
  ): Promise<Session> {
    return this.change(identity, [Scope.INTERNAL], id, expectedRevision, (s, ctx) => transitionSession(s, to, reason, ctx));
  }

  terminate(identity: Identity | undefined, id: string, reason: string | null | undefined): Promise<Session> {
    return this.change(identity, SESSION_WRITERS, id, null, (s, ctx) => terminateSession(s, reason, ctx));
  }

  schedule(
    identity: Identity | undefined,
    input: { id: string; workerId: string; allocatedPorts: readonly PortMapping[]; expectedRevision?: number | null },
  ): Promise<Session> {
    return this.change(identity, [Scope.INTERNAL], input.id, input.expectedRevision, (s, ctx) => scheduleSession(s, input, ctx));
  }

  recordLab(identity: Identity | undefined, id: string, cmlLabId: string | null | undefined): Promise<Session> {
    return this.change(identity, [Scope.INTERNAL], id, null, (s, ctx) => recordSessionLab(s, cmlLabId, ctx));
  }

  recordPipelineProgress(identity: Identity | undefined, id: string, pipeline: string, progress: unknown): Promise<Session> {
    return this.change(identity, [Scope.INTERNAL], id, null, (s, ctx) => recordPipelineProgress(s, pipeline, progress, ctx));
  }

  upsertUserSession(identity: Identity | undefined, sessionId: string, change: UserSessionChange): Promise<Session> {
    return this.change(identity, [Scope.INTERNAL], sessionId, null, (s, ctx) =>
      upsertUserSession(s, change, newId('usr', ctx.now.getTime()), ctx),
    );
  }

  upsertGradingSession(identity: Identity | undefined, sessionId: string, change: GradingSessionChange): Promise<Session> {
    return this.change(identity, [Scope.INTERNAL], sessionId, null, (s, ctx) =>
      upsertGradingSession(s, change, newId('grd', ctx.now.getTime()), ctx),
    );
  }

  get(id: string): Promise<Session | undefined> {
    return this.repo.get(id);
  }

  getMany(ids: readonly string[]): Promise<Session[]> {
    return this.repo.getMany(ids);
  }

  page(filter: SessionFilter, page: PageRequest): Promise<Page<Session>> {
    return this.repo.page(filter, page);
  }

  sessionsOnWorkers(workerIds: readonly string[], statuses: readonly LabletSessionStatus[]): Promise<Session[]> {
    return this.repo.findOnWorkers(workerIds, statuses);
  }

  /** Every change of a session from now on (from every replica, through the bus), filtered. */
  updates(identity: Identity | undefined, filter: SessionUpdatesFilter): AsyncIterableIterator<Session> {
    requireScope(identity, Scope.READ);
    const ids = filter.ids?.length ? new Set(filter.ids) : undefined;
    const statuses = filter.statuses?.length ? new Set(filter.statuses) : undefined;
    return subscribeIterator(this.bus, EventTopic.session, (event) => {
      const session = reviveSession(event.data);
      if (ids && !ids.has(session.id)) return undefined;
      if (statuses && !statuses.has(session.status)) return undefined;
      return session;
    });
  }

  private context(identity: Identity): ChangeContext {
    return { actor: actorOf(identity), now: this.clock() };
  }

  /** The one path every change of an existing session takes. */
  private async change(
    identity: Identity | undefined,
    scopes: readonly Scope[],
    id: string,
    expectedRevision: number | null | undefined,
    apply: (current: Session, ctx: ChangeContext) => Session,
  ): Promise<Session> {
    const who = requireAnyScope(identity, scopes);
    const current = await this.repo.get(id);
    if (!current) throw notFound('LabletSession', id);
    if (expectedRevision !== null && expectedRevision !== undefined && current.revision !== expectedRevision) {
      throw conflict(`LabletSession ${id} is at revision ${current.revision}, not the expected ${expectedRevision}`, {
        id,
        revision: current.revision,
        expectedRevision,
      });
    }
    const ctx = this.context(who);
    const next = apply(current, ctx);
    await this.repo.save(next);
    const type = next.status === current.status ? SessionEventType.updated : SessionEventType.transitioned(next.status);
    await this.publish(next, type, ctx.actor);
    return next;
  }

  private publish(session: Session, type: string, actor: string): Promise<void> {
    const projection: SessionStatusProjection = {
      status: session.status,
      revision: session.revision,
      workerId: session.workerId,
      definitionId: session.definitionId,
      timeslotStart: session.timeslotStart,
      timeslotEnd: session.timeslotEnd,
    };
    return this.publisher.publish({
      topic: EventTopic.session,
      type,
      subject: session.id,
      data: session,
      revision: session.revision,
      actor,
      projections: [{ key: CoordinationKeys.sessionStatus(session.id), value: projection }],
    });
  }
}
