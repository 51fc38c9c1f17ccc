/**
 * The worker-controller's use of each worker's CML API: probe readiness and licensing while the worker
 * starts, register the licence, and read what the scheduler needs (version, node definitions, licence,
 * capacity) and what the dashboards show (system statistics).
 */
import { CmlApiError, CmlConnectionError } from '../../core/clients/cml/index.ts';
import type { CmlSystemStats , CmlClient} from '../../core/clients/cml/index.ts';
import { LicenseType } from '../../core/domain/enums.ts';
import type { Logger } from '../../core/logging.ts';
import { WorkerCmlClients } from '../kit/cml-clients.ts';
import type { ControllerDeps } from '../kit/role.ts';
import type { CmlProbe } from './decide.ts';

/** One CML client per worker address, reused across reconciles (keep-alive, token). */
export class CmlPool extends WorkerCmlClients {
  constructor(deps: Pick<ControllerDeps, 'config' | 'overrides'>, logger: Logger) {
    super(deps, logger, { timeoutMs: 10_000, retry: { retries: 2, baseDelayMs: 100, maxDelayMs: 1_000 } });
  }
}

/** Readiness and licence registration of a starting worker's CML; never throws for an unreachable server. */
export async function probeCml(client: CmlClient, withLicensing: boolean, signal?: AbortSignal): Promise<CmlProbe> {
  try {
    const info = await client.systemInformation({ signal, retries: 0 });
    if (!info.ready) return { kind: 'not-ready' };
    const registration = withLicensing ? (await client.licensing(signal)).registration.status : null;
    return { kind: 'ready', version: info.version, registration };
  } catch (e) {
    if (e instanceof CmlConnectionError) return { kind: 'unreachable', detail: e.message };
    if (e instanceof CmlApiError && e.isNotReady) return { kind: 'not-ready' };
    if (e instanceof CmlApiError) return { kind: 'unreachable', detail: `${e.status} ${e.description ?? ''}`.trim() };
    throw e;
  }
}

const GiB = 1024 ** 3;
const round1 = (n: number): number => Math.floor(n * 10) / 10;

/** System statistics as recorded on the worker (with the time they were read). */
export function statsRecord(stats: CmlSystemStats, now: Date): Record<string, unknown> {
  return {
    observedAt: now.toISOString(),
    all: stats.all,
    computes: Object.values(stats.computes).map((c) => ({
      hostname: c.hostname,
      isController: c.is_controller ?? false,
      cpu: { count: c.stats.cpu.count, percent: c.stats.cpu.percent },
      memory: c.stats.memory,
      disk: c.stats.disk,
      ...(c.stats.dominfo ? { dominfo: c.stats.dominfo } : {}),
    })),
  };
}

export interface FullObservation {
  cmlVersion: string;
  nodeDefinitions: string[];
  licenseStatus: string;
  licenseType: LicenseType | null;
  /** What the server has, per dimension (cpu, memory, disk). */
  hardware: { cpuCores: number; memoryGb: number; storageGb: number };
  systemStats: Record<string, unknown>;
}

/** Everything the scheduler needs from a new worker's CML. */
export async function observeFull(client: CmlClient, now: Date, signal?: AbortSignal): Promise<FullObservation> {
  const [info, stats, defs, licensing] = await Promise.all([
    client.systemInformation({ signal }),
    client.systemStats(signal),
    client.nodeDefinitions(signal),
    client.licensing(signal),
  ]);
  const registered = licensing.registration.status === 'COMPLETED';
  const product = licensing.product_license.active;
  // The licence in force decides the type; an unregistered (evaluation) server keeps its template's.
  const licenseType = !registered ? null : /personal/i.test(product) ? LicenseType.PERSONAL : licensing.product_license.is_enterprise ? LicenseType.ENTERPRISE : LicenseType.EVALUATION;
  return {
    cmlVersion: info.version,
    nodeDefinitions: defs.map((d) => d.id),
    licenseStatus: licensing.registration.status,
    licenseType,
    hardware: {
      cpuCores: stats.all.cpu.count,
      memoryGb: round1(stats.all.memory.total / GiB),
      storageGb: round1(stats.all.disk.total / GiB),
    },
    systemStats: statsRecord(stats, now),
  };
}
