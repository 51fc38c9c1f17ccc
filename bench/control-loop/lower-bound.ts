/**
 * How many workers a burst of identical sessions needs at least: the bin-packing optimum for one
 * template. Every session asks for the same amounts, so a worker holds at most
 * `k = min over dimensions ⌊capacity / need⌋` of them (cores, memory, storage, lab nodes, ports; a
 * PERSONAL licence: one) and N sessions need exactly ⌈N / k⌉ workers: no packing does better, and
 * filling each worker with k does that well. The benchmark prints what the system launched beside it.
 */
export interface SessionNeed {
  cpuCores: number;
  memoryGb: number;
  storageGb: number;
  nodeCount: number;
  /** Ports each session holds on its worker. */
  ports: number;
}

export interface WorkerOffer {
  cpuCores: number;
  memoryGb: number;
  storageGb: number;
  maxNodes: number;
  /** Ports a worker can hand out (its port range's size). */
  ports: number;
  licenseType: string;
}

/** Sessions one worker of `offer` holds at most (0 when one does not fit). */
export function sessionsPerWorker(need: SessionNeed, offer: WorkerOffer): number {
  const fits = (capacity: number, amount: number) => (amount <= 0 ? Number.POSITIVE_INFINITY : Math.floor(capacity / amount + 1e-9));
  const k = Math.min(
    fits(offer.cpuCores, need.cpuCores),
    fits(offer.memoryGb, need.memoryGb),
    fits(offer.storageGb, need.storageGb),
    fits(offer.maxNodes, need.nodeCount),
    fits(offer.ports, need.ports),
    offer.licenseType === 'PERSONAL' ? 1 : Number.POSITIVE_INFINITY,
  );
  if (!Number.isFinite(k)) throw new Error('a session that needs nothing fits without bound');
  return k;
}

/** Fewest workers of `offer` that hold `sessions` identical sessions. */
export function workersNeeded(sessions: number, need: SessionNeed, offer: WorkerOffer): number {
  if (sessions === 0) return 0;
  const k = sessionsPerWorker(need, offer);
  if (k === 0) throw new Error('one session does not fit on a worker of this template');
  return Math.ceil(sessions / k);
}
