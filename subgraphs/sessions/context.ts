import DataLoader from 'dataloader';
import type { Identity } from '../../core/auth/identity.ts';
import type { LabletSessionStatus } from '../../core/domain/enums.ts';
import { SESSION_HOLDS_CAPACITY } from '../../core/domain/session-state-machine.ts';
import type { SessionService } from './application/session-service.ts';
import type { Session } from './domain/model.ts';

/** Per-operation context: the caller and request-scoped DataLoaders. */
export interface Context {
  identity: Identity;
  service: SessionService;
  /** Sessions by id: N references, one `getMany`. */
  sessionById: DataLoader<string, Session | null>;
  /**
   * Sessions of a worker in the given statuses (default: those holding capacity there): the sessions
   * of N workers in one `find`. One loader per distinct status set.
   */
  sessionsOnWorker(statuses?: readonly LabletSessionStatus[] | null): DataLoader<string, Session[]>;
}

export function createContext(identity: Identity, service: SessionService): Context {
  const byStatuses = new Map<string, DataLoader<string, Session[]>>();
  return {
    identity,
    service,
    sessionById: new DataLoader(async (ids) => {
      const found = new Map((await service.getMany(identity, ids)).map((s) => [s.id, s]));
      return ids.map((id) => found.get(id) ?? null);
    }),
    sessionsOnWorker(statuses) {
      const wanted = [...new Set(statuses?.length ? statuses : SESSION_HOLDS_CAPACITY)].sort();
      const key = wanted.join(',');
      let loader = byStatuses.get(key);
      if (!loader) {
        loader = new DataLoader(async (workerIds) => {
          const byWorker = new Map<string, Session[]>(workerIds.map((id) => [id, []]));
          for (const s of await service.sessionsOnWorkers(identity, workerIds, wanted)) {
            if (s.workerId) byWorker.get(s.workerId)?.push(s);
          }
          return workerIds.map((id) => byWorker.get(id) ?? []);
        });
        byStatuses.set(key, loader);
      }
      return loader;
    },
  };
}
