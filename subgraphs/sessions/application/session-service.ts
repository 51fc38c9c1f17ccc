import { actorOf, requireAnyScope, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import type { LabletSessionStatus } from '../../../core/domain/enums.ts';
import { EventTopic } from '../../../core/events/cloudevent.ts';
import { newId } from '../../../core/ids.ts';
import type { Page, PageRequest } from '../../../core/persistence/document-store.ts';
import { subscribeIterator, type EventBus } from '../../../core/ports/event-bus.ts';
import { SessionEventType, sessionProjections } from './session-events.ts';
import { AggregateChanges, changedTo } from '../../../core/subgraph/aggregate-changes.ts';
import type { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { reviveSession, type PortMapping, type Session } from '../domain/model.ts';
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

export interface SessionUpdatesFilter {
  ids?: readonly string[] | null;
  statuses?: readonly LabletSessionStatus[] | null;
}

/** Scopes that may create, transition and terminate sessions (users, and the controllers). */
const SESSION_WRITERS: readonly Scope[] = [Scope.SESSIONS_WRITE, Scope.INTERNAL];


/**
 * Use cases of the sessions subgraph: authorise → load → aggregate → one conditional save → project
 * and publish. A rejected command writes nothing.
 */
export class SessionService {
  private readonly changes: AggregateChanges<Session>;

  constructor(
    private readonly repo: SessionRepository,
    private readonly definitions: DefinitionReader,
    private readonly publisher: ChangePublisher,
    private readonly bus: EventBus,
    private readonly clock: () => Date,
  ) {
    this.changes = new AggregateChanges<Session>({
      entity: 'LabletSession',
      load: (id) => this.repo.get(id),
      save: (next) => this.repo.save(next),
      publish: (next, eventType, actor) => this.publish(next, eventType, actor),
    });
  }

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

  // -------------------------------------------------------------------------------------------------
  // Queries (scope `read`)

  async get(identity: Identity | undefined, id: string): Promise<Session | undefined> {
    requireScope(identity, Scope.READ);
    return this.repo.get(id);
  }

  /** Sessions by id in one round trip (entity references). */
  async getMany(identity: Identity | undefined, ids: readonly string[]): Promise<Session[]> {
    requireScope(identity, Scope.READ);
    return this.repo.getMany(ids);
  }

  async page(identity: Identity | undefined, filter: SessionFilter, page: PageRequest): Promise<Page<Session>> {
    requireScope(identity, Scope.READ);
    return this.repo.page(filter, page);
  }

  /** The sessions of N workers in the given statuses, in one round trip (`CmlWorker.sessions`). */
  async sessionsOnWorkers(identity: Identity | undefined, workerIds: readonly string[], statuses: readonly LabletSessionStatus[]): Promise<Session[]> {
    requireScope(identity, Scope.READ);
    return this.repo.findOnWorkers(workerIds, statuses);
  }

  /**
   * Every change of a session from now on, or after `after` (an event cursor; see `EventBus`), from
   * every replica, through the bus, filtered.
   */
  updates(identity: Identity | undefined, filter: SessionUpdatesFilter, after?: string | null): AsyncIterableIterator<Session> {
    requireScope(identity, Scope.READ);
    const ids = filter.ids?.length ? new Set(filter.ids) : undefined;
    const statuses = filter.statuses?.length ? new Set(filter.statuses) : undefined;
    return subscribeIterator(this.bus, EventTopic.session, (event) => {
      const session = reviveSession(event.data);
      if (ids && !ids.has(session.id)) return undefined;
      if (statuses && !statuses.has(session.status)) return undefined;
      return session;
    }, { after });
  }

  private context(identity: Identity): ChangeContext {
    return { actor: actorOf(identity), now: this.clock() };
  }

  /**
   * The one path every change of an existing session takes (`AggregateChanges`): authorise, then load →
   * decide → conditional write → publish; a lost race is decided again on the fresh state.
   */
  private change(
    identity: Identity | undefined,
    scopes: readonly Scope[],
    id: string,
    expectedRevision: number | null | undefined,
    apply: (current: Session, ctx: ChangeContext) => Session,
  ): Promise<Session> {
    const who = requireAnyScope(identity, scopes);
    const actor = actorOf(who);
    return this.changes.run(id, actor, expectedRevision, (current) => {
      const next = apply(current, this.context(who));
      return changedTo(next, next.status === current.status ? SessionEventType.updated : SessionEventType.transitioned(next.status));
    });
  }

  private publish(session: Session, type: string, actor: string): Promise<void> {
    return this.publisher.publish({
      topic: EventTopic.session,
      type,
      subject: session.id,
      data: session,
      revision: session.revision,
      actor,
      projections: sessionProjections(session),
    });
  }
}
