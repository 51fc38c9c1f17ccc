import DataLoader from 'dataloader';
import type { Identity } from '../../core/auth/identity.ts';
import type { DefinitionService } from './application/definition-service.ts';
import type { Definition } from './domain/model.ts';

/** Per-operation context: the caller and request-scoped DataLoaders. */
export interface Context {
  identity: Identity;
  service: DefinitionService;
  definitionById: DataLoader<string, Definition | null>;
}

export function createContext(identity: Identity, service: DefinitionService): Context {
  return {
    identity,
    service,
    definitionById: new DataLoader(async (ids) => {
      const found = new Map((await service.getMany(identity, ids)).map((d) => [d.id, d]));
      return ids.map((id) => found.get(id) ?? null);
    }),
  };
}
