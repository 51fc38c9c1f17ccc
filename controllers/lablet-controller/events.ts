/**
 * The lablet-controller's CloudEvents sink (`POST /events` on its ops port): what LDS and the grading
 * engine report, turned into mutations.
 *
 *   lds.session.started      → user session ACTIVE; READY → RUNNING
 *   lds.session.ended        → user session ENDED (EXPIRED on timeout); RUNNING → COLLECTING
 *                              (READY → EXPIRED: ended before the student started; the reconcile does it)
 *   grading.session.completed → the score report published, grading SUBMITTED (the reconcile then
 *                              moves GRADING → STOPPING)
 *   grading.session.failed   → grading FAULTED with the reason (the reconcile grades again or ends
 *                              the session TERMINATED, see decide.ts)
 *
 * Every effect is guarded by the session's current state, so an event for a session already past
 * that point is accepted (202) and changes nothing, and a duplicate has no second effect. On top of
 * that, ids of processed events are remembered in the coordination store (shared by every replica)
 * for an hour or two, attached to a lease that expires on its own, so a redelivered event is not even
 * looked at again. An event is remembered only after it was processed: a failure answers 500 and the
 * sender's retry processes it. Bad events get 400 (unknown type, invalid data), an unknown lablet
 * session 404; neither is retried by the senders.
 *
 * This handler may run on a replica that does not lead: it writes through GraphQL like the leader,
 * and the leader's watch of the session's status projection wakes its reconcile.
 */
import { createHash } from 'node:crypto';
import { parseExternalEvent, ExternalEventType, type ExternalEvent } from '../../core/events/external-events.ts';
import type { CloudEvent } from '../../core/events/cloudevent.ts';
import { LabletSessionStatus as S } from '../../core/domain/enums.ts';
import { ErrorCode, notFound } from '../../core/errors.ts';
import { GraphQLRequestError } from '../../core/graphql/client.ts';
import type { CoordinationStore, Lease } from '../../core/ports/coordination.ts';
import type { ControllerDeps } from '../kit/role.ts';
import { LcAdvanceDocument, LcSessionDocument, LcUpsertGradingSessionDocument, LcUpsertUserSessionDocument, type LcSessionFragment } from './__generated__/operations.ts';
import { publishReport } from './reconcile.ts';

export const SEEN_EVENTS_PREFIX = '/lcm/lablet-controller/events/';

/**
 * Processed event ids in the coordination store, under one lease per period: a key lives between
 * `ttlSeconds / 2` and `ttlSeconds` (the lease is replaced when half of it is gone).
 */
export class SeenEvents {
  private lease: { lease: Lease; grantedAt: number } | undefined;
  private granting: Promise<Lease> | undefined;

  constructor(
    private readonly store: CoordinationStore,
    private readonly ttlSeconds = 7200,
    private readonly now: () => number = Date.now,
  ) {}

  private key(event: CloudEvent): string {
    return SEEN_EVENTS_PREFIX + createHash('sha256').update(`${event.source}\n${event.id}`).digest('hex').slice(0, 40);
  }

  async has(event: CloudEvent): Promise<boolean> {
    return (await this.store.get(this.key(event))) !== undefined;
  }

  async add(event: CloudEvent): Promise<void> {
    const lease = await this.currentLease();
    await this.store.put(this.key(event), JSON.stringify({ type: event.type, at: new Date(this.now()).toISOString() }), { lease: lease.id });
  }

  private async currentLease(): Promise<Lease> {
    const l = this.lease;
    if (l && l.lease.isAlive() && this.now() - l.grantedAt < (this.ttlSeconds * 1000) / 2) return l.lease;
    this.granting ??= this.store
      .grantLease(this.ttlSeconds, { keepAlive: false })
      .then((lease) => {
        this.lease = { lease, grantedAt: this.now() };
        return lease;
      })
      .finally(() => (this.granting = undefined));
    return this.granting;
  }
}

