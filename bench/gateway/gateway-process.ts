import { readFile } from 'node:fs/promises';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { createApolloServerGateway } from './apollo-server-adapter.ts';
import { createGateway } from '../../gateway/server.ts';
import { startStockGateway } from '../../test/support/gateway/stock-gateway.ts';

/**
 * Child process of the gateway benchmark: one Node gateway serving the supergraph file at
 * `/graphql` on the given port, until SIGTERM. Kinds:
 * - `stock`: `@apollo/server` 5 + `@apollo/gateway`;
 * - `ours`: this project's gateway (`--no-dedup`: no sharing of identical in-flight requests at all;
 *   `--no-inbound-dedup`: share identical subgraph requests only);
 * - `ours-apollo-server`: this project's executor behind Apollo Server 5 (the ADR 0004 measurement).
 */
const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const kind = option('--kind');
const supergraphFile = option('--supergraph');
const port = Number(option('--port') ?? 0);
if (!kind || !supergraphFile) throw new Error('usage: gateway-process.ts --kind K --supergraph FILE --port N');
const supergraphSdl = await readFile(supergraphFile, 'utf8');

let stop: () => Promise<void>;
switch (kind) {
  case 'stock': {
    const stock = await startStockGateway(supergraphSdl, { port });
    stop = stock.close;
    break;
  }
  case 'ours': {
    const noDedup = args.includes('--no-dedup');
    const gateway = await createGateway({
      supergraphSdl,
      port,
      deduplicateInflightQueries: !noDedup && !args.includes('--no-inbound-dedup'),
      subgraphs: { deduplicate: !noDedup },
    });
    stop = gateway.close;
    break;
  }
  case 'ours-apollo-server': {
    const server = new ApolloServer({ gateway: createApolloServerGateway({ supergraphSdl }), includeStacktraceInErrorResponses: false });
    await startStandaloneServer(server, { listen: { port, host: '127.0.0.1' } });
    stop = () => server.stop();
    break;
  }
  default:
    throw new Error(`unknown gateway kind ${kind}`);
}
console.log('READY');
process.once('SIGTERM', () => {
  void stop().then(() => process.exit(0));
});
