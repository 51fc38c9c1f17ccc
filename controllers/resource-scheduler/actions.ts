/**
 * The resource-scheduler's I/O: what it reads (GraphQL queries on /internal/graphql) and the actions
 * reconcile.ts asks for (GraphQL mutations). Every action is idempotent or checked, so a retry or a
 * second replica can only repeat a step, never double it.
 */
import { randomUUID } from 'node:crypto';
import { LabletSessionStatus } from '../../core/domain/enums.ts';
import type { TemplateOffer } from '../../core/domain/scheduling.ts';
import { ErrorCode } from '../../core/errors.ts';
import { GraphQLRequestError, type GraphQLClient } from '../../core/graphql/client.ts';
import type { Logger } from '../../core/logging.ts';
import type { ActionOutcome } from '../kit/metrics.ts';
import { listAll } from '../kit/sources.ts';
import {
  RsEndedSessionDocument,
  RsLiveSessionsDocument,
  RsPendingSessionsDocument,
  RsReleaseDocument,
  RsRequestWorkerDocument,
  RsReserveDocument,
  RsScheduleDocument,
  RsSessionDocument,
  RsTemplatesDocument,
  RsTerminateDocument,
  RsWorkersDocument,
  type RsWorkerFragment,
} from './__generated__/operations.ts';
import {
  demandOf,
  teardownDone,
  type CycleAction,
  type ObservedEndedSession,
  type ObservedLiveSession,
  type ObservedPendingSession,
  type ObservedWorker,
  type SweepAction,
} from './reconcile.ts';

const PAGE = 500;
/** Statuses from which a session never comes back (not listed by RsLiveSessions). */
const ENDED: ReadonlySet<LabletSessionStatus> = new Set([LabletSessionStatus.STOPPED, LabletSessionStatus.ARCHIVED, LabletSessionStatus.TERMINATED]);

const codeOf = (e: unknown): string | undefined => (e instanceof GraphQLRequestError ? e.code : undefined);
/** The world refused the step (someone changed it first, or the move is not allowed any more). */
const refused = (e: unknown): boolean => {
  const code = codeOf(e);
  return code === ErrorCode.CONFLICT || code === ErrorCode.INVALID_TRANSITION || code === ErrorCode.NOT_FOUND;
};

export function toObservedWorker(w: RsWorkerFragment): ObservedWorker {
  return {
    id: w.id,
    status: w.status,
    desiredStatus: w.desiredStatus,
    templateName: w.templateName,
    licenseType: w.licenseType,
    cmlVersion: w.cmlVersion,
    nodeDefinitions: w.nodeDefinitions,
    declaredCapacity: w.declaredCapacity,
    reservations: w.reservations.map((r) => ({ sessionId: r.sessionId, capacity: r.capacity, ports: r.ports, reservedAt: new Date(r.reservedAt) })),
  };
}

export class SchedulerActions {
  constructor(
    private readonly client: GraphQLClient,
    private readonly logger: Logger,
    private readonly record: (action: string, outcome: ActionOutcome) => void,
  ) {}

  // ----------------------------------------------------------------------------------------------
  // Reads

  workers(): Promise<ObservedWorker[]> {
    return listAll(async (after) => {
      const d = await this.client.request(RsWorkersDocument, { first: PAGE, ...(after ? { after } : {}) });
      return { nodes: d.workers.edges.map((e) => toObservedWorker(e.node)), hasNextPage: d.workers.pageInfo.hasNextPage, endCursor: d.workers.pageInfo.endCursor };
    });
  }

  async templates(): Promise<TemplateOffer[]> {
    const d = await this.client.request(RsTemplatesDocument, {});
    return d.workerTemplates.map((t) => ({ name: t.name, capacity: t.capacity, licenseType: t.licenseType, costPerHour: t.costPerHour, enabled: t.enabled }));
  }

  pendingSessions(): Promise<ObservedPendingSession[]> {
    return listAll(async (after) => {
      const d = await this.client.request(RsPendingSessionsDocument, { first: PAGE, ...(after ? { after } : {}) });
      return { nodes: d.sessions.edges.map((e) => demandOf(e.node)), hasNextPage: d.sessions.pageInfo.hasNextPage, endCursor: d.sessions.pageInfo.endCursor };
    });
  }

  liveSessions(): Promise<ObservedLiveSession[]> {
    return listAll(async (after) => {
      const d = await this.client.request(RsLiveSessionsDocument, { first: PAGE, ...(after ? { after } : {}) });
      return {
        nodes: d.sessions.edges.map(({ node: n }) => ({ id: n.id, status: n.status, revision: n.revision, workerId: n.worker?.id ?? null })),
        hasNextPage: d.sessions.pageInfo.hasNextPage,
        endCursor: d.sessions.pageInfo.endCursor,
      };
    });
  }

  /**
   * A reservation holder that was not listed live: how it ended (null: it does not exist). One found
   * live after all (a listing race) comes back as a live session, which the sweep treats as such.
   */
  async endedSession(id: string): Promise<ObservedEndedSession | ObservedLiveSession | null> {
    let s;
    try {
      s = (await this.client.request(RsEndedSessionDocument, { id })).session;
    } catch (e) {
      if (codeOf(e) === ErrorCode.NOT_FOUND) return null;
      throw e;
    }
    if (!s) return null;
    const workerId = s.worker?.id ?? null;
    if (!ENDED.has(s.status)) return { id: s.id, status: s.status, revision: 0, workerId };
    const entered = [...s.statusHistory].reverse().find((t) => t.to === s.status)?.at ?? s.endedAt ?? s.updatedAt;
    return { id: s.id, status: s.status, workerId, teardownDone: teardownDone(s.pipelineProgress), endedAt: entered ? new Date(entered) : null };
  }

