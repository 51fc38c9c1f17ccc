import { readFile } from 'node:fs/promises';
import type { RoleOptions, Stoppable } from '../cli/main.ts';
import { env } from '../core/config.ts';
import { createLogger } from '../core/logging.ts';
import { createGateway } from './server.ts';

/**
 * `lcm gateway --supergraph FILE [--port N]`: serves any Federation 2 supergraph file (its routing
 * URLs) at `/graphql`, over HTTP and graphql-ws, with `/healthz`, `/readyz` and `/metrics`.
 */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const logger = createLogger('gateway');
  const file = typeof options.supergraph === 'string' ? options.supergraph : undefined;
  if (!file) {
    throw new Error('lcm gateway: give --supergraph FILE (the project supergraph is wired in by `lcm up`)');
  }
  const supergraphSdl = await readFile(file, 'utf8');
  const gateway = await createGateway({
    supergraphSdl,
    port: options.port ?? env().LCM_GATEWAY_PORT,
    host: typeof options.host === 'string' ? options.host : '127.0.0.1',
    logger,
  });
  return {
    banner: [`gateway serving ${file} at ${gateway.url}/graphql (HTTP and graphql-ws)`],
    stop: () => gateway.close(),
  };
}
