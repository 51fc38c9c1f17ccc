import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import type { SubgraphName } from '../../schema/subgraphs.ts';
import { serveSubgraph, subgraphKit } from '../../core/subgraph/serve.ts';
import { ScoreReportService } from './application/score-report-service.ts';
import { createContext } from './context.ts';
import { ScoreReportRepository } from './infrastructure/score-report-repository.ts';
import { CoordinationSessionStatusReader } from './infrastructure/session-status-reader.ts';
import { resolvers } from './resolvers.ts';

export const SUBGRAPH_NAME: SubgraphName = 'score-reports';

/** Composition root of the score-reports subgraph. */
export async function startScoreReportsSubgraph(deps: SubgraphDeps, options: { port?: number; host?: string } = {}): Promise<SubgraphServer> {
  const kit = subgraphKit(SUBGRAPH_NAME, deps);
  const repo = new ScoreReportRepository(deps.storage);
  await deps.storage.ensureIndexes();
  const service = new ScoreReportService(
    repo,
    new CoordinationSessionStatusReader(deps.coordination),
    kit.publisher,
    deps.bus,
    deps.clock,
  );
  return serveSubgraph(kit, deps, resolvers, (identity) => createContext(identity, service), options);
}
