import type { Logger } from '../logging.ts';
import type { SubgraphServer } from '../graphql/subgraph-server.ts';

/**
 * A subgraph writes its etcd projections after the save, best effort (core/subgraph/change-publisher.ts):
 * a write that failed (etcd cut) or a save whose answer was lost leaves a projection missing or behind.
 * This repairs them at start and every `everyMs`, one round at a time (a slow round is not stacked).
 */
export interface ProjectionRepair {
  /** The first round (at start); never rejects: a failed round is logged and the next one retries. */
  readonly first: Promise<void>;
  stop(): void;
}

/** How often a subgraph looks for projections to repair. */
export const PROJECTION_REPAIR_MS = 15_000;

export function startProjectionRepair(options: {
  /** What is repaired, for the logs (e.g. `session status projections`). */
  what: string;
  /** Default PROJECTION_REPAIR_MS. */
  everyMs?: number;
  logger: Logger;
  /** One round: how many projections were written again. */
  repair: () => Promise<number>;
}): ProjectionRepair {
  const { what, logger } = options;
  let round: Promise<void> | undefined;
  const run = () =>
    (round ??= options
      .repair()
      .then(
        (n) => void (n > 0 && logger.warn({ repaired: n }, `${what} were missing or behind; written again`)),
        (err: unknown) => logger.warn({ err }, `${what}: repair failed; next round retries`),
      )
      .finally(() => (round = undefined)));
  const first = run();
  const timer = setInterval(() => void run(), options.everyMs ?? PROJECTION_REPAIR_MS);
  timer.unref();
  return { first, stop: () => clearInterval(timer) };
}

/** The subgraph's server, whose `close()` also stops its projection repair. */
export function closingRepair(server: SubgraphServer, repair: ProjectionRepair): SubgraphServer {
  return {
    ...server,
    async close() {
      repair.stop();
      await server.close();
    },
  };
}
