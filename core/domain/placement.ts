/**
 * Whether a worker can take a session's reservation right now, and if not, why. The one source of
 * truth for both sides of a placement: the workers subgraph's `reserveCapacity` refuses with exactly
 * these reasons, and the resource-scheduler's engine (core/domain/scheduling.ts) runs the same check
 * as its filter (without throwing), adding the CML requirements the worker cannot know of, so that
 * what the scheduler picks is what the worker accepts.
 */
import semver from 'semver';
import { availableCapacity, describeAmount, exceededDimension, type Capacity, type CapacityDimension } from './capacity.ts';
import { LicenseType, WorkerStatus } from './enums.ts';
import { freePortCount, type PortMapping, type PortRange } from './tcp-ports.ts';
import { WORKER_ACCEPTS_SESSIONS } from './worker-state-machine.ts';

/** What placement needs to know of a worker (the workers subgraph's `Worker` is one). */
export interface PlacementWorker {
  id: string;
  status: WorkerStatus;
  desiredStatus: WorkerStatus;
  licenseType: LicenseType | null;
  cmlVersion: string | null;
  nodeDefinitions: readonly string[];
  declaredCapacity: Capacity;
  reservations: ReadonlyArray<{ sessionId: string; capacity: Capacity; ports: readonly PortMapping[]; reservedAt?: Date }>;
}

/** The CML server a session needs: version range (semver, inclusive) and installed node definitions. */
export interface CmlRequirements {
  minVersion?: string | null;
  maxVersion?: string | null;
  nodeDefinitions?: readonly string[] | null;
}

/** What a session asks of a worker. */
export interface CapacityRequest {
  sessionId: string;
  capacity: Capacity;
  portNames: readonly string[];
  /** Licence types the session accepts; empty or absent means any. */
  licenseAffinity?: readonly LicenseType[] | null;
  /**
   * The CML server the session needs. Only the scheduler passes it: a worker's `reserveCapacity` does
   * not know the session's definition, so it does not check it.
   */
  cmlRequirements?: CmlRequirements | null;
}

/** Why a worker refuses a request (the category a placement report groups rejections by). */
export type RefusalReason = 'status' | 'license' | 'cml-version' | 'node-definitions' | 'personal-licence' | 'capacity' | 'ports';

export interface PlacementRefusal {
  reason: RefusalReason;
  message: string;
  /** For `capacity`: the first dimension that does not fit. */
  dimension?: CapacityDimension;
}

/**
 * Which licence types a worker's licence can serve (the original placement engine's rule): an
 * ENTERPRISE server can run what a PERSONAL one can; EVALUATION serves only EVALUATION.
 */
const SERVES: Record<LicenseType, readonly LicenseType[]> = {
  [LicenseType.ENTERPRISE]: [LicenseType.ENTERPRISE, LicenseType.PERSONAL],
  [LicenseType.PERSONAL]: [LicenseType.PERSONAL],
  [LicenseType.EVALUATION]: [LicenseType.EVALUATION],
};

/** Whether a worker with this licence satisfies a session's licence affinity (empty = any). */
export function licenseSatisfies(workerLicense: LicenseType | null, affinity: readonly LicenseType[] | null | undefined): boolean {
  if (!affinity || affinity.length === 0) return true;
  if (!workerLicense) return false;
  return affinity.some((wanted) => SERVES[workerLicense].includes(wanted));
}

/** A PERSONAL-licensed CML server runs one session at a time. */
export const hostsOneSessionOnly = (worker: Pick<PlacementWorker, 'licenseType'>): boolean => worker.licenseType === LicenseType.PERSONAL;

/**
 * A CML version as semver: `2.9.1+build.7` and `2.8.0-rc1` as they are, `2.8` as 2.8.0, `2.8.1.3` as
 * 2.8.1 (the fourth component is a build number). Undefined when it is not a version at all.
 */
export function cmlSemver(version: string | null | undefined): semver.SemVer | undefined {
  if (!version) return undefined;
  const v = version.trim();
  const exact = semver.parse(v);
  if (exact) return exact;
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)?(-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.exec(v);
  if (!m) return undefined;
  return semver.parse(`${m[1]}.${m[2]}.${m[3] ?? '0'}${m[4] ?? ''}`) ?? undefined;
}

