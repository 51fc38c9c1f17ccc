import type { RoleOptions, Stoppable } from '../../cli/main.ts';
import { createLogger } from '../../core/logging.ts';
import { subgraphDepsFromEnv } from '../../core/subgraph/deps.ts';
import { DEFAULT_SUBGRAPH_PORTS } from '../../schema/subgraphs.ts';
import { SUBGRAPH_NAME, startWorkersSubgraph } from './server.ts';

/** `lcm subgraph workers [--port N]`. */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const logger = createLogger(`subgraph-${SUBGRAPH_NAME}`);
  const deps = await subgraphDepsFromEnv({ logger });
  try {
    const server = await startWorkersSubgraph(deps, { port: options.port ?? DEFAULT_SUBGRAPH_PORTS[SUBGRAPH_NAME] });
    return {
      banner: [`workers subgraph listening on ${server.graphqlUrl} (storage: ${deps.storage.kind})`],
      async stop() {
        await server.close();
        await deps.close();
      },
    };
  } catch (e) {
    await deps.close();
    throw e;
  }
}
