import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import type { SubgraphName } from '../../schema/subgraphs.ts';
import { serveSubgraph, subgraphKit } from '../../core/subgraph/serve.ts';
import { DefinitionService, PROJECTION_REPAIR_MS } from './application/definition-service.ts';
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
  await service.republishProjections(deps.coordination);
  // Projections are written after the save, best effort: repair the ones a failed write left missing.
  const repair = setInterval(() => {
    service.republishProjections(deps.coordination).then(
      (n) => n > 0 && deps.logger.warn({ repaired: n }, 'definition projections were missing; written again'),
      (err: unknown) => deps.logger.warn({ err }, 'definition projections: repair failed; next round retries'),
    );
  }, PROJECTION_REPAIR_MS);
  repair.unref();
  const server = await serveSubgraph(kit, deps, resolvers, (identity) => createContext(identity, service), options);
  return {
    ...server,
    async close() {
      clearInterval(repair);
      await server.close();
    },
  };
}
