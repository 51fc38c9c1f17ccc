import type { CollectionSpec, Condition, DocumentStore, Page, PageRequest, Storage } from '../../../core/persistence/document-store.ts';
import type { WorkerStatus } from '../../../core/domain/enums.ts';
import type { Worker } from '../domain/model.ts';

/** The workers collection: an index for every filter, and the request key unique where present. */
export const WORKERS_COLLECTION: CollectionSpec = {
  name: 'workers',
  indexes: [
    { fields: ['status'] },
    { fields: ['templateName'] },
    { fields: ['requestKey'], unique: true, sparse: true, description: 'request key' },
  ],
};

export interface WorkerFilter {
  statuses?: readonly WorkerStatus[] | null;
  templateName?: string | null;
}

/** Workers on the document store. `save` is the one conditional write every change goes through. */
export class WorkerRepository {
  private readonly store: DocumentStore<Worker>;

  constructor(storage: Storage) {
    this.store = storage.collection<Worker>(WORKERS_COLLECTION);
  }

  /** Insert a new worker. CONFLICT on a duplicate request key. */
  insert(worker: Worker): Promise<void> {
    return this.store.insert(worker);
  }

  /** Replace the worker if it is still at the revision before this change (CONFLICT otherwise). */
  save(worker: Worker): Promise<void> {
    return this.store.replace(worker, worker.revision - 1);
  }

  get(id: string): Promise<Worker | undefined> {
    return this.store.get(id);
  }

  getMany(ids: readonly string[]): Promise<Worker[]> {
    return this.store.getMany(ids);
  }

  findByRequestKey(requestKey: string): Promise<Worker | undefined> {
    return this.store.findOne([{ field: 'requestKey', op: 'eq', value: requestKey }]);
  }

  page(filter: WorkerFilter, page: PageRequest): Promise<Page<Worker>> {
    const c: Condition[] = [];
    if (filter.statuses?.length) c.push({ field: 'status', op: 'in', value: filter.statuses });
    if (filter.templateName) c.push({ field: 'templateName', op: 'eq', value: filter.templateName });
    return this.store.page(c, page);
  }
}
