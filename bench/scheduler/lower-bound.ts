import { CAPACITY_DIMENSIONS, type Capacity, type CapacityDimension } from '../../core/domain/capacity.ts';

/**
 * The bin-packing lower bound on the number of workers: on each capacity dimension, the total demand
 * divided by one worker's capacity, rounded up; the largest over the dimensions. No packing can use
 * fewer workers of that capacity (each holds at most its capacity on every dimension). For a mixed
 * fleet, pass the largest worker's capacity: the bound is then still a lower bound (looser).
 * Sums are rounded to micro-units (as capacity.ts does) so 0.1 + 0.2 against 0.3 is 1 worker, not 2.
 */
export function binPackingLowerBound(demands: Iterable<Capacity>, capacity: Capacity): { workers: number; dimension: CapacityDimension | null } {
  const total: Capacity = { cpuCores: 0, memoryGb: 0, storageGb: 0, maxNodes: 0 };
  for (const d of demands) for (const k of CAPACITY_DIMENSIONS) total[k] += d[k];
  let best = { workers: 0, dimension: null as CapacityDimension | null };
  for (const k of CAPACITY_DIMENSIONS) {
    if (capacity[k] <= 0) {
      if (total[k] > 0) throw new Error(`demand on ${k} but the worker has none`);
      continue;
    }
    const n = Math.ceil(Math.round((total[k] / capacity[k]) * 1e6) / 1e6);
    if (n > best.workers) best = { workers: n, dimension: k };
  }
  return best;
}
