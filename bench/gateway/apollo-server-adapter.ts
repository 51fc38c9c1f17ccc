import type { ApolloServerOptionsWithGateway, BaseContext } from '@apollo/server';
import { GatewayExecutor } from '../../gateway/executor/executor.ts';
import { SubgraphClients, type SubgraphClientOptions } from '../../gateway/executor/subgraph-client.ts';
import { toGraphQLError } from '../../gateway/executor/errors.ts';
import { loadSupergraph } from '../../gateway/supergraph.ts';

type GatewayInterface = ApolloServerOptionsWithGateway<BaseContext>['gateway'];

/**
 * This gateway's executor behind Apollo Server 5: a `GatewayInterface` for
 * `new ApolloServer({ gateway })`, so Apollo Server's request pipeline (plugins, APQ, landing
 * page…) runs in front of our executor instead of `@apollo/gateway`'s.
 *
 * `createGateway` (server.ts) does not use it: measured, Apollo Server's pipeline costs more than
 * our whole executor on the benchmark query (docs/adr/0004-gateway-executor.md). It stays for
 * anyone who wants Apollo Server's plugin ecosystem, and for that measurement. Forwarded headers
 * come from the Apollo Server context's `forwardHeaders`, if any.
 */
export function createApolloServerGateway(options: {
  supergraphSdl: string;
  subgraphs?: SubgraphClientOptions;
}): GatewayInterface {
  const supergraph = loadSupergraph(options.supergraphSdl);
  const clients = new SubgraphClients(options.subgraphs);
  const executor = new GatewayExecutor({ supergraph, clients });
  const listeners = new Set<Parameters<GatewayInterface['onSchemaLoadOrUpdate']>[0]>();
  return {
    onSchemaLoadOrUpdate(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    async load() {
      for (const listener of listeners) {
        listener({ apiSchema: supergraph.apiGraphQLSchema, coreSupergraphSdl: supergraph.sdl });
      }
      return {
        executor: async (requestContext) => {
          const preparation = executor.prepare(requestContext.source, requestContext.request.operationName);
          if (!preparation.ok) return { errors: [...preparation.errors] };
          const variables = requestContext.request.variables;
          const variableErrors = executor.checkVariables(preparation.operation, variables);
          if (variableErrors) return { errors: variableErrors };
          const forwardHeaders = (requestContext.context as { forwardHeaders?: Record<string, string> }).forwardHeaders;
          const result = await executor.execute(preparation.operation, variables, { headers: forwardHeaders });
          return {
            ...(result.errors ? { errors: result.errors.map(toGraphQLError) } : {}),
            ...(result.data !== undefined ? { data: result.data } : {}),
            ...(result.extensions ? { extensions: result.extensions } : {}),
          };
        },
      };
    },
    async stop() {
      await clients.close();
    },
  };
}
