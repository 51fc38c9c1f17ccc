import type { BaseContext } from '@apollo/server';
import type { Registry } from 'prom-client';
import type { Identity } from '../auth/identity.ts';
import { startSubgraphServer, type SubgraphServer } from '../graphql/subgraph-server.ts';
import { createMetricsRegistry } from '../ops/ops-server.ts';
import { subgraphSdl, type SubgraphName } from '../../schema/subgraphs.ts';
import { ChangePublisher } from './change-publisher.ts';
import type { SubgraphDeps } from './deps.ts';

/** What every subgraph's composition root starts from: its metrics registry and change publisher. */
export interface SubgraphKit {
  name: SubgraphName;
  registry: Registry;
  publisher: ChangePublisher;
}

export function subgraphKit(name: SubgraphName, deps: SubgraphDeps): SubgraphKit {
  const registry = createMetricsRegistry(false, { subgraph: name });
  return {
    name,
    registry,
    publisher: new ChangePublisher(`/lcm/subgraphs/${name}`, deps.bus, deps.coordination, deps.logger, registry),
  };
}

/** Serve a subgraph: its SDL from `schema/`, the resolvers, a per-operation context, readiness on storage. */
export function serveSubgraph<Ctx extends BaseContext>(
  kit: SubgraphKit,
  deps: SubgraphDeps,
  resolvers: object,
  context: (identity: Identity) => Ctx,
  listen: { port?: number; host?: string },
): Promise<SubgraphServer> {
  return startSubgraphServer({
    name: kit.name,
    typeDefs: subgraphSdl(kit.name),
    resolvers,
    signer: deps.signer,
    logger: deps.logger,
    registry: kit.registry,
    context,
    readiness: async () => {
      try {
        await deps.storage.ping();
        return [];
      } catch (e) {
        return [`storage: ${(e as Error).message}`];
      }
    },
    ...listen,
  });
}
