import DataLoader from 'dataloader';
import type { Identity } from '../../core/auth/identity.ts';
import type { ScoreReportService } from './application/score-report-service.ts';
import type { ScoreReport } from './domain/model.ts';

/** Per-operation context: the caller and request-scoped DataLoaders. */
export interface Context {
  identity: Identity;
  service: ScoreReportService;
  /** Reports by id: N references, one `getMany`. */
  reportById: DataLoader<string, ScoreReport | null>;
  /** The report of a session: N sessions, one `find`. */
  reportBySession: DataLoader<string, ScoreReport | null>;
}

export function createContext(identity: Identity, service: ScoreReportService): Context {
  return {
    identity,
    service,
    reportById: new DataLoader(async (ids) => {
      const found = new Map((await service.getMany(identity, ids)).map((r) => [r.id, r]));
      return ids.map((id) => found.get(id) ?? null);
    }),
    reportBySession: new DataLoader(async (sessionIds) => {
      const found = new Map((await service.reportsOfSessions(identity, sessionIds)).map((r) => [r.sessionId, r]));
      return sessionIds.map((id) => found.get(id) ?? null);
    }),
  };
}