  // ----------------------------------------------------------------------------------------------
  // Cycle actions

  /** Run one action of a cycle; true when it changed the world as asked. */
  async runCycleAction(a: CycleAction): Promise<boolean> {
    switch (a.kind) {
      case 'bind':
        return this.bind(a);
      case 'request-worker':
        return this.requestWorker(a.templateName, a.reason);
      case 'terminate':
        return this.terminate(a.sessionId, a.reason);
    }
  }

  /**
   * Bind a session to a worker: reserve (one conditional write on the worker: capacity + ports;
   * idempotent per session), then schedule the session with the ports the worker gave. If scheduling
   * fails, release — unless the session is placed on that worker after all (a concurrent or earlier
   * bind won): releasing then would leave it placed without its reservation.
   */
  private async bind(a: Extract<CycleAction, { kind: 'bind' }>): Promise<boolean> {
    let ports: Array<{ name: string; port: number }>;
    try {
      const r = await this.client.request(RsReserveDocument, {
        input: { workerId: a.workerId, sessionId: a.sessionId, capacity: a.capacity, portNames: [...a.portNames], licenseAffinity: [...a.licenseAffinity] },
      });
      ports = r.reserveCapacity.ports;
    } catch (e) {
      if (!refused(e)) throw e;
      this.record('reserve', 'conflict');
      this.logger.info({ sessionId: a.sessionId, workerId: a.workerId, err: (e as Error).message }, 'worker refused the reservation; replanning');
      return false;
    }
    this.record('reserve', 'ok');
    try {
      await this.client.request(RsScheduleDocument, { input: { id: a.sessionId, workerId: a.workerId, allocatedPorts: ports, expectedRevision: a.revision } });
      this.record('schedule', 'ok');
      this.logger.info({ sessionId: a.sessionId, workerId: a.workerId, ports }, 'session scheduled');
      return true;
    } catch (e) {
      this.record('schedule', refused(e) ? 'conflict' : 'error');
      await this.releaseUnlessPlaced(a.workerId, a.sessionId, `scheduling failed: ${(e as Error).message}`);
      if (!refused(e)) throw e;
      return false;
    }
  }

  private async releaseUnlessPlaced(workerId: string, sessionId: string, why: string): Promise<void> {
    const d = await this.client.request(RsSessionDocument, { id: sessionId });
    const s = d.session;
    // Placed on that worker (in any status, TERMINATED included): the session's reservation now, which
    // the lablet-controller's teardown releases (the sweep is the safety net).
    if (s && s.status !== LabletSessionStatus.PENDING && s.worker?.id === workerId) return;
    await this.release(workerId, sessionId, why);
  }

  /**
   * A new PENDING worker. The request key makes the mutation idempotent across the client's retries
   * of this one request; the next cycle counts the worker as capacity coming up, so it is not asked
   * for again.
   */
  private async requestWorker(templateName: string, reason: string): Promise<boolean> {
    try {
      const d = await this.client.request(RsRequestWorkerDocument, { input: { templateName, reason, requestKey: `resource-scheduler:${randomUUID()}` } });
      this.record('request-worker', 'ok');
      this.logger.info({ workerId: d.requestWorker.id, templateName, reason }, 'worker requested');
      return true;
    } catch (e) {
      this.record('request-worker', refused(e) ? 'conflict' : 'error');
      throw e;
    }
  }

  private async terminate(sessionId: string, reason: string): Promise<boolean> {
    try {
      await this.client.request(RsTerminateDocument, { id: sessionId, reason });
      this.record('terminate', 'ok');
      this.logger.warn({ sessionId, reason }, 'PENDING session terminated');
      return true;
    } catch (e) {
      if (!refused(e)) throw e;
      this.record('terminate', 'conflict');
      return false;
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Sweep actions

  async runSweepAction(a: SweepAction): Promise<boolean> {
    if (a.kind === 'release') {
      await this.release(a.workerId, a.sessionId, a.reason, a.cause === 'teardown-grace' ? 'warn' : 'info');
      return true;
    }
    try {
      await this.client.request(RsScheduleDocument, { input: { id: a.sessionId, workerId: a.workerId, allocatedPorts: a.ports, expectedRevision: a.revision } });
      this.record('resume', 'ok');
      this.logger.info({ sessionId: a.sessionId, workerId: a.workerId }, 'resumed an interrupted bind: session scheduled on its reservation');
      return true;
    } catch (e) {
      this.record('resume', refused(e) ? 'conflict' : 'error');
      if (codeOf(e) === ErrorCode.BAD_USER_INPUT) {
        await this.releaseUnlessPlaced(a.workerId, a.sessionId, `resume refused: ${(e as Error).message}`);
        return false;
      }
      if (!refused(e)) throw e;
      return false;
    }
  }

  async release(workerId: string, sessionId: string, reason: string, level: 'info' | 'warn' = 'info'): Promise<void> {
    try {
      await this.client.request(RsReleaseDocument, { workerId, sessionId });
      this.record('release', 'ok');
      this.logger[level]({ workerId, sessionId, reason }, 'reservation released');
    } catch (e) {
      if (codeOf(e) === ErrorCode.NOT_FOUND) {
        this.record('release', 'skipped');
        return;
      }
      this.record('release', 'error');
      throw e;
    }
  }
}
