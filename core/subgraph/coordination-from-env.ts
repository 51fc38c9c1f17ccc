import type { Logger } from '../logging.ts';
import type { CoordinationStore } from '../ports/coordination.ts';
import type { EventBus } from '../ports/event-bus.ts';

/**
 * The coordination store and event bus for a process: etcd when LCM_ETCD_ENDPOINTS is set, otherwise
 * none (the caller uses the in-process bus; `lcm up` shares one in-memory store between its roles).
 */
export async function coordinationFromEnv(
  env: NodeJS.ProcessEnv,
  _logger: Logger,
): Promise<{ bus?: EventBus; coordination?: CoordinationStore; close(): Promise<void> }> {
  if (!env.LCM_ETCD_ENDPOINTS) return { close: () => Promise.resolve() };
  throw new Error('LCM_ETCD_ENDPOINTS is set but the etcd adapters are not wired yet');
}
