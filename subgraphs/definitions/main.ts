import type { RoleOptions, Stoppable } from '../../cli/main.ts';
import { createLogger } from '../../core/logging.ts';
import { subgraphDepsFromEnv } from '../../core/subgraph/deps.ts';
import { DEFAULT_SUBGRAPH_PORTS } from '../../schema/subgraphs.ts';
import { SUBGRAPH_NAME, startDefinitionsSubgraph } from './server.ts';

/** `lcm subgraph definitions [--port N]`. */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const logger = createLogger(`subgraph-${SUBGRAPH_NAME}`);
  const deps = await subgraphDepsFromEnv({ logger });
  const server = await startDefinitionsSubgraph(deps, {
    port: options.port ?? DEFAULT_SUBGRAPH_PORTS[SUBGRAPH_NAME],
    host: typeof options.host === 'string' ? options.host : '127.0.0.1',
  });
  return {
    banner: [`definitions subgraph listening on ${server.graphqlUrl} (storage: ${deps.storage.kind})`],
    async stop() {
      await server.close();
      await deps.close();
    },
  };
}
