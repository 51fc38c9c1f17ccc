import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ChangePublisher } from '../../core/subgraph/change-publisher.ts';
import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import { startSubgraphServer, type SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { subgraphSdl } from '../../schema/subgraphs.ts';
import { WorkerService } from './application/worker-service.ts';
import { WorkerTemplateService } from './application/worker-template-service.ts';
import { createContext } from './context.ts';
import type { PortRange } from './domain/ports.ts';
import { WorkerRepository } from './infrastructure/worker-repository.ts';
import { WorkerTemplateRepository } from './infrastructure/worker-template-repository.ts';
import { resolvers } from './resolvers.ts';

export const SUBGRAPH_NAME = 'workers';

/** The templates seeded when the collection is empty (override with LCM_WORKER_TEMPLATES_FILE). */
export const DEFAULT_TEMPLATES_FILE = fileURLToPath(new URL('./worker-templates.yaml', import.meta.url));

export interface WorkersSubgraphOptions {
  port?: number;
  host?: string;
  /** YAML file of the templates to seed when there are none; default LCM_WORKER_TEMPLATES_FILE, else the bundled file. */
  templatesFile?: string;
  /** Port range handed out on every worker (default 2000–9999). */
  portRange?: PortRange;
}

/** Composition root of the workers subgraph: repositories, use cases, default templates, server. */
export async function startWorkersSubgraph(deps: SubgraphDeps, options: WorkersSubgraphOptions = {}): Promise<SubgraphServer> {
  const { templatesFile, portRange, ...listen } = options;
  const registry = createMetricsRegistry(false, { subgraph: SUBGRAPH_NAME });
  const workerRepo = new WorkerRepository(deps.storage);
  const templateRepo = new WorkerTemplateRepository(deps.storage);
  await deps.storage.ensureIndexes();

  const templates = new WorkerTemplateService(templateRepo, deps.clock, deps.logger);
  const file = templatesFile ?? process.env.LCM_WORKER_TEMPLATES_FILE ?? DEFAULT_TEMPLATES_FILE;
  await templates.seedIfEmpty(await readFile(file, 'utf8'));

  const workers = new WorkerService(
    workerRepo,
    templateRepo,
    new ChangePublisher(`/lcm/subgraphs/${SUBGRAPH_NAME}`, deps.bus, deps.coordination, deps.logger, registry),
    deps.bus,
    deps.clock,
    portRange ? { portRange } : {},
  );
  return startSubgraphServer({
    name: SUBGRAPH_NAME,
    typeDefs: subgraphSdl(SUBGRAPH_NAME),
    resolvers,
    signer: deps.signer,
    logger: deps.logger,
    registry,
    context: (identity) => createContext(identity, workers, templates),
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
