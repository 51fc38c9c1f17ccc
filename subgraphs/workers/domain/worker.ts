/**
 * The CmlWorker aggregate: creation from a template, status transitions through the worker state
 * machine, facts reported by the worker-controller, and the atomic capacity + port reservation of a
 * session. Pure functions: they take a worker and return the next worker (revision + 1), or report
 * that nothing changed, or throw an LcmError (BAD_USER_INPUT naming the field, CONFLICT,
 * INVALID_TRANSITION). Saving the result is one conditional write of the worker document.
 */
import { isIP } from 'node:net';
import { LicenseType, WorkerStatus, values } from '../../../core/domain/enums.ts';
import { workerStateMachine } from '../../../core/domain/worker-state-machine.ts';
import { badInput, conflict, invalidTransition } from '../../../core/errors.ts';
import { allocatedCapacity, checkCapacity, describeAmount, exceededDimension, sameCapacity } from '../../../core/domain/capacity.ts';
import type { Capacity, Reservation, Worker, WorkerTemplate } from './model.ts';
import { placementRefusal, type CapacityRequest } from '../../../core/domain/placement.ts';
import { DEFAULT_PORT_RANGE, heldPorts, lowestFreePorts, type PortRange } from '../../../core/domain/tcp-ports.ts';

/** The result of a command that may leave the worker as it was (no write, no event). */
export interface WorkerUpdate {
  worker: Worker;
  changed: boolean;
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;
const WORKER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const PORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const EC2_INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const AMI_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/;
const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const CML_VERSION = /^\d+(?:\.\d+){1,3}(?:[-+][0-9A-Za-z.+-]{1,40})?$/;
const MAX_PORTS_PER_SESSION = 64;
const MAX_NODE_DEFINITIONS = 1000;
const MAX_SYSTEM_STATS_BYTES = 64 * 1024;

/** Desired statuses the worker-controller knows how to drive a worker towards. */
export const DESIRABLE_STATUSES: readonly WorkerStatus[] = [WorkerStatus.RUNNING, WorkerStatus.STOPPED, WorkerStatus.TERMINATED];

/** A trimmed, printable string of 1..max characters, or throw BAD_USER_INPUT naming `field`. */
function text(field: string, value: string, max: number, pattern?: RegExp, hint?: string): string {
  const v = value.trim();
  if (v.length < 1 || v.length > max || CONTROL.test(v)) throw badInput(field, `must be 1–${max} printable characters`);
  if (pattern && !pattern.test(v)) throw badInput(field, hint ?? `has an invalid format: "${v}"`);
  return v;
}

const optionalText = (field: string, value: string | null | undefined, max: number): string | null =>
  value === null || value === undefined || value.trim() === '' ? null : text(field, value, max);

function bump(worker: Worker, changes: Partial<Worker>, now: Date): Worker {
  return { ...worker, ...changes, revision: worker.revision + 1, updatedAt: now };
}

// ---------------------------------------------------------------------------------------------------
// Creation

/** A request for a new worker, as the resource-scheduler sends it. */
export interface WorkerRequest {
  templateName: string;
  name?: string | null;
  reason?: string | null;
  requestKey?: string | null;
}

/** A validated request: fields trimmed, empty optionals as null. */
export interface NormalisedWorkerRequest {
  templateName: string;
  name: string | null;
  reason: string | null;
  requestKey: string | null;
}

export function normaliseWorkerRequest(input: WorkerRequest): NormalisedWorkerRequest {
  return {
    templateName: text('input.templateName', input.templateName, 64),
    name:
      input.name === null || input.name === undefined
        ? null
        : text('input.name', input.name, 128, WORKER_NAME, 'must start with a letter or digit and use only letters, digits, `.`, `_` and `-` (at most 128)'),
    reason: optionalText('input.reason', input.reason, 500),
    requestKey: optionalText('input.requestKey', input.requestKey, 200),
  };
}

/**
 * A new PENDING worker from an enabled template: declared capacity and licence from the template,
 * desired status RUNNING, no reservations. The name is generated (`cml-<template>-<6 chars of the
 * id>`) when the request has none.
 */
export function createWorker(template: WorkerTemplate, request: NormalisedWorkerRequest, id: string, now: Date): Worker {
  if (!template.enabled) {
    throw conflict(`worker template "${template.name}" is disabled; it cannot be used for new workers`, { templateName: template.name });
  }
  const worker: Worker = {
    id,
    revision: 1,
    name: request.name ?? `cml-${template.name}-${id.slice(-6)}`,
    status: WorkerStatus.PENDING,
    desiredStatus: WorkerStatus.RUNNING,
    statusReason: request.reason ?? 'requested',
    desiredStatusReason: null,
    templateName: template.name,
    instanceType: template.instanceType,
    ec2InstanceId: null,
    amiId: null,
    ipAddress: null,
    region: null,
    cmlVersion: null,
    nodeDefinitions: [],
    licenseType: template.licenseType,
    licenseStatus: null,
    declaredCapacity: { ...template.capacity },
    reservations: [],
    systemStats: null,
    idleSince: null,
    createdAt: now,
    updatedAt: now,
  };
  if (request.requestKey !== null) worker.requestKey = request.requestKey;
  return worker;
}

// ---------------------------------------------------------------------------------------------------
// Lifecycle

/**
 * Move the worker to `to` if the transition table allows it, recording the reason. Reaching RUNNING
 * with no sessions starts the idle clock; reaching TERMINATED also makes TERMINATED the desired status
 * (nothing else is possible any more). With `expectedRevision`, the caller's view must be current
 * (CONFLICT otherwise).
 */
export function transitionWorker(
  worker: Worker,
  to: WorkerStatus,
  reason: string | null | undefined,
  now: Date,
  expectedRevision?: number | null,
): Worker {
  if (expectedRevision !== null && expectedRevision !== undefined && expectedRevision !== worker.revision) {
    throw conflict(`worker ${worker.id} is at revision ${worker.revision}, not the expected ${expectedRevision}`, {
      id: worker.id,
      revision: worker.revision,
      expectedRevision,
    });
  }
  if (!workerStateMachine.canTransition(worker.status, to)) throw invalidTransition('CmlWorker', worker.status, to);
  const changes: Partial<Worker> = { status: to, statusReason: optionalText('reason', reason, 500) };
  if (to === WorkerStatus.RUNNING && worker.reservations.length === 0) changes.idleSince = now;
  if (to === WorkerStatus.TERMINATED) changes.desiredStatus = WorkerStatus.TERMINATED;
  return bump(worker, changes, now);
}

/**
 * Set the status the worker-controller drives the worker towards: RUNNING, STOPPED or TERMINATED.
 * Stopping a worker that hosts sessions is refused (drain it first), which also makes scale-down safe
 * against a concurrent reservation: whichever conditional write lands first wins, and a worker whose
 * desired status is not RUNNING accepts no new reservation. Terminating is always allowed.
 */
export function setDesiredStatus(worker: Worker, desired: WorkerStatus, reason: string | null | undefined, now: Date): WorkerUpdate {
  if (!DESIRABLE_STATUSES.includes(desired)) {
    throw badInput('desiredStatus', `must be one of ${DESIRABLE_STATUSES.join(', ')}; got ${desired}`);
  }
  const why = optionalText('reason', reason, 500);
  if (worker.desiredStatus === desired) return { worker, changed: false };
  if (worker.status === WorkerStatus.TERMINATED) {
    throw conflict(`worker ${worker.id} is TERMINATED; its desired status cannot become ${desired}`, { id: worker.id, status: worker.status });
  }
  if (desired === WorkerStatus.STOPPED && worker.reservations.length > 0) {
    throw conflict(
      `worker ${worker.id} hosts ${worker.reservations.length} session(s); release them before stopping it`,
      { id: worker.id, sessions: worker.reservations.length },
    );
  }
  return { worker: bump(worker, { desiredStatus: desired, desiredStatusReason: why }, now), changed: true };
}

// ---------------------------------------------------------------------------------------------------
// Facts reported by the worker-controller

/** What the worker-controller learned from EC2. Absent fields are left as they are. */
export interface WorkerInstanceFacts {
  ec2InstanceId?: string | null;
  instanceType?: string | null;
  amiId?: string | null;
  ipAddress?: string | null;
  region?: string | null;
}

/** Record EC2 facts; unchanged facts write nothing (the controller reports on every pass). */
export function recordInstance(worker: Worker, facts: WorkerInstanceFacts, now: Date): WorkerUpdate {
  const changes: Partial<Worker> = {};
  if (facts.ec2InstanceId != null) {
    changes.ec2InstanceId = text('input.ec2InstanceId', facts.ec2InstanceId, 19, EC2_INSTANCE_ID, 'must be an EC2 instance id like i-0123456789abcdef0');
  }
  if (facts.instanceType != null) {
    changes.instanceType = text('input.instanceType', facts.instanceType, 64, INSTANCE_TYPE, 'must be an EC2 instance type like m5zn.metal');
  }
  if (facts.amiId != null) changes.amiId = text('input.amiId', facts.amiId, 21, AMI_ID, 'must be an AMI id like ami-0123456789abcdef0');
  if (facts.ipAddress != null) {
    const ip = text('input.ipAddress', facts.ipAddress, 45);
    if (isIP(ip) === 0) throw badInput('input.ipAddress', `must be an IPv4 or IPv6 address; got "${ip}"`);
    changes.ipAddress = ip;
  }
  if (facts.region != null) changes.region = text('input.region', facts.region, 32, AWS_REGION, 'must be an AWS region like us-east-1');
  return applyIfChanged(worker, changes, now);
}

/** What the worker-controller learned from CML. Absent fields are left as they are. */
export interface WorkerObservation {
  cmlVersion?: string | null;
  nodeDefinitions?: readonly string[] | null;
  licenseType?: LicenseType | null;
  licenseStatus?: string | null;
  declaredCapacity?: Capacity | null;
  systemStats?: unknown;
}

/**
 * Record CML facts. A declared capacity below what the sessions already hold, or a PERSONAL licence on
 * a worker hosting several sessions, is refused with CONFLICT (the invariants hold for every write).
 */
export function recordObservation(worker: Worker, observation: WorkerObservation, now: Date): WorkerUpdate {
  const changes: Partial<Worker> = {};
  if (observation.cmlVersion != null) {
    changes.cmlVersion = text('input.cmlVersion', observation.cmlVersion, 64, CML_VERSION, 'must be a CML version like 2.8.1');
  }
  if (observation.nodeDefinitions != null) {
    if (observation.nodeDefinitions.length > MAX_NODE_DEFINITIONS) {
      throw badInput('input.nodeDefinitions', `has more than ${MAX_NODE_DEFINITIONS} entries`);
    }
    const defs = observation.nodeDefinitions.map((d, i) => text(`input.nodeDefinitions[${i}]`, d, 128));
    changes.nodeDefinitions = [...new Set(defs)].sort();
  }
  if (observation.licenseType != null) {
    if (!(values(LicenseType) as string[]).includes(observation.licenseType)) {
      throw badInput('input.licenseType', `unknown licence type ${String(observation.licenseType)}`);
    }
    if (observation.licenseType === LicenseType.PERSONAL && worker.reservations.length > 1) {
      throw conflict(`worker ${worker.id} hosts ${worker.reservations.length} sessions; a PERSONAL licence allows one`, {
        id: worker.id,
        sessions: worker.reservations.length,
      });
    }
    changes.licenseType = observation.licenseType;
  }
  if (observation.licenseStatus != null) changes.licenseStatus = text('input.licenseStatus', observation.licenseStatus, 64);
  if (observation.declaredCapacity != null) {
    const declared = checkCapacity('input.declaredCapacity', observation.declaredCapacity, { positive: true });
    const allocated = allocatedCapacity(worker);
    const short = exceededDimension(allocated, declared);
    if (short) {
      throw conflict(
        `worker ${worker.id}: declared ${describeAmount(short, declared[short])} is below the ${describeAmount(short, allocated[short])} its sessions hold (${short})`,
        { id: worker.id, dimension: short, declared: declared[short], allocated: allocated[short] },
      );
    }
    changes.declaredCapacity = declared;
  }
  if (observation.systemStats !== undefined && observation.systemStats !== null) {
    changes.systemStats = checkSystemStats(observation.systemStats);
  }
  return applyIfChanged(worker, changes, now);
}

/** System statistics: a JSON object of bounded size whose keys a document store accepts. */
function checkSystemStats(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badInput('input.systemStats', 'must be a JSON object');
  const json = JSON.stringify(value);
  if (json.length > MAX_SYSTEM_STATS_BYTES) throw badInput('input.systemStats', `must be at most ${MAX_SYSTEM_STATS_BYTES} bytes of JSON`);
  const badKey = (v: unknown): string | undefined => {
    if (typeof v !== 'object' || v === null) return undefined;
    for (const [k, child] of Object.entries(v)) {
      if (k.startsWith('$') || k.includes('.')) return k;
      const inner = badKey(child);
      if (inner !== undefined) return inner;
    }
    return undefined;
  };
  const key = badKey(value);
  if (key !== undefined) throw badInput('input.systemStats', `keys must not start with "$" or contain "."; got "${key}"`);
  return JSON.parse(json) as Record<string, unknown>;
}

const sameValue = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
};

