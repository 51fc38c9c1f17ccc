import { IdentitySigner } from '../auth/identity.ts';
import { resolveInternalSecret } from '../auth/internal-secret.ts';
import { MemoryEventBus } from '../adapters/memory/memory-event-bus.ts';
import { ConfigError, type Env } from '../config.ts';
import type { Logger } from '../logging.ts';
import { MemoryStorage } from '../persistence/memory-document-store.ts';
import { MongoStorage } from '../persistence/mongo-document-store.ts';
import { LeaseWriteLocks } from '../persistence/write-locks.ts';
import type { Storage } from '../persistence/document-store.ts';
import type { CoordinationStore } from '../ports/coordination.ts';
import type { EventBus } from '../ports/event-bus.ts';

/**
 * What a subgraph needs from the outside world. `lcm up` builds one set and shares it between the four
 * subgraphs of the process; `lcm subgraph <name>` builds its own from the environment.
 */
export interface SubgraphDeps {
  storage: Storage;
  bus: EventBus;
  coordination?: CoordinationStore;
  signer: IdentitySigner;
  logger: Logger;
  clock: () => Date;
}

export interface DepsFromEnvOptions {
  logger: Logger;
  config: Env;
}

/**
 * Build dependencies from the environment: MongoDB when LCM_MONGODB_URI is set (else memory), etcd
 * when LCM_ETCD_ENDPOINTS is set (else the in-process bus and store, when available).
 */
export async function subgraphDepsFromEnv({ logger, config }: DepsFromEnvOptions): Promise<SubgraphDeps & { close(): Promise<void> }> {
  if (config.LCM_MONGODB_WRITE_LOCKS && !(config.LCM_MONGODB_URI && config.LCM_ETCD_ENDPOINTS?.length)) {
    throw new ConfigError(['LCM_MONGODB_WRITE_LOCKS: needs LCM_MONGODB_URI and LCM_ETCD_ENDPOINTS (the locks are in etcd)']);
  }
  const coordinationModule = await import('./coordination-from-env.ts');
  const { bus, coordination, close: closeCoordination } = await coordinationModule.coordinationFromEnv(config.LCM_ETCD_ENDPOINTS, logger);
  const writeLocks = config.LCM_MONGODB_WRITE_LOCKS && coordination ? new LeaseWriteLocks(coordination, { logger }) : undefined;
  const storage: Storage = config.LCM_MONGODB_URI
    ? await MongoStorage.connect(config.LCM_MONGODB_URI, config.LCM_MONGODB_DB, writeLocks ? { writeLocks } : {})
    : new MemoryStorage();
  return {
    storage,
    bus: bus ?? new MemoryEventBus(),
    ...(coordination ? { coordination } : {}),
    signer: new IdentitySigner(resolveInternalSecret(config.LCM_INTERNAL_SECRET)),
    logger,
    clock: () => new Date(),
    async close() {
      await closeCoordination();
      await storage.close();
    },
  };
}
