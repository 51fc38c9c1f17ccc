/**
 * Capacity arithmetic: what a worker declares, what its reservations hold, what is left, and whether
 * a request fits. Pure functions, the one source of truth for the workers subgraph's reservation rules
 * and the resource-scheduler's placement engine (core/domain/scheduling.ts).
 *
 * Capacities are floats (cores and GiB may be fractional). Sums are rounded to micro-units so that
 * adding and removing reservations never drifts (0.1 + 0.2 must fit in 0.3).
 */
import { badInput } from '../errors.ts';

/** Resources of a worker or held by a session. `maxNodes` counts lab nodes. */
export interface Capacity {
  cpuCores: number;
  memoryGb: number;
  storageGb: number;
  maxNodes: number;
}

/** What capacity arithmetic needs of a worker: what it declares and what its reservations hold. */
export interface CapacityHolder {
  declaredCapacity: Capacity;
  reservations: ReadonlyArray<{ capacity: Capacity }>;
}

/** The dimensions of a capacity, in the order they are checked and reported. */
export const CAPACITY_DIMENSIONS = ['cpuCores', 'memoryGb', 'storageGb', 'maxNodes'] as const;
export type CapacityDimension = (typeof CAPACITY_DIMENSIONS)[number];

export const ZERO_CAPACITY: Readonly<Capacity> = Object.freeze({ cpuCores: 0, memoryGb: 0, storageGb: 0, maxNodes: 0 });

/** Upper bounds that catch nonsense input (a 2-million-core worker is a typo). */
const CAPACITY_LIMITS: Record<CapacityDimension, number> = { cpuCores: 4096, memoryGb: 65_536, storageGb: 1_000_000, maxNodes: 10_000 };
const UNITS: Record<CapacityDimension, string> = { cpuCores: 'cores', memoryGb: 'GiB memory', storageGb: 'GiB storage', maxNodes: 'nodes' };

const round = (v: number): number => Math.round(v * 1e6) / 1e6;

const combine = (a: Capacity, b: Capacity, sign: 1 | -1): Capacity => ({
  cpuCores: round(a.cpuCores + sign * b.cpuCores),
  memoryGb: round(a.memoryGb + sign * b.memoryGb),
  storageGb: round(a.storageGb + sign * b.storageGb),
  maxNodes: a.maxNodes + sign * b.maxNodes,
});

export const addCapacity = (a: Capacity, b: Capacity): Capacity => combine(a, b, 1);
export const subtractCapacity = (a: Capacity, b: Capacity): Capacity => combine(a, b, -1);
export const sumCapacity = (items: Iterable<Capacity>): Capacity => {
  let total: Capacity = ZERO_CAPACITY;
  for (const c of items) total = addCapacity(total, c);
  return { ...total };
};

/** What the worker's reservations hold. */
export const allocatedCapacity = (worker: Pick<CapacityHolder, 'reservations'>): Capacity => sumCapacity(worker.reservations.map((r) => r.capacity));

/** Declared minus allocated (never below zero on a dimension, should a declaration shrink). */
export function availableCapacity(worker: CapacityHolder): Capacity {
  const left = subtractCapacity(worker.declaredCapacity, allocatedCapacity(worker));
  return {
    cpuCores: Math.max(0, left.cpuCores),
    memoryGb: Math.max(0, left.memoryGb),
    storageGb: Math.max(0, left.storageGb),
    maxNodes: Math.max(0, left.maxNodes),
  };
}

/** The first dimension on which `required` exceeds `available`, or undefined when it fits. */
export function exceededDimension(required: Capacity, available: Capacity): CapacityDimension | undefined {
  return CAPACITY_DIMENSIONS.find((d) => round(required[d] - available[d]) > 0);
}

/** Whether `required` fits in `available` on every dimension. */
export const fitsIn = (required: Capacity, available: Capacity): boolean => exceededDimension(required, available) === undefined;

/** "4 cores" / "8 GiB memory": a dimension's amount for messages. */
export const describeAmount = (dimension: CapacityDimension, amount: number): string => `${amount} ${UNITS[dimension]}`;

/**
 * Bin-packing fill of a worker in [0, 1]: the mean share of declared CPU and memory that is allocated
 * (the original placement engine's score without its session bonus). Fuller workers score higher.
 */
export function utilization(worker: CapacityHolder): number {
  const used = allocatedCapacity(worker);
  const share = (d: 'cpuCores' | 'memoryGb') => (worker.declaredCapacity[d] > 0 ? Math.min(1, used[d] / worker.declaredCapacity[d]) : 1);
  return (share('cpuCores') + share('memoryGb')) / 2;
}

/**
 * Validate a capacity given as input: finite, non-negative, within sane bounds, `maxNodes` an
 * integer. With `positive`, every dimension but storage must be above zero (a worker's declaration).
 * Throws BAD_USER_INPUT naming the field (`<field>.<dimension>`, or the path `field(dimension)` gives).
 */
export function checkCapacity(
  field: string | ((dimension: CapacityDimension) => string),
  c: Capacity,
  options: { positive?: boolean } = {},
): Capacity {
  const pathOf = typeof field === 'string' ? (d: CapacityDimension) => `${field}.${d}` : field;
  for (const d of CAPACITY_DIMENSIONS) {
    const v = c[d];
    const max = CAPACITY_LIMITS[d];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
      throw badInput(pathOf(d), `must be a number between 0 and ${max}; got ${JSON.stringify(v)}`);
    }
    if (d === 'maxNodes' && !Number.isInteger(v)) throw badInput(pathOf(d), `must be an integer; got ${v}`);
    if (options.positive && d !== 'storageGb' && v === 0) throw badInput(pathOf(d), 'must be greater than 0');
  }
  return { cpuCores: c.cpuCores, memoryGb: c.memoryGb, storageGb: c.storageGb, maxNodes: c.maxNodes };
}

export const sameCapacity = (a: Capacity, b: Capacity): boolean => CAPACITY_DIMENSIONS.every((d) => a[d] === b[d]);
