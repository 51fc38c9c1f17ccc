import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import type { SubgraphName } from '../../schema/subgraphs.ts';
import { serveSubgraph, subgraphKit } from '../../core/subgraph/serve.ts';
import { PROJECTION_REPAIR_MS, SessionService } from './application/session-service.ts';
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
  // Status projections are written after the save, best effort: repair the ones left behind.
  let round: Promise<unknown> | undefined;
  const republish = () =>
    (round ??= service
      .republishProjections(deps.coordination)
      .then(
        (n) => n > 0 && deps.logger.warn({ repaired: n }, 'session status projections were behind; written again'),
        (err: unknown) => deps.logger.warn({ err }, 'session status projections: repair failed; next round retries'),
      )
      .finally(() => (round = undefined)));
  await republish();
  const repair = setInterval(() => void republish(), PROJECTION_REPAIR_MS);
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
