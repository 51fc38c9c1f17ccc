import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import type { SubgraphName } from '../../schema/subgraphs.ts';
import { closingRepair, startProjectionRepair } from '../../core/subgraph/projection-repair.ts';
import { serveSubgraph, subgraphKit } from '../../core/subgraph/serve.ts';
import { DefinitionService } from './application/definition-service.ts';
import { createContext } from './context.ts';
import { DefinitionRepository } from './infrastructure/definition-repository.ts';
import { resolvers } from './resolvers.ts';

export const SUBGRAPH_NAME: SubgraphName = 'definitions';

/** Composition root of the definitions subgraph. */
export async function startDefinitionsSubgraph(deps: SubgraphDeps, options: { port?: number; host?: string } = {}): Promise<SubgraphServer> {
  const kit = subgraphKit(SUBGRAPH_NAME, deps);
  const repo = new DefinitionRepository(deps.storage);
  await deps.storage.ensureIndexes();
  const service = new DefinitionService(
    repo,
    kit.publisher,
    deps.clock,
  );
  const repair = startProjectionRepair({ what: 'definition projections', logger: deps.logger, repair: () => service.republishProjections(deps.coordination) });
  await repair.first;
  const server = await serveSubgraph(kit, deps, resolvers, (identity) => createContext(identity, service), options);
  return closingRepair(server, repair);
}
