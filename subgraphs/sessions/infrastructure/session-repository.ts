import type { LabletSessionStatus } from '../../../core/domain/enums.ts';
import type { CollectionSpec, Condition, DocumentStore, Page, PageRequest, Storage } from '../../../core/persistence/document-store.ts';
import type { Session } from '../domain/model.ts';

/** The sessions collection: one document per session, children embedded (ADR 0005). */
export const SESSIONS_COLLECTION: CollectionSpec = {
  name: 'sessions',
  indexes: [{ fields: ['status'] }, { fields: ['owner'] }, { fields: ['definitionId'] }, { fields: ['workerId'] }],
};

export interface SessionFilter {
  statuses?: readonly LabletSessionStatus[] | null;
  owner?: string | null;
  definitionId?: string | null;
  workerId?: string | null;
}

/** Sessions on the document store. Every change is one conditional replace on the read revision. */
export class SessionRepository {
  private readonly store: DocumentStore<Session>;

  constructor(storage: Storage) {
    this.store = storage.collection<Session>(SESSIONS_COLLECTION);
  }

  insert(session: Session): Promise<void> {
    return this.store.insert(session);
  }

  /** Save `next` if the stored revision is still `next.revision - 1` (CONFLICT otherwise). */
  save(next: Session): Promise<void> {
    return this.store.replace(next, next.revision - 1);
  }

  get(id: string): Promise<Session | undefined> {
    return this.store.get(id);
  }

  getMany(ids: readonly string[]): Promise<Session[]> {
    return this.store.getMany(ids);
  }

  /** Sessions on any of `workerIds` in any of `statuses`: one query, sorted by id. */
  findOnWorkers(workerIds: readonly string[], statuses: readonly LabletSessionStatus[]): Promise<Session[]> {
    return this.store.find([
      { field: 'workerId', op: 'in', value: workerIds },
      { field: 'status', op: 'in', value: statuses },
    ]);
  }

  page(filter: SessionFilter, page: PageRequest): Promise<Page<Session>> {
    const c: Condition[] = [];
    if (filter.statuses?.length) c.push({ field: 'status', op: 'in', value: filter.statuses });
    if (filter.owner) c.push({ field: 'owner', op: 'eq', value: filter.owner });
    if (filter.definitionId) c.push({ field: 'definitionId', op: 'eq', value: filter.definitionId });
    if (filter.workerId) c.push({ field: 'workerId', op: 'eq', value: filter.workerId });
    return this.store.page(c, page);
  }
}
