/**
 * Domain types of the workers subgraph (the codegen `mappers`: `CmlWorker` → `Worker`,
 * `WorkerTemplate` → `WorkerTemplate`, `CapacityReservation` → `Reservation`).
 */
import type { Capacity } from '../../../core/domain/capacity.ts';
import type { LicenseType, WorkerStatus } from '../../../core/domain/enums.ts';
import type { PortMapping } from '../../../core/domain/tcp-ports.ts';

export type { Capacity } from '../../../core/domain/capacity.ts';
export type { PortMapping } from '../../../core/domain/tcp-ports.ts';

/** Capacity and ports one session holds on a worker. */
export interface Reservation {
  sessionId: string;
  capacity: Capacity;
  ports: PortMapping[];
  reservedAt: Date;
}

/**
 * A CML worker as stored: the aggregate's state. Allocated and available capacity are not stored;
 * they are derived from `reservations` and `declaredCapacity` (see `capacity.ts`).
 */
export interface Worker {
  id: string;
  revision: number;
  name: string;
  status: WorkerStatus;
  desiredStatus: WorkerStatus;
  /** Why the worker is in its current status (the last transition's reason). */
  statusReason: string | null;
  /** Why the desired status was last set. */
  desiredStatusReason: string | null;
  templateName: string;
  instanceType: string | null;
  ec2InstanceId: string | null;
  amiId: string | null;
  ipAddress: string | null;
  region: string | null;
  cmlVersion: string | null;
  nodeDefinitions: string[];
  licenseType: LicenseType | null;
  licenseStatus: string | null;
  declaredCapacity: Capacity;
  reservations: Reservation[];
  systemStats: Record<string, unknown> | null;
  /** When the worker last had no sessions while able to take some (idle scale-down). */
  idleSince: Date | null;
  /**
   * Idempotency key of the request that created the worker. Absent (not null) when none was given:
   * the unique index on it is sparse.
   */
  requestKey?: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A kind of worker that can be provisioned, seeded from YAML and upserted by name. */
export interface WorkerTemplate {
  id: string;
  revision: number;
  name: string;
  description: string | null;
  instanceType: string;
  amiNamePattern: string;
  capacity: Capacity;
  licenseType: LicenseType;
  costPerHour: number;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function reviveDate(v: unknown, field: string): Date {
  const d = v instanceof Date ? v : typeof v === 'string' || typeof v === 'number' ? new Date(v) : undefined;
  if (!d || Number.isNaN(d.getTime())) throw new TypeError(`worker snapshot: ${field} is not a date`);
  return d;
}

/**
 * A worker from an event's data. In one process the bus hands over the snapshot itself; over etcd the
 * data arrives as parsed JSON, with dates as ISO strings. Either way the result has real `Date`s.
 * Throws a TypeError when the data is not a worker snapshot.
 */
export function reviveWorker(data: unknown): Worker {
  if (!isRecord(data) || typeof data.id !== 'string' || typeof data.revision !== 'number') {
    throw new TypeError('worker snapshot: not a worker (id and revision are required)');
  }
  const w = data as unknown as Worker;
  const reservations = Array.isArray(w.reservations) ? w.reservations : [];
  return {
    ...w,
    nodeDefinitions: Array.isArray(w.nodeDefinitions) ? w.nodeDefinitions : [],
    reservations: reservations.map((r, i) => ({ ...r, reservedAt: reviveDate(r.reservedAt, `reservations[${i}].reservedAt`) })),
    idleSince: w.idleSince === null || w.idleSince === undefined ? null : reviveDate(w.idleSince, 'idleSince'),
    createdAt: reviveDate(w.createdAt, 'createdAt'),
    updatedAt: reviveDate(w.updatedAt, 'updatedAt'),
  };
}
