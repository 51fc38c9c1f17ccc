import { EtcdCoordinationStore } from '../adapters/etcd/etcd-coordination.ts';
import { EtcdEventBus } from '../adapters/etcd/etcd-event-bus.ts';
import type { Logger } from '../logging.ts';
import type { CoordinationStore } from '../ports/coordination.ts';
import type { EventBus } from '../ports/event-bus.ts';

/**
 * The coordination store and event bus for a process: etcd when endpoints are configured
 * (`LCM_ETCD_ENDPOINTS`; the bus on etcd too, so every replica sees every event), otherwise none —
 * the caller then uses in-process ones (`lcm up` shares one in-memory store and bus between its roles).
 */
export async function coordinationFromEnv(
  etcdEndpoints: readonly string[] | undefined,
  logger: Logger,
): Promise<{ bus?: EventBus; coordination?: CoordinationStore; close(): Promise<void> }> {
  if (!etcdEndpoints?.length) return { close: () => Promise.resolve() };
  const coordination = new EtcdCoordinationStore({ endpoints: [...etcdEndpoints], logger });
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