function applyIfChanged(worker: Worker, changes: Partial<Worker>, now: Date): WorkerUpdate {
  const differs = (Object.keys(changes) as Array<keyof Worker>).some((k) =>
    k === 'declaredCapacity'
      ? !sameCapacity(worker.declaredCapacity, changes.declaredCapacity as Capacity)
      : !sameValue(worker[k], changes[k]),
  );
  return differs ? { worker: bump(worker, changes, now), changed: true } : { worker, changed: false };
}

// ---------------------------------------------------------------------------------------------------
// Capacity and ports

/** Validate a reservation request: session id, capacity, unique port names, licence types. */
export function normaliseCapacityRequest(request: CapacityRequest): CapacityRequest {
  const sessionId = text('input.sessionId', request.sessionId, 128);
  const capacity = checkCapacity('input.capacity', request.capacity);
  if (request.portNames.length > MAX_PORTS_PER_SESSION) {
    throw badInput('input.portNames', `has ${request.portNames.length} ports; at most ${MAX_PORTS_PER_SESSION} per session`);
  }
  const seen = new Set<string>();
  const portNames = request.portNames.map((name, i) => {
    if (!PORT_NAME.test(name)) {
      throw badInput(`input.portNames[${i}]`, 'must be 1–64 letters, digits, `.`, `_` or `-`, starting with a letter or digit');
    }
    if (seen.has(name)) throw badInput(`input.portNames[${i}]`, `duplicates port name "${name}"`);
    seen.add(name);
    return name;
  });
  const known = values(LicenseType) as string[];
  const affinity = [...new Set(request.licenseAffinity ?? [])];
  affinity.forEach((l, i) => {
    if (!known.includes(l)) throw badInput(`input.licenseAffinity[${i}]`, `unknown licence type ${String(l)}`);
  });
  return { sessionId, capacity, portNames, licenseAffinity: affinity };
}

