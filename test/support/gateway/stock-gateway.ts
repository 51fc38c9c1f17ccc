import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway } from '@apollo/gateway';

/**
 * The stock setup this gateway is measured and checked against: `@apollo/server` 5 with
 * `@apollo/gateway` serving a static supergraph (no stack traces in errors, as in production).
 */
export async function startStockGateway(
  supergraphSdl: string,
  options: { port?: number; host?: string } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const server = new ApolloServer({
    gateway: new ApolloGateway({ supergraphSdl }),
    includeStacktraceInErrorResponses: false,
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: options.port ?? 0, host: options.host ?? '127.0.0.1' },
  });
  return { url: url.replace(/\/$/, ''), close: () => server.stop() };
}
