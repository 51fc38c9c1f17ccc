import type { Logger } from '../../logging.ts';
import type { CoordinationStore } from '../../ports/coordination.ts';
import { EtcdCoordinationStore, type EtcdCoordinationOptions } from '../etcd/etcd-coordination.ts';
import { MemoryCoordinationStore } from '../memory/memory-coordination.ts';

export interface OpenCoordinationOptions extends Partial<Omit<EtcdCoordinationOptions, 'endpoints' | 'logger'>> {
  /** etcd client URLs (`LCM_ETCD_ENDPOINTS`); absent or empty = the embedded in-memory store. */
  etcdEndpoints?: string[];
  logger?: Logger;
}

/**
 * The coordination store a process should use (CONTRACT.md "Environment"): etcd when endpoints are
 * configured, otherwise the in-memory store of the embedded default (one process, `lcm up`).
 */
export function openCoordinationStore(options: OpenCoordinationOptions = {}): CoordinationStore {
  const { etcdEndpoints, logger, ...etcd } = options;
  if (etcdEndpoints && etcdEndpoints.length > 0) return new EtcdCoordinationStore({ ...etcd, endpoints: etcdEndpoints, logger });
  return new MemoryCoordinationStore({ logger });
}
