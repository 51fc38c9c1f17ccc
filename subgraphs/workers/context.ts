import DataLoader from 'dataloader';
import type { Identity } from '../../core/auth/identity.ts';
import type { WorkerService } from './application/worker-service.ts';
import type { WorkerTemplateService } from './application/worker-template-service.ts';
import type { Worker, WorkerTemplate } from './domain/model.ts';

/** Per-operation context: the caller, the use cases (`service`, and `templates`), and request-scoped DataLoaders. */
export interface Context {
  identity: Identity;
  service: WorkerService;
  templates: WorkerTemplateService;
  /** Workers by id: N entity references cost one database round trip. */
  workerById: DataLoader<string, Worker | null>;
  /** Templates by name: N entity references cost one database round trip. */
  templateByName: DataLoader<string, WorkerTemplate | null>;
}

export function createContext(identity: Identity, service: WorkerService, templates: WorkerTemplateService): Context {
  return {
    identity,
    service,
    templates,
    workerById: new DataLoader(async (ids) => {
      const found = new Map((await service.getMany(identity, ids)).map((w) => [w.id, w]));
      return ids.map((id) => found.get(id) ?? null);
    }),
    templateByName: new DataLoader(async (names) => {
      const found = new Map((await templates.findByNames(identity, names)).map((t) => [t.name, t]));
      return names.map((name) => found.get(name) ?? null);
    }),
  };
}