/**
 * Why a worker's CML server does not meet `required`, or undefined when it does. Versions compare by
 * semver (the original compared strings, so 2.10 sorted below 2.9), bounds inclusive; build metadata
 * is ignored, a pre-release sorts below its release. A worker that has not reported its version
 * satisfies no version bound.
 */
export function cmlRefusal(worker: Pick<PlacementWorker, 'id' | 'cmlVersion' | 'nodeDefinitions'>, required: CmlRequirements | null | undefined): PlacementRefusal | undefined {
  if (!required) return undefined;
  const { minVersion, maxVersion } = required;
  if (minVersion || maxVersion) {
    const range = `[${minVersion ?? '*'} – ${maxVersion ?? '*'}]`;
    const version = cmlSemver(worker.cmlVersion);
    if (!version) {
      return {
        reason: 'cml-version',
        message: worker.cmlVersion
          ? `worker ${worker.id} reports CML version "${worker.cmlVersion}", which is not a version; the session needs CML ${range}`
          : `worker ${worker.id} has not reported its CML version yet; the session needs CML ${range}`,
      };
    }
    const min = minVersion ? cmlSemver(minVersion) : undefined;
    const max = maxVersion ? cmlSemver(maxVersion) : undefined;
    if ((min && semver.lt(version, min)) || (max && semver.gt(version, max))) {
      return { reason: 'cml-version', message: `worker ${worker.id} runs CML ${worker.cmlVersion}; the session needs CML ${range}` };
    }
  }
  const installed = new Set(worker.nodeDefinitions);
  const missing = (required.nodeDefinitions ?? []).filter((d) => !installed.has(d));
  if (missing.length > 0) {
    return {
      reason: 'node-definitions',
      message: `worker ${worker.id} lacks the node definition(s) ${missing.join(', ')} the session needs`,
    };
  }
  return undefined;
}

/**
 * The reason `worker` cannot take `request` now, or undefined when it can. Checked in order: status
 * (RUNNING, and not being stopped or terminated), licence, the CML requirements (when the request
 * carries them), the PERSONAL one-session rule, capacity on every dimension, free ports. A session
 * that already holds a reservation on the worker is not special-cased here (reserving again is
 * idempotent in the aggregate).
 */
export function placementRefusal(worker: PlacementWorker, request: CapacityRequest, portRange: PortRange): PlacementRefusal | undefined {
  if (!WORKER_ACCEPTS_SESSIONS.has(worker.status)) {
    return { reason: 'status', message: `worker ${worker.id} is ${worker.status}; only RUNNING workers accept sessions` };
  }
  if (worker.desiredStatus !== WorkerStatus.RUNNING) {
    return {
      reason: 'status',
      message: `worker ${worker.id} is being taken out of service (desired status ${worker.desiredStatus}); it accepts no new sessions`,
    };
  }
  if (!licenseSatisfies(worker.licenseType, request.licenseAffinity)) {
    return {
      reason: 'license',
      message: `worker ${worker.id} runs a ${worker.licenseType ?? 'unknown'} licence, which does not satisfy the session's licence affinity [${(request.licenseAffinity ?? []).join(', ')}]`,
    };
  }
  const cml = cmlRefusal(worker, request.cmlRequirements);
  if (cml) return cml;
  if (hostsOneSessionOnly(worker) && worker.reservations.length > 0) {
    return {
      reason: 'personal-licence',
      message: `worker ${worker.id} runs a PERSONAL licence and already hosts session ${worker.reservations[0]?.sessionId}; a PERSONAL worker hosts one session`,
    };
  }
  const available = availableCapacity(worker);
  const dimension = exceededDimension(request.capacity, available);
  if (dimension) {
    return {
      reason: 'capacity',
      dimension,
      message: `worker ${worker.id} has ${describeAmount(dimension, available[dimension])} available; the session needs ${describeAmount(dimension, request.capacity[dimension])} (${dimension})`,
    };
  }
  const free = freePortCount(worker, portRange);
  if (free < request.portNames.length) {
    return {
      reason: 'ports',
      message: `worker ${worker.id} has ${free} free ports in ${portRange.min}–${portRange.max}; the session needs ${request.portNames.length}`,
    };
  }
  return undefined;
}
