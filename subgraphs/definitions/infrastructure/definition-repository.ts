import type { CollectionSpec, Condition, DocumentStore, Page, PageRequest, Storage } from '../../../core/persistence/document-store.ts';
import type { Definition } from '../domain/model.ts';

export interface DefinitionFilter {
  name?: string | null;
  statuses?: readonly string[] | null;
}

export const DEFINITIONS_COLLECTION: CollectionSpec = {
  name: 'definitions',
  indexes: [
    { fields: ['name', 'version'], unique: true, description: 'name and version' },
    { fields: ['status'] },
  ],
};

/** Definitions on the document store: unique (name, version), indexed status. */
export class DefinitionRepository {
  private readonly store: DocumentStore<Definition>;

  constructor(storage: Storage) {
    this.store = storage.collection<Definition>(DEFINITIONS_COLLECTION);
  }

  insert(def: Definition): Promise<void> {
    return this.store.insert(def);
  }

  save(def: Definition): Promise<void> {
    return this.store.replace(def, def.revision - 1);
  }

  get(id: string): Promise<Definition | undefined> {
    return this.store.get(id);
  }

  getMany(ids: readonly string[]): Promise<Definition[]> {
    return this.store.getMany(ids);
  }

  findByNameAndVersion(name: string, version: string): Promise<Definition | undefined> {
    return this.store.findOne([
      { field: 'name', op: 'eq', value: name },
      { field: 'version', op: 'eq', value: version },
    ]);
  }

  page(filter: DefinitionFilter, page: PageRequest): Promise<Page<Definition>> {
    const c: Condition[] = [];
    if (filter.name) c.push({ field: 'name', op: 'eq', value: filter.name });
    if (filter.statuses?.length) c.push({ field: 'status', op: 'in', value: filter.statuses });
    return this.store.page(c, page);
  }
}
