import type { RoleOptions, Stoppable } from '../role.ts';
import type { SubgraphServer } from '../graphql/subgraph-server.ts';
import { env } from '../config.ts';
import { createLogger } from '../logging.ts';
import { DEFAULT_SUBGRAPH_PORTS, type SubgraphName } from '../../schema/subgraphs.ts';
import { subgraphDepsFromEnv, type SubgraphDeps } from './deps.ts';

/**
 * `lcm subgraph <name> [--port N] [--host H]`: dependencies from the environment (MongoDB or memory,
 * etcd or in-process), the subgraph on its port (default 4001–4004), a clean stop.
 */
export async function runSubgraph(
  name: SubgraphName,
  start: (deps: SubgraphDeps, options: { port: number; host: string }) => Promise<SubgraphServer>,
  options: RoleOptions,
): Promise<Stoppable> {
  const config = env();
  const logger = createLogger(`subgraph-${name}`, config.LCM_LOG_LEVEL);
  const deps = await subgraphDepsFromEnv({ logger, config });
  let server: SubgraphServer;
  try {
    server = await start(deps, {
      port: options.port ?? DEFAULT_SUBGRAPH_PORTS[name],
      host: typeof options.host === 'string' ? options.host : '127.0.0.1',
    });
  } catch (e) {
    await deps.close();
    throw e;
  }
  return {
    banner: [`${name} subgraph listening on ${server.graphqlUrl} (storage: ${deps.storage.kind}${deps.coordination ? ', etcd' : ''})`],
    async stop() {
      await server.close();
      await deps.close();
    },
  };
}
