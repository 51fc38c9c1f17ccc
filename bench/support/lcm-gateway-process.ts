import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { IdentitySigner } from '../../core/auth/identity.ts';
import { silentLogger } from '../../core/logging.ts';
import { MemoryStorage } from '../../core/persistence/memory-document-store.ts';
import { startLcmGateway } from '../../gateway/lcm-gateway.ts';
import { benchSecret, subgraphHeaders } from './lcm-identity.ts';

/**
 * Child process of the LCM benchmarks: one gateway in front of LCM's subgraphs, on `--port`, until
 * SIGTERM; prints READY when serving.
 * - `stock`: `@apollo/server` 5 + `@apollo/gateway` on the public supergraph file (`--supergraph`),
 *   its data sources adding the signed identity to every subgraph request (`subgraphHeaders`);
 * - `ours`: LCM's gateway as `lcm up` runs it (`startLcmGateway`: authentication, limits, the public
 *   and internal endpoints), routed to the subgraphs of `--urls` (JSON), admin token from
 *   `LCM_BENCH_ADMIN_TOKEN`.
 */
const { values } = parseArgs({
  options: { kind: { type: 'string' }, supergraph: { type: 'string' }, urls: { type: 'string' }, port: { type: 'string' } },
});
const port = Number(values.port ?? 0);

/** `@apollo/gateway`'s data source, its fetcher wrapped to sign each request's exact body. */
class SignedDataSource extends RemoteGraphQLDataSource {
  constructor(config: ConstructorParameters<typeof RemoteGraphQLDataSource>[0]) {
    super(config);
    const inner = this.fetcher;
    this.fetcher = async (url, init) => {
      const body = typeof init?.body === 'string' ? init.body : '';
      return inner(url, { ...init, headers: { ...init?.headers, ...(await subgraphHeaders(body)) } });
    };
  }
}

let stop: () => Promise<void>;
switch (values.kind) {
  case 'stock': {
    if (!values.supergraph) throw new Error('--supergraph FILE is required');
    const supergraphSdl = await readFile(values.supergraph, 'utf8');
    const server = new ApolloServer({
      gateway: new ApolloGateway({ supergraphSdl, buildService: ({ url }) => new SignedDataSource({ url }) }),
      includeStacktraceInErrorResponses: false,
    });
    await startStandaloneServer(server, { listen: { port, host: '127.0.0.1' } });
    stop = () => server.stop();
    break;
  }
  case 'ours': {
    if (!values.urls) throw new Error('--urls JSON is required');
    const adminToken = process.env.LCM_BENCH_ADMIN_TOKEN;
    if (!adminToken) throw new Error('LCM_BENCH_ADMIN_TOKEN is required');
    const storage = new MemoryStorage();
    const gateway = await startLcmGateway({
      port,
      host: '127.0.0.1',
      subgraphUrls: JSON.parse(values.urls) as Record<string, string>,
      storage,
      signer: new IdentitySigner(benchSecret()),
      adminToken,
      logger: silentLogger,
      dashboard: false,
    });
    stop = async () => {
      await gateway.close();
      await storage.close();
    };
    break;
  }
  default:
    throw new Error(`unknown gateway kind ${values.kind}`);
}
console.log('READY');
process.once('SIGTERM', () => {
  void stop().then(() => process.exit(0));
});
