import { DEFINITIONS_COLLECTION, type DefinitionReadModel } from '../../../core/read-models/definition.ts';
import type { DocumentStore, Storage } from '../../../core/persistence/document-store.ts';

/**
 * Read-only access to the definitions the definitions subgraph writes (same database): the sessions
 * subgraph checks that a definition exists and is ACTIVE when a session is created, and snapshots its
 * version. It never writes them.
 */
export class DefinitionReader {
  private readonly store: Pick<DocumentStore<DefinitionReadModel>, 'get'>;

  constructor(storage: Storage) {
    this.store = storage.collection<DefinitionReadModel>(DEFINITIONS_COLLECTION);
  }

  get(id: string): Promise<DefinitionReadModel | undefined> {
    return this.store.get(id);
  }
}
