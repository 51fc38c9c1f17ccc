import { ChangePublisher } from '../../core/subgraph/change-publisher.ts';
import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import { startSubgraphServer, type SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { subgraphSdl } from '../../schema/subgraphs.ts';
import { SessionService } from './application/session-service.ts';
import { createContext } from './context.ts';
import { DefinitionReader } from './infrastructure/definition-reader.ts';
import { SessionRepository } from './infrastructure/session-repository.ts';
import { resolvers } from './resolvers.ts';

export const SUBGRAPH_NAME = 'sessions';

/** Composition root of the sessions subgraph. */
export async function startSessionsSubgraph(deps: SubgraphDeps, options: { port?: number; host?: string } = {}): Promise<SubgraphServer> {
  const registry = createMetricsRegistry(false, { subgraph: SUBGRAPH_NAME });
  const repo = new SessionRepository(deps.storage);
  const definitions = new DefinitionReader(deps.storage);
  await deps.storage.ensureIndexes();
  const service = new SessionService(
    repo,
    definitions,
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
