import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';
import type { SubgraphName } from '../../schema/subgraphs.ts';
import { serveSubgraph, subgraphKit } from '../../core/subgraph/serve.ts';
import { WorkerService } from './application/worker-service.ts';
import { WorkerTemplateService } from './application/worker-template-service.ts';
import { createContext } from './context.ts';
import type { PortRange } from '../../core/domain/tcp-ports.ts';
import { WorkerRepository } from './infrastructure/worker-repository.ts';
import { WorkerTemplateRepository } from './infrastructure/worker-template-repository.ts';
import { resolvers } from './resolvers.ts';

export const SUBGRAPH_NAME: SubgraphName = 'workers';

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
  const kit = subgraphKit(SUBGRAPH_NAME, deps);
  const workerRepo = new WorkerRepository(deps.storage);
  const templateRepo = new WorkerTemplateRepository(deps.storage);
  await deps.storage.ensureIndexes();

  const templates = new WorkerTemplateService(templateRepo, deps.clock, deps.logger);
  const file = templatesFile ?? process.env.LCM_WORKER_TEMPLATES_FILE ?? DEFAULT_TEMPLATES_FILE;
  await templates.seedIfEmpty(await readFile(file, 'utf8'));

  const workers = new WorkerService(
    workerRepo,
    templateRepo,
    kit.publisher,
    deps.bus,
    deps.clock,
    portRange ? { portRange } : {},
  );
  return serveSubgraph(kit, deps, resolvers, (identity) => createContext(identity, workers, templates), listen);
}
