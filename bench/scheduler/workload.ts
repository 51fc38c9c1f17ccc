/**
 * The scheduler benchmark's workload, generated from a seed so a run can be repeated: a catalogue of
 * lab definitions (what a session asks of a worker, as `core/domain/scheduling.ts` models it), PENDING
 * sessions drawn from it, and a fleet of RUNNING workers of the seeded templates
 * (subgraphs/workers/worker-templates.yaml: `metal` ENTERPRISE, `personal` PERSONAL).
 */
import type { Capacity } from '../../core/domain/capacity.ts';
import { LicenseType, WorkerStatus } from '../../core/domain/enums.ts';
import type { CmlRequirements } from '../../core/domain/placement.ts';
import type { SchedulingWorker, SessionDemand, TemplateOffer } from '../../core/domain/scheduling.ts';

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (random: () => number, lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

/** The seeded templates the fleet is made of (capacities as in worker-templates.yaml). */
export const METAL: TemplateOffer = {
  name: 'metal',
  capacity: { cpuCores: 48, memoryGb: 192, storageGb: 1000, maxNodes: 200 },
  licenseType: LicenseType.ENTERPRISE,
  costPerHour: 3.9641,
  enabled: true,
};
export const PERSONAL: TemplateOffer = {
  name: 'personal',
  capacity: { cpuCores: 8, memoryGb: 32, storageGb: 200, maxNodes: 20 },
  licenseType: LicenseType.PERSONAL,
  costPerHour: 0.6606,
  enabled: true,
};

const CML_VERSIONS = ['2.6.1', '2.7.2', '2.8.0', '2.9.1'] as const;
const NODE_DEFINITIONS = ['iosv', 'iosvl2', 'csr1000v', 'nxosv9000', 'asav', 'alpine', 'ubuntu'] as const;

/** A lab definition as the scheduler sees it. */
export interface Definition {
  name: string;
  capacity: Capacity;
  portNames: string[];
  licenseAffinity: LicenseType[];
  cmlRequirements: CmlRequirements | null;
}

/**
 * `count` random definitions: 1–20 nodes; per node 0.25 or 0.5 cores and 0.5–2 GiB (a router image is
 * ~0.5 core, 0.5–1 GiB; an NX-OS one much more), 4–8 GiB storage; one console port per node; a third
 * require a minimum CML version, a quarter a node definition, a tenth PERSONAL-or-better licence.
 */
export function definitions(random: () => number, count: number): Definition[] {
  const out: Definition[] = [];
  for (let i = 0; i < count; i++) {
    const nodes = int(random, 1, 20);
    const cpuPerNode = pick(random, [0.25, 0.25, 0.5]);
    const memPerNode = pick(random, [0.5, 1, 1, 2]);
    const minVersion = random() < 1 / 3 ? pick(random, ['2.7.0', '2.8.0']) : null;
    const nodeDefinitions = random() < 1 / 4 ? [pick(random, NODE_DEFINITIONS)] : null;
    out.push({
      name: `def-${i}`,
      capacity: { cpuCores: Math.max(1, nodes * cpuPerNode), memoryGb: Math.max(1, nodes * memPerNode), storageGb: nodes * int(random, 4, 8), maxNodes: nodes },
      portNames: Array.from({ length: nodes }, (_, n) => `n${n}-console`),
      licenseAffinity: random() < 0.1 ? [LicenseType.PERSONAL] : [],
      cmlRequirements: minVersion || nodeDefinitions ? { minVersion, nodeDefinitions } : null,
    });
  }
  return out;
}

const EPOCH = Date.UTC(2026, 2, 1, 9, 0, 0);

/** `count` PENDING sessions of random definitions, created one second apart, no timeslot (all eligible now). */
export function sessions(random: () => number, defs: readonly Definition[], count: number): SessionDemand[] {
  return Array.from({ length: count }, (_, i) => {
    const d = pick(random, defs);
    return {
      sessionId: `s${String(i).padStart(6, '0')}`,
      createdAt: new Date(EPOCH + i * 1000),
      timeslotStart: null,
      timeslotEnd: null,
      bootLeadTimeMinutes: 35,
      capacity: d.capacity,
      portNames: d.portNames,
      licenseAffinity: d.licenseAffinity,
      cmlRequirements: d.cmlRequirements,
    };
  });
}

/** The moment the benchmark plans at (after every session was created). */
export const PLAN_AT = new Date(EPOCH + 86_400_000);

/**
 * `count` RUNNING, empty workers: 2% `personal`, the rest `metal`; each with a CML version and 4–7
 * of the node definitions.
 */
export function workers(random: () => number, count: number): SchedulingWorker[] {
  return Array.from({ length: count }, (_, i) => {
    const template = random() < 0.02 ? PERSONAL : METAL;
    const installed = NODE_DEFINITIONS.filter(() => random() < 0.8);
    return {
      id: `w${String(i).padStart(5, '0')}`,
      templateName: template.name,
      status: WorkerStatus.RUNNING,
      desiredStatus: WorkerStatus.RUNNING,
      licenseType: template.licenseType,
      cmlVersion: pick(random, CML_VERSIONS),
      nodeDefinitions: installed.length ? installed : ['iosv'],
      declaredCapacity: { ...template.capacity },
      reservations: [],
    };
  });
}
