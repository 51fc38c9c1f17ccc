/**
 * Whether a worker can take a session's reservation right now, and if not, why. The aggregate's
 * `reserveCapacity` refuses with exactly these reasons; the resource-scheduler can run the same check
 * as its placement filter (without throwing) so that what it picks is what the worker accepts.
 */
import { LicenseType, WorkerStatus } from '../../../core/domain/enums.ts';
import { WORKER_ACCEPTS_SESSIONS } from '../../../core/domain/worker-state-machine.ts';
import { availableCapacity, describeAmount, exceededDimension, type CapacityDimension } from './capacity.ts';
import type { Capacity, Worker } from './model.ts';
import { freePortCount, type PortRange } from './ports.ts';

/** What a session asks of a worker. */
export interface CapacityRequest {
  sessionId: string;
  capacity: Capacity;
  portNames: readonly string[];
  /** Licence types the session accepts; empty or absent means any. */
  licenseAffinity?: readonly LicenseType[] | null;
}

/** Why a worker refuses a request (the category a placement report groups rejections by). */
export type RefusalReason = 'status' | 'license' | 'personal-licence' | 'capacity' | 'ports';

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
export const hostsOneSessionOnly = (worker: Pick<Worker, 'licenseType'>): boolean => worker.licenseType === LicenseType.PERSONAL;

/**
 * The reason `worker` cannot take `request` now, or undefined when it can. Checked in order: status
 * (RUNNING, and not being stopped or terminated), licence, the PERSONAL one-session rule, capacity on
 * every dimension, free ports. A session that already holds a reservation on the worker is not
 * special-cased here (reserving again is idempotent in the aggregate).
 */
export function placementRefusal(worker: Worker, request: CapacityRequest, portRange: PortRange): PlacementRefusal | undefined {
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
