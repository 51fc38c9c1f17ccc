import { readFile } from 'node:fs/promises';
import type { RoleOptions, Stoppable } from '../core/role.ts';
import { IdentitySigner } from '../core/auth/identity.ts';
import { resolveInternalSecret } from '../core/auth/internal-secret.ts';
import { env } from '../core/config.ts';
import { createLogger } from '../core/logging.ts';
import { MemoryStorage } from '../core/persistence/memory-document-store.ts';
import { MongoStorage } from '../core/persistence/mongo-document-store.ts';
import { parseSubgraphUrls, startLcmGateway } from './lcm-gateway.ts';
import { createGateway } from './server.ts';

/**
 * `lcm gateway [--port N] [--host H]`: the LCM gateway in front of the four subgraphs (routing URLs
 * from LCM_SUBGRAPH_URLS, default 127.0.0.1:4001–4004), with authentication (LCM_ADMIN_TOKEN, API keys
 * in MongoDB when LCM_MONGODB_URI is set, OIDC when LCM_OIDC_ISSUER and LCM_OIDC_AUDIENCE are set).
 *
 * `lcm gateway --supergraph FILE [--port N]`: serves any Federation 2 supergraph file (its routing
 * URLs) at `/graphql`, over HTTP and graphql-ws, with `/healthz`, `/readyz` and `/metrics`.
 */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const config = env();
  const logger = createLogger('gateway', config.LCM_LOG_LEVEL);
  const port = options.port ?? config.LCM_GATEWAY_PORT;
  const host = typeof options.host === 'string' ? options.host : '127.0.0.1';
  const file = typeof options.supergraph === 'string' ? options.supergraph : undefined;
  if (file) {
    const gateway = await createGateway({ supergraphSdl: await readFile(file, 'utf8'), port, host, logger });
    return {
      banner: [`gateway serving ${file} at ${gateway.url}/graphql (HTTP and graphql-ws)`],
      stop: () => gateway.close(),
    };
  }
  const storage = config.LCM_MONGODB_URI ? await MongoStorage.connect(config.LCM_MONGODB_URI, config.LCM_MONGODB_DB) : new MemoryStorage();
  const issuer = config.LCM_OIDC_ISSUER;
  const audience = config.LCM_OIDC_AUDIENCE;
  const subgraphUrls = parseSubgraphUrls(config.LCM_SUBGRAPH_URLS);
  const gateway = await startLcmGateway({
    port,
    host,
    storage,
    signer: new IdentitySigner(resolveInternalSecret(config.LCM_INTERNAL_SECRET)),
    ...(config.LCM_ADMIN_TOKEN ? { adminToken: config.LCM_ADMIN_TOKEN } : {}),
    ...(issuer && audience ? { oidc: { issuer, audience, ...(config.LCM_OIDC_JWKS_URL ? { jwksUrl: config.LCM_OIDC_JWKS_URL } : {}) } } : {}),
    ...(subgraphUrls ? { subgraphUrls } : {}),
    introspection: config.LCM_GATEWAY_INTROSPECTION,
    ...(config.LCM_CORS_ORIGINS ? { cors: { origins: config.LCM_CORS_ORIGINS } } : {}),
    logger,
  });
  return {
    banner: [`gateway at ${gateway.url}/graphql (public) and ${gateway.url}/internal/graphql (internal)`],
    async stop() {
      await gateway.close();
      await storage.close();
    },
  };
}
