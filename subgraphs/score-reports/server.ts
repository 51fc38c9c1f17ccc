import { ChangePublisher } from '../../core/subgraph/change-publisher.ts';
import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import { startSubgraphServer, type SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { subgraphSdl } from '../../schema/subgraphs.ts';
import { ScoreReportService } from './application/score-report-service.ts';
import { createContext } from './context.ts';
import { ScoreReportRepository } from './infrastructure/score-report-repository.ts';
import { resolvers } from './resolvers.ts';

export const SUBGRAPH_NAME = 'score-reports';

/** Composition root of the score-reports subgraph. */
export async function startScoreReportsSubgraph(deps: SubgraphDeps, options: { port?: number; host?: string } = {}): Promise<SubgraphServer> {
  const registry = createMetricsRegistry(false, { subgraph: SUBGRAPH_NAME });
  const repo = new ScoreReportRepository(deps.storage);
  await deps.storage.ensureIndexes();
  const service = new ScoreReportService(
    repo,
    new ChangePublisher(`/lcm/subgraphs/${SUBGRAPH_NAME}`, deps.bus, deps.coordination, deps.logger, registry),
    deps.bus,
    deps.clock,
  );
  return startSubgraphServer({
    name: SUBGRAPH_NAME,
    typeDefs: subgraphSdl(SUBGRAPH_NAME),
    resolvers,
    signer: deps.signer,
    logger: deps.logger,
    registry,
    context: (identity) => createContext(identity, service),
    readiness: async () => {
      try {
        await deps.storage.ping();
        return [];
      } catch (e) {
        return [`storage: ${(e as Error).message}`];
      }
    },
    ...options,
  });
}