const swallowMoveConflicts = async (p: Promise<unknown>): Promise<void> => {
  try {
    await p;
  } catch (e) {
    // Someone (the reconcile, another replica, a user) moved the session meanwhile: nothing to do.
    if (e instanceof GraphQLRequestError && (e.code === ErrorCode.INVALID_TRANSITION || e.code === ErrorCode.CONFLICT)) return;
    throw e;
  }
};

export interface EventEffects {
  /** Ask the controller to look at a session soon (ignored on a replica that does not lead). */
  wake(sessionId: string): void;
}

export class LabletEvents {
  constructor(
    private readonly deps: Pick<ControllerDeps, 'client' | 'logger'>,
    private readonly seen: SeenEvents,
    private readonly effects: EventEffects,
  ) {}

  /** Handle one CloudEvent; throws `LcmError` BAD_USER_INPUT / NOT_FOUND for events to refuse. */
  async handle(event: CloudEvent): Promise<void> {
    const parsed = parseExternalEvent(event);
    if (await this.seen.has(event)) return;
    const sessionId = parsed.data.labletSessionId;
    if (sessionId) {
      const session = (await this.deps.client.request(LcSessionDocument, { id: sessionId })).session;
      if (!session) throw notFound('LabletSession', sessionId);
      await this.apply(parsed, session);
      this.effects.wake(sessionId);
    } else {
      this.deps.logger.info({ type: event.type, id: event.id }, 'event names no lablet session; ignored');
    }
    await this.seen.add(event);
  }

  private async apply(e: ExternalEvent, s: LcSessionFragment): Promise<void> {
    const client = this.deps.client;
    switch (e.type) {
      case ExternalEventType.LDS_SESSION_STARTED: {
        if (s.userSession?.externalId !== e.data.ldsSessionId) return;
        if (s.status !== S.INSTANTIATING && s.status !== S.READY) return;
        if (s.userSession.status !== 'ACTIVE') {
          await client.request(LcUpsertUserSessionDocument, { sessionId: s.id, input: { status: 'ACTIVE' } });
        }
        if (s.status === S.READY) {
          await swallowMoveConflicts(client.request(LcAdvanceDocument, { id: s.id, to: S.RUNNING, reason: 'the student started (LDS)' }));
        }
        return;
      }
      case ExternalEventType.LDS_SESSION_ENDED: {
        if (s.userSession?.externalId !== e.data.ldsSessionId) return;
        if (s.status !== S.INSTANTIATING && s.status !== S.READY && s.status !== S.RUNNING) return;
        const status = e.data.reason === 'timeout' ? 'EXPIRED' : 'ENDED';
        if (s.userSession.status !== status) {
          await client.request(LcUpsertUserSessionDocument, { sessionId: s.id, input: { status } });
        }
        if (s.status === S.RUNNING) {
          await swallowMoveConflicts(
            client.request(LcAdvanceDocument, { id: s.id, to: S.COLLECTING, reason: `the student finished (LDS: ${e.data.reason})` }),
          );
        }
        return;
      }
      case ExternalEventType.GRADING_SESSION_COMPLETED: {
        // Before GRADING (the engine may finish before the session is moved there) the reconcile's
        // poll of the engine publishes the report; after it, there is nothing left to do.
        if (s.status !== S.GRADING || s.scoreReport) return;
        if (s.gradingSession?.externalId && s.gradingSession.externalId !== e.data.gradingSessionId) return;
        await publishReport(this.deps, s, e.data.gradingSessionId, e.data.scoreReport);
        return;
      }
      case ExternalEventType.GRADING_SESSION_FAILED: {
        if (s.status !== S.GRADING || s.scoreReport) return;
        if (s.gradingSession?.externalId !== e.data.gradingSessionId || s.gradingSession.status === 'FAULTED') return;
        await client.request(LcUpsertGradingSessionDocument, { sessionId: s.id, input: { status: 'FAULTED', faultReason: e.data.reason } });
        return;
      }
    }
  }
}