export interface ReservationOutcome extends WorkerUpdate {
  reservation: Reservation;
}

/**
 * Reserve capacity and ports for a session, atomically on this worker state: the worker must be
 * RUNNING (and meant to stay so), satisfy the licence affinity, have room on every dimension (a
 * PERSONAL worker: no other session), and the session gets the lowest free ports of the range, one
 * per name. Reserving again for a session that holds a reservation returns it unchanged.
 */
export function reserveCapacity(
  worker: Worker,
  input: CapacityRequest,
  now: Date,
  portRange: PortRange = DEFAULT_PORT_RANGE,
): ReservationOutcome {
  const request = normaliseCapacityRequest(input);
  const existing = worker.reservations.find((r) => r.sessionId === request.sessionId);
  if (existing) return { worker, reservation: existing, changed: false };

  const refusal = placementRefusal(worker, request, portRange);
  if (refusal) {
    throw conflict(refusal.message, {
      workerId: worker.id,
      reason: refusal.reason,
      ...(refusal.dimension ? { dimension: refusal.dimension } : {}),
    });
  }
  const ports = lowestFreePorts(heldPorts(worker), request.portNames.length, portRange);
  if (!ports) throw conflict(`worker ${worker.id} has too few free ports`, { workerId: worker.id, reason: 'ports' });

  const reservation: Reservation = {
    sessionId: request.sessionId,
    capacity: request.capacity,
    ports: request.portNames.map((name, i) => ({ name, port: ports[i] as number })),
    reservedAt: now,
  };
  const next = bump(worker, { reservations: [...worker.reservations, reservation], idleSince: null }, now);
  return { worker: next, reservation, changed: true };
}

export interface ReleaseOutcome extends WorkerUpdate {
  /** The reservation given up, or undefined when the session held none (a no-op). */
  released: Reservation | undefined;
}

/**
 * Give up a session's reservation, in any status. Releasing what is not held changes nothing. When
 * the last reservation goes, the idle clock starts.
 */
export function releaseCapacity(worker: Worker, sessionId: string, now: Date): ReleaseOutcome {
  const id = text('sessionId', sessionId, 128);
  const released = worker.reservations.find((r) => r.sessionId === id);
  if (!released) return { worker, released: undefined, changed: false };
  const reservations = worker.reservations.filter((r) => r.sessionId !== id);
  const changes: Partial<Worker> = { reservations };
  if (reservations.length === 0) changes.idleSince = now;
  return { worker: bump(worker, changes, now), released, changed: true };
}
