import { actorOf, requireAnyScope, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import { LabletSessionStatus } from '../../../core/domain/enums.ts';
import { EventTopic } from '../../../core/events/cloudevent.ts';
import { newId } from '../../../core/ids.ts';
import { encodeCursor, type Page, type PageRequest } from '../../../core/persistence/document-store.ts';
import { CoordinationKeys, type CoordinationStore } from '../../../core/ports/coordination.ts';
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
      logger: publisher.logger,
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

  /**
   * Write again the status projection of every session whose projection is missing or older than the
   * session (at start, and every 15 s after). A projection is written after the save,
   * best effort: etcd unreachable for a moment, or a save the database applied but whose answer was lost
   * (nothing published), leaves it behind the session. The controllers list through GraphQL, but the
   * score-reports subgraph accepts a report only for a session whose projection says GRADING: without
   * the repair such a session answered CONFLICT to every publish and stayed GRADING for good (issue 12).
   * Looks at the live sessions, and at every projection that still says live. Returns how many were written.
   */
  async republishProjections(coordination: CoordinationStore | undefined): Promise<number> {
    if (!coordination) return 0;
    // Read etcd first: a newer save's projection written after this read fails the conditional write
    // below (its mod revision moved), so a repair never puts an older state over a newer one.
    const stored = new Map<string, { revision: number | undefined; live: boolean; modRevision: number }>();
    for (const kv of (await coordination.list(CoordinationKeys.sessions)).items) {
      if (!kv.key.endsWith('/status')) continue;
      const p = parseProjection(kv.value);
      stored.set(kv.key, { revision: p?.revision, live: p?.status !== undefined && !ENDED.has(p.status), modRevision: kv.modRevision });
    }
    let count = 0;
    const seen = new Set<string>();
    const repair = async (session: Session) => {
      const key = CoordinationKeys.sessionStatus(session.id);
      seen.add(key);
      const known = stored.get(key);
      if (known?.revision !== undefined && known.revision >= session.revision) return;
      const projection = sessionProjections(session).find((p) => p.key === key);
      if (!projection || 'delete' in projection) return;
      const { succeeded } = await coordination.transaction([{ key, modRevision: known?.modRevision ?? 0 }], [{ type: 'put', key, value: JSON.stringify(projection.value) }]);
      if (succeeded) count += 1;
    };
    const live = Object.values(LabletSessionStatus).filter((s) => !ENDED.has(s));
    for (let after: string | undefined; ; ) {
      const page = await this.repo.page({ statuses: live }, { first: 500, ...(after ? { after } : {}) });
      for (const session of page.items) await repair(session);
      const last = page.items.at(-1);
      if (!page.hasNextPage || !last) break;
      after = encodeCursor(last.id);
    }
    // Projections that still say live for a session that has ended (or is not in the database).
    const behind = [...stored].filter(([key, p]) => p.live && !seen.has(key)).map(([key]) => key.slice(CoordinationKeys.sessions.length, -'/status'.length));
    for (let i = 0; i < behind.length; i += 500) {
      for (const session of await this.repo.getMany(behind.slice(i, i + 500))) await repair(session);
    }
    return count;
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

/** Sessions whose projection no controller acts on any more. */
const ENDED: ReadonlySet<string> = new Set([LabletSessionStatus.ARCHIVED, LabletSessionStatus.TERMINATED]);

function parseProjection(value: string): { status?: string; revision?: number } | undefined {
  try {
    const p = JSON.parse(value) as { status?: unknown; revision?: unknown };
    return { ...(typeof p.status === 'string' ? { status: p.status } : {}), ...(typeof p.revision === 'number' ? { revision: p.revision } : {}) };
  } catch {
    return undefined;
  }
}
