import { actorOf, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import { EventTopic } from '../../../core/events/cloudevent.ts';
import { LabletSessionStatus } from '../../../core/domain/enums.ts';
import { badInput, conflict, ErrorCode, isLcmError, notFound } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Page, PageRequest } from '../../../core/persistence/document-store.ts';
import { subscribeIterator, type EventBus } from '../../../core/ports/event-bus.ts';
import type { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { reviveScoreReport, type ScoreReport } from '../domain/model.ts';
import { createScoreReport, type NewScoreReport } from '../domain/score-report.ts';
import { ScoreReportEventType } from './score-report-events.ts';
import type { SessionStatusReader } from '../infrastructure/session-status-reader.ts';
import {
  ONE_REPORT_PER_SESSION,
  type ScoreReportFilter,
  type ScoreReportRepository,
} from '../infrastructure/score-report-repository.ts';


/** Use cases of the score-reports subgraph: authorise → aggregate → insert once → publish. */
export class ScoreReportService {
  constructor(
    private readonly repo: ScoreReportRepository,
    private readonly sessions: SessionStatusReader,
    private readonly publisher: ChangePublisher,
    private readonly bus: EventBus,
    private readonly clock: () => Date,
  ) {}

  /**
   * Publish a session's report. Idempotent per session: when the session already has a report (also
   * when a concurrent call inserted it first), that report is returned and no second event is sent.
   * A new report is accepted only for a session in GRADING, of the definition the report names.
   */
  async publish(identity: Identity | undefined, input: NewScoreReport): Promise<ScoreReport> {
    const who = requireScope(identity, Scope.INTERNAL);
    const now = this.clock();
    const report = createScoreReport(input, newId('rep', now.getTime()), now);
    const existing = await this.repo.findBySession(report.sessionId);
    if (existing) return existing;
    const session = await this.sessions.get(report.sessionId);
    if (!session) throw notFound('LabletSession', report.sessionId);
    if (session.status !== LabletSessionStatus.GRADING) {
      throw conflict(`LabletSession ${report.sessionId} is ${session.status}; a score report is published only for a session in GRADING`, {
        sessionId: report.sessionId,
        status: session.status,
      });
    }
    if (session.definitionId !== report.definitionId) {
      throw badInput('input.definitionId', `LabletSession ${report.sessionId} is of definition ${session.definitionId}, not ${report.definitionId}`);
    }
    try {
      await this.repo.insert(report);
    } catch (e) {
      if (isLcmError(e) && e.code === ErrorCode.CONFLICT && e.details.index === ONE_REPORT_PER_SESSION) {
        const winner = await this.repo.findBySession(report.sessionId);
        if (winner) return winner;
      }
      throw e;
    }
    await this.publisher.publish({
      topic: EventTopic.scoreReport,
      type: ScoreReportEventType.published,
      subject: report.id,
      data: report,
      revision: report.revision,
      actor: actorOf(who),
      projections: [],
    });
    return report;
  }

  // -------------------------------------------------------------------------------------------------
  // Queries (scope `read`)

  async get(identity: Identity | undefined, id: string): Promise<ScoreReport | undefined> {
    requireScope(identity, Scope.READ);
    return this.repo.get(id);
  }

  /** Reports by id in one round trip (entity references). */
  async getMany(identity: Identity | undefined, ids: readonly string[]): Promise<ScoreReport[]> {
    requireScope(identity, Scope.READ);
    return this.repo.getMany(ids);
  }

  /** The reports of N sessions in one round trip (`LabletSession.scoreReport`). */
  async reportsOfSessions(identity: Identity | undefined, sessionIds: readonly string[]): Promise<ScoreReport[]> {
    requireScope(identity, Scope.READ);
    return this.repo.findBySessions(sessionIds);
  }

  async page(identity: Identity | undefined, filter: ScoreReportFilter, page: PageRequest): Promise<Page<ScoreReport>> {
    requireScope(identity, Scope.READ);
    return this.repo.page(filter, page);
  }

  /** Every report published from now on, or after `after` (an event cursor; see `EventBus`), from every replica. */
  published(identity: Identity | undefined, after?: string | null): AsyncIterableIterator<ScoreReport> {
    requireScope(identity, Scope.READ);
    return subscribeIterator(
      this.bus,
      EventTopic.scoreReport,
      (event) => (event.type === ScoreReportEventType.published ? reviveScoreReport(event.data) : undefined),
      { after },
    );
  }
}
