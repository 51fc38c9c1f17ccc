import type { CollectionSpec, Condition, DocumentStore, Page, PageRequest, Storage } from '../../../core/persistence/document-store.ts';
import type { ScoreReport } from '../domain/model.ts';

/** Unique description of the one-report-per-session index (named in CONFLICT errors). */
export const ONE_REPORT_PER_SESSION = 'session';

/** The score reports collection: one report per session, indexed for the reporting filters. */
export const SCORE_REPORTS_COLLECTION: CollectionSpec = {
  name: 'score_reports',
  indexes: [
    { fields: ['sessionId'], unique: true, description: ONE_REPORT_PER_SESSION },
    { fields: ['definitionId'] },
    { fields: ['owner'] },
    { fields: ['passed'] },
    { fields: ['submittedAt'] },
  ],
};

export interface ScoreReportFilter {
  definitionId?: string | null;
  owner?: string | null;
  passed?: boolean | null;
  /** Inclusive. */
  submittedAfter?: Date | null;
  /** Exclusive. */
  submittedBefore?: Date | null;
}

/** Score reports on the document store. */
export class ScoreReportRepository {
  private readonly store: DocumentStore<ScoreReport>;

  constructor(storage: Storage) {
    this.store = storage.collection<ScoreReport>(SCORE_REPORTS_COLLECTION);
  }

  /** CONFLICT (index {@link ONE_REPORT_PER_SESSION}) when the session already has a report. */
  insert(report: ScoreReport): Promise<void> {
    return this.store.insert(report);
  }

  get(id: string): Promise<ScoreReport | undefined> {
    return this.store.get(id);
  }

  getMany(ids: readonly string[]): Promise<ScoreReport[]> {
    return this.store.getMany(ids);
  }

  findBySession(sessionId: string): Promise<ScoreReport | undefined> {
    return this.store.findOne([{ field: 'sessionId', op: 'eq', value: sessionId }]);
  }

  /** The reports of N sessions in one query. */
  findBySessions(sessionIds: readonly string[]): Promise<ScoreReport[]> {
    return this.store.find([{ field: 'sessionId', op: 'in', value: sessionIds }]);
  }

  page(filter: ScoreReportFilter, page: PageRequest): Promise<Page<ScoreReport>> {
    const c: Condition[] = [];
    if (filter.definitionId) c.push({ field: 'definitionId', op: 'eq', value: filter.definitionId });
    if (filter.owner) c.push({ field: 'owner', op: 'eq', value: filter.owner });
    if (filter.passed !== null && filter.passed !== undefined) c.push({ field: 'passed', op: 'eq', value: filter.passed });
    if (filter.submittedAfter) c.push({ field: 'submittedAt', op: 'gte', value: filter.submittedAfter });
    if (filter.submittedBefore) c.push({ field: 'submittedAt', op: 'lt', value: filter.submittedBefore });
    return this.store.page(c, page);
  }
}
