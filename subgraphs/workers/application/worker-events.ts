import { allocatedCapacity, availableCapacity } from '../../../core/domain/capacity.ts';
import type { Worker } from '../domain/model.ts';
import { CoordinationKeys } from '../../../core/ports/coordination.ts';
import type { Projection } from '../../../core/subgraph/change-publisher.ts';

/** CloudEvent types the workers subgraph publishes on the `worker` topic (data: the worker snapshot). */
export const WorkerEventType = {
  requested: 'lcm.worker.requested.v1',
  statusChanged: 'lcm.worker.status-changed.v1',
  desiredStatusChanged: 'lcm.worker.desired-status-changed.v1',
  capacityReserved: 'lcm.worker.capacity-reserved.v1',
  capacityReleased: 'lcm.worker.capacity-released.v1',
  updated: 'lcm.worker.updated.v1',
} as const;
export type WorkerEventType = (typeof WorkerEventType)[keyof typeof WorkerEventType];

/** The status projection the controllers watch: `/lcm/workers/<id>/status`. */
export interface WorkerStatusProjection {
  status: Worker['status'];
  desiredStatus: Worker['desiredStatus'];
  revision: number;
}

/** The capacity projection the resource-scheduler reads: `/lcm/workers/<id>/capacity`. */
export interface WorkerCapacityProjection {
  declared: Worker['declaredCapacity'];
  allocated: Worker['declaredCapacity'];
  available: Worker['declaredCapacity'];
  /** Number of sessions holding a reservation. */
  sessions: number;
  revision: number;
}

/** The coordination-store keys written after every saved change of a worker. */
export function workerProjections(worker: Worker): Projection[] {
  const status: WorkerStatusProjection = { status: worker.status, desiredStatus: worker.desiredStatus, revision: worker.revision };
  const capacity: WorkerCapacityProjection = {
    declared: worker.declaredCapacity,
    allocated: allocatedCapacity(worker),
    available: availableCapacity(worker),
    sessions: worker.reservations.length,
    revision: worker.revision,
  };
  return [
    { key: CoordinationKeys.workerStatus(worker.id), value: status },
    { key: CoordinationKeys.workerCapacity(worker.id), value: capacity },
  ];
}
