import type { CollectionSpec, DocumentStore, Storage } from '../../../core/persistence/document-store.ts';
import type { WorkerTemplate } from '../domain/model.ts';

/** The worker templates collection: one template per name. */
export const WORKER_TEMPLATES_COLLECTION: CollectionSpec = {
  name: 'worker_templates',
  indexes: [{ fields: ['name'], unique: true, description: 'name' }],
};

/** Worker templates on the document store (a small collection: listings read it whole). */
export class WorkerTemplateRepository {
  private readonly store: DocumentStore<WorkerTemplate>;

  constructor(storage: Storage) {
    this.store = storage.collection<WorkerTemplate>(WORKER_TEMPLATES_COLLECTION);
  }

  /** Insert a new template. CONFLICT when one of the same name exists. */
  insert(template: WorkerTemplate): Promise<void> {
    return this.store.insert(template);
  }

  save(template: WorkerTemplate): Promise<void> {
    return this.store.replace(template, template.revision - 1);
  }

  findByName(name: string): Promise<WorkerTemplate | undefined> {
    return this.store.findOne([{ field: 'name', op: 'eq', value: name }]);
  }

  /** Templates with these names, in one round trip (missing names skipped). */
  findByNames(names: readonly string[]): Promise<WorkerTemplate[]> {
    if (names.length === 0) return Promise.resolve([]);
    return this.store.find([{ field: 'name', op: 'in', value: [...new Set(names)] }]);
  }

  /** Every template, by name. */
  async list(): Promise<WorkerTemplate[]> {
    const all = await this.store.find([]);
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  count(): Promise<number> {
    return this.store.count([]);
  }
}
