import { EtcdCoordinationStore } from '../adapters/etcd/etcd-coordination.ts';
import { EtcdEventBus } from '../adapters/etcd/etcd-event-bus.ts';
import type { Logger } from '../logging.ts';
import type { CoordinationStore } from '../ports/coordination.ts';
import type { EventBus } from '../ports/event-bus.ts';

/**
 * The coordination store and event bus for a process: etcd when LCM_ETCD_ENDPOINTS is set (the bus on
 * etcd too, so every replica sees every event), otherwise none — the caller then uses in-process ones
 * (`lcm up` shares one in-memory store and bus between its roles).
 */
export async function coordinationFromEnv(
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<{ bus?: EventBus; coordination?: CoordinationStore; close(): Promise<void> }> {
  const raw = env.LCM_ETCD_ENDPOINTS;
  if (!raw) return { close: () => Promise.resolve() };
  const endpoints = raw.split(',').map((e) => e.trim()).filter(Boolean);
  const coordination = new EtcdCoordinationStore({ endpoints, logger });
  const bus = await EtcdEventBus.start(coordination, { logger });
  return {
    bus,
    coordination,
    async close() {
      await bus.close();
      await coordination.close();
    },
  };
}
