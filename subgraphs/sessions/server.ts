import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import type { SubgraphName } from '../../schema/subgraphs.ts';
import { closingRepair, startProjectionRepair } from '../../core/subgraph/projection-repair.ts';
import { serveSubgraph, subgraphKit } from '../../core/subgraph/serve.ts';
import { SessionService } from './application/session-service.ts';
import { createContext } from './context.ts';
import { DefinitionReader } from './infrastructure/definition-reader.ts';
import { SessionRepository } from './infrastructure/session-repository.ts';
import { resolvers } from './resolvers.ts';

export const SUBGRAPH_NAME: SubgraphName = 'sessions';

/** Composition root of the sessions subgraph. */
export async function startSessionsSubgraph(deps: SubgraphDeps, options: { port?: number; host?: string } = {}): Promise<SubgraphServer> {
  const kit = subgraphKit(SUBGRAPH_NAME, deps);
  const repo = new SessionRepository(deps.storage);
  const definitions = new DefinitionReader(deps.coordination);
  await deps.storage.ensureIndexes();
  const service = new SessionService(
    repo,
    definitions,
    kit.publisher,
    deps.bus,
    deps.clock,
  );
  const repair = startProjectionRepair({ what: 'session status projections', logger: deps.logger, repair: () => service.republishProjections(deps.coordination) });
  await repair.first;
  const server = await serveSubgraph(kit, deps, resolvers, (identity) => createContext(identity, service), options);
  return closingRepair(server, repair);
}
