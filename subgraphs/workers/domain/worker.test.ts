import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LicenseType, WorkerStatus } from '../../../core/domain/enums.ts';
import { ErrorCode, LcmError } from '../../../core/errors.ts';
import { allocatedCapacity, availableCapacity, CAPACITY_DIMENSIONS, sumCapacity } from '../../../core/domain/capacity.ts';
import type { Capacity, Worker, WorkerTemplate } from './model.ts';
import { reviveWorker } from './model.ts';
import { licenseSatisfies, placementRefusal } from '../../../core/domain/placement.ts';
import { DEFAULT_PORT_RANGE, heldPorts, type PortRange } from '../../../core/domain/tcp-ports.ts';
import {
  createWorker,
  normaliseWorkerRequest,
  recordInstance,
  recordObservation,
  releaseCapacity,
  reserveCapacity,
  setDesiredStatus,
  transitionWorker,
} from './worker.ts';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

const template = (over: Partial<WorkerTemplate> = {}): WorkerTemplate => ({
  id: 'wtpl_x',
  revision: 1,
  name: 'metal',
  description: null,
  instanceType: 'm5zn.metal',
  amiNamePattern: 'CML-*',
  capacity: { cpuCores: 10, memoryGb: 40, storageGb: 100, maxNodes: 20 },
  licenseType: LicenseType.ENTERPRISE,
  costPerHour: 3.9641,
  enabled: true,
  createdAt: T0,
  updatedAt: T0,
  ...over,
});

/** A RUNNING worker with the given declaration and licence. */
function runningWorker(over: Partial<WorkerTemplate> = {}): Worker {
  let w = createWorker(template(over), normaliseWorkerRequest({ templateName: 'metal' }), 'wkr_000000000000abcdefghij', T0);
  w = transitionWorker(w, WorkerStatus.PROVISIONING, null, at(1));
  return transitionWorker(w, WorkerStatus.RUNNING, 'instance running', at(2));
}

const cap = (cpuCores: number, memoryGb = 1, storageGb = 1, maxNodes = 1): Capacity => ({ cpuCores, memoryGb, storageGb, maxNodes });

function errorOf(fn: () => unknown): LcmError {
  try {
    fn();
  } catch (e) {
    if (e instanceof LcmError) return e;
    throw e;
  }
  throw new Error('expected an LcmError');
}

describe('CmlWorker creation and lifecycle', () => {
  it('creates a PENDING worker from a template with a generated name and the template capacity and licence', () => {
    const w = createWorker(template(), normaliseWorkerRequest({ templateName: 'metal', requestKey: ' k1 ' }), 'wkr_000000000000abcdefghij', T0);
    expect(w).toMatchObject({
      name: 'cml-metal-efghij',
      status: 'PENDING',
      desiredStatus: 'RUNNING',
      statusReason: 'requested',
      licenseType: 'ENTERPRISE',
      declaredCapacity: { cpuCores: 10, memoryGb: 40, storageGb: 100, maxNodes: 20 },
      reservations: [],
      idleSince: null,
      requestKey: 'k1',
      revision: 1,
    });
    const noKey = createWorker(template(), normaliseWorkerRequest({ templateName: 'metal', name: 'my-worker' }), 'wkr_000000000000abcdefghij', T0);
    expect(noKey.name).toBe('my-worker');
    expect('requestKey' in noKey).toBe(false);
  });

  it('refuses a disabled template (CONFLICT) and a bad name (BAD_USER_INPUT naming input.name)', () => {
    expect(errorOf(() => createWorker(template({ enabled: false }), normaliseWorkerRequest({ templateName: 'metal' }), 'wkr_x', T0)).code).toBe(
      ErrorCode.CONFLICT,
    );
    const e = errorOf(() => normaliseWorkerRequest({ templateName: 'metal', name: '-bad name' }));
    expect(e.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(e.details.field).toBe('input.name');
  });

  it('transitions through the state machine, recording the reason; an invalid transition names both statuses', () => {
    const w = runningWorker();
    expect(w).toMatchObject({ status: 'RUNNING', statusReason: 'instance running', revision: 3, idleSince: at(2) });
    const e = errorOf(() => transitionWorker(w, WorkerStatus.PROVISIONING, null, at(3)));
    expect(e.code).toBe(ErrorCode.INVALID_TRANSITION);
    expect(e.message).toContain('RUNNING');
    expect(e.message).toContain('PROVISIONING');
    expect(e.details).toMatchObject({ from: 'RUNNING', to: 'PROVISIONING' });
    const stale = errorOf(() => transitionWorker(w, WorkerStatus.DRAINING, null, at(3), 2));
    expect(stale.code).toBe(ErrorCode.CONFLICT);
    const gone = transitionWorker(w, WorkerStatus.TERMINATED, 'lost', at(3));
    expect(gone).toMatchObject({ status: 'TERMINATED', desiredStatus: 'TERMINATED', statusReason: 'lost' });
  });

  it('sets the desired status: only RUNNING/STOPPED/TERMINATED, no-op when equal, no STOPPED while hosting sessions', () => {
    const w = runningWorker();
    expect(setDesiredStatus(w, WorkerStatus.RUNNING, null, at(3)).changed).toBe(false);
    expect(errorOf(() => setDesiredStatus(w, WorkerStatus.DRAINING, null, at(3))).details.field).toBe('desiredStatus');
    const busy = reserveCapacity(w, { sessionId: 's1', capacity: cap(1), portNames: [] }, at(3)).worker;
    expect(errorOf(() => setDesiredStatus(busy, WorkerStatus.STOPPED, 'scale down', at(4))).code).toBe(ErrorCode.CONFLICT);
    const stopping = setDesiredStatus(w, WorkerStatus.STOPPED, 'scale down', at(4));
    expect(stopping.worker).toMatchObject({ desiredStatus: 'STOPPED', desiredStatusReason: 'scale down', revision: w.revision + 1 });
    // A worker being stopped accepts no new sessions: scale-down and placement cannot both win.
    const refused = errorOf(() => reserveCapacity(stopping.worker, { sessionId: 's2', capacity: cap(1), portNames: [] }, at(5)));
    expect(refused.code).toBe(ErrorCode.CONFLICT);
    expect(refused.details.reason).toBe('status');
    expect(setDesiredStatus(busy, WorkerStatus.TERMINATED, 'forced', at(4)).changed).toBe(true);
  });

  it('records EC2 facts with validation, and writes nothing when they are unchanged', () => {
    const w = runningWorker();
    const facts = { ec2InstanceId: 'i-0123456789abcdef0', ipAddress: '10.0.0.7', region: 'us-east-1', amiId: 'ami-0123456789abcdef0' };
    const first = recordInstance(w, facts, at(3));
    expect(first.changed).toBe(true);
    expect(first.worker).toMatchObject({ ...facts, revision: w.revision + 1 });
    expect(recordInstance(first.worker, facts, at(4)).changed).toBe(false);
    expect(errorOf(() => recordInstance(w, { ipAddress: '10.0.0.300' }, at(3))).details.field).toBe('input.ipAddress');
    expect(errorOf(() => recordInstance(w, { ec2InstanceId: 'instance-1' }, at(3))).details.field).toBe('input.ec2InstanceId');
    expect(errorOf(() => recordInstance(w, { region: 'mars' }, at(3))).details.field).toBe('input.region');
  });

  it('records CML observations; a declared capacity below what is allocated is a CONFLICT naming the dimension', () => {
    let w = runningWorker();
    w = reserveCapacity(w, { sessionId: 's1', capacity: cap(4, 8, 10, 3), portNames: [] }, at(3)).worker;
    const observed = recordObservation(
      w,
      { cmlVersion: '2.8.1', nodeDefinitions: ['iosv', 'alpine', 'iosv'], licenseStatus: 'REGISTERED', systemStats: { cpu: 12.5 } },
      at(4),
    );
    expect(observed.worker).toMatchObject({ cmlVersion: '2.8.1', nodeDefinitions: ['alpine', 'iosv'], licenseStatus: 'REGISTERED', systemStats: { cpu: 12.5 } });
    const e = errorOf(() => recordObservation(w, { declaredCapacity: { cpuCores: 16, memoryGb: 6, storageGb: 100, maxNodes: 20 } }, at(4)));
    expect(e.code).toBe(ErrorCode.CONFLICT);
    expect(e.details.dimension).toBe('memoryGb');
    expect(e.message).toContain('memoryGb');
    const bigger = recordObservation(w, { declaredCapacity: { cpuCores: 16, memoryGb: 64, storageGb: 100, maxNodes: 20 } }, at(4));
    expect(availableCapacity(bigger.worker)).toEqual({ cpuCores: 12, memoryGb: 56, storageGb: 90, maxNodes: 17 });
    expect(errorOf(() => recordObservation(w, { systemStats: { 'a.b': 1 } }, at(4))).details.field).toBe('input.systemStats');
    const two = reserveCapacity(w, { sessionId: 's2', capacity: cap(1), portNames: [] }, at(5)).worker;
    expect(errorOf(() => recordObservation(two, { licenseType: LicenseType.PERSONAL }, at(6))).code).toBe(ErrorCode.CONFLICT);
  });

  it('revives a worker snapshot that travelled as JSON (dates as strings)', () => {
    const w = reserveCapacity(runningWorker(), { sessionId: 's1', capacity: cap(1), portNames: ['ssh'] }, at(3)).worker;
    const revived = reviveWorker(JSON.parse(JSON.stringify(w)));
    expect(revived).toEqual(w);
    expect(revived.createdAt).toBeInstanceOf(Date);
    expect(revived.reservations[0]?.reservedAt).toBeInstanceOf(Date);
    expect(() => reviveWorker({ nope: true })).toThrow(TypeError);
  });
});

describe('capacity and port reservation', () => {
  it('reserves the lowest free ports, derives allocated and available capacity, and clears idleSince', () => {
    const w = runningWorker();
    const a = reserveCapacity(w, { sessionId: 'a', capacity: cap(2, 4, 10, 2), portNames: ['ssh', 'vnc'] }, at(3));
    expect(a.reservation.ports).toEqual([
      { name: 'ssh', port: 2000 },
      { name: 'vnc', port: 2001 },
    ]);
    expect(a.worker.idleSince).toBeNull();
    const b = reserveCapacity(a.worker, { sessionId: 'b', capacity: cap(1.5, 4, 10, 2), portNames: ['console'] }, at(4));
    expect(b.reservation.ports).toEqual([{ name: 'console', port: 2002 }]);
    expect(allocatedCapacity(b.worker)).toEqual({ cpuCores: 3.5, memoryGb: 8, storageGb: 20, maxNodes: 4 });
    expect(availableCapacity(b.worker)).toEqual({ cpuCores: 6.5, memoryGb: 32, storageGb: 80, maxNodes: 16 });
    // Release then reserve reuses the lowest port.
    const released = releaseCapacity(b.worker, 'a', at(5));
    expect(released.released?.sessionId).toBe('a');
    const c = reserveCapacity(released.worker, { sessionId: 'c', capacity: cap(1), portNames: ['x', 'y', 'z'] }, at(6));
    expect(c.reservation.ports.map((p) => p.port)).toEqual([2000, 2001, 2003]);
  });

  it('is idempotent: reserving again for a session returns its reservation; releasing twice is a no-op', () => {
    const w = runningWorker();
    const first = reserveCapacity(w, { sessionId: 's', capacity: cap(1), portNames: ['ssh'] }, at(3));
    const again = reserveCapacity(first.worker, { sessionId: 's', capacity: cap(9), portNames: ['a', 'b'] }, at(4));
    expect(again.changed).toBe(false);
    expect(again.worker).toBe(first.worker);
    expect(again.reservation).toEqual(first.reservation);
    const r1 = releaseCapacity(first.worker, 's', at(5));
    expect(r1.changed).toBe(true);
    expect(r1.worker.idleSince).toEqual(at(5));
    const r2 = releaseCapacity(r1.worker, 's', at(6));
    expect(r2.changed).toBe(false);
    expect(r2.worker).toBe(r1.worker);
  });

  it.each([
    ['a worker that is not RUNNING', () => transitionWorker(runningWorker(), WorkerStatus.DRAINING, null, at(3)), { capacity: cap(1) }, 'status'],
    ['capacity above declared', () => runningWorker(), { capacity: cap(1, 41) }, 'capacity'],
    ['a licence outside the affinity', () => runningWorker(), { capacity: cap(1), licenseAffinity: [LicenseType.EVALUATION] }, 'license'],
  ] as const)('refuses %s with CONFLICT', (_, worker, request, reason) => {
    const e = errorOf(() => reserveCapacity(worker(), { sessionId: 's', portNames: [], ...request }, at(4)));
    expect(e.code).toBe(ErrorCode.CONFLICT);
    expect(e.details.reason).toBe(reason);
    if (reason === 'capacity') expect(e.message).toContain('memoryGb');
    if (reason === 'status') expect(e.message).toContain('DRAINING');
  });

  it('hosts one session on a PERSONAL worker', () => {
    const w = runningWorker({ licenseType: LicenseType.PERSONAL });
    const one = reserveCapacity(w, { sessionId: 'a', capacity: cap(1), portNames: [], licenseAffinity: [LicenseType.PERSONAL] }, at(3));
    const e = errorOf(() => reserveCapacity(one.worker, { sessionId: 'b', capacity: cap(1), portNames: [] }, at(4)));
    expect(e.code).toBe(ErrorCode.CONFLICT);
    expect(e.details.reason).toBe('personal-licence');
  });

  it('refuses duplicate port names and bad capacities with BAD_USER_INPUT naming the field', () => {
    const w = runningWorker();
    const dup = errorOf(() => reserveCapacity(w, { sessionId: 's', capacity: cap(1), portNames: ['ssh', 'vnc', 'ssh'] }, at(3)));
    expect(dup).toMatchObject({ code: ErrorCode.BAD_USER_INPUT, details: { field: 'input.portNames[2]' } });
    const neg = errorOf(() => reserveCapacity(w, { sessionId: 's', capacity: cap(-1), portNames: [] }, at(3)));
    expect(neg.details.field).toBe('input.capacity.cpuCores');
    const frac = errorOf(() => reserveCapacity(w, { sessionId: 's', capacity: cap(1, 1, 1, 1.5), portNames: [] }, at(3)));
    expect(frac.details.field).toBe('input.capacity.maxNodes');
  });

  it('refuses when the range has too few free ports (CONFLICT)', () => {
    const range = { min: 2000, max: 2002 };
    const w = reserveCapacity(runningWorker(), { sessionId: 'a', capacity: cap(0), portNames: ['p1', 'p2'] }, at(3), range).worker;
    const e = errorOf(() => reserveCapacity(w, { sessionId: 'b', capacity: cap(0), portNames: ['p1', 'p2'] }, at(4), range));
    expect(e.details.reason).toBe('ports');
    expect(reserveCapacity(w, { sessionId: 'b', capacity: cap(0), portNames: ['p1'] }, at(4), range).reservation.ports[0]?.port).toBe(2002);
  });

  it('keeps float sums exact enough: 0.1 + 0.2 cores fit in 0.3', () => {
    let w = runningWorker({ capacity: { cpuCores: 0.3, memoryGb: 1, storageGb: 0, maxNodes: 2 } });
    w = reserveCapacity(w, { sessionId: 'a', capacity: cap(0.1, 0, 0, 1), portNames: [] }, at(3)).worker;
    w = reserveCapacity(w, { sessionId: 'b', capacity: cap(0.2, 0, 0, 1), portNames: [] }, at(4)).worker;
    expect(availableCapacity(w).cpuCores).toBe(0);
  });

  it('applies the licence rule of the original placement engine', () => {
    expect(licenseSatisfies(LicenseType.ENTERPRISE, [LicenseType.PERSONAL])).toBe(true);
    expect(licenseSatisfies(LicenseType.PERSONAL, [LicenseType.ENTERPRISE])).toBe(false);
    expect(licenseSatisfies(LicenseType.EVALUATION, [LicenseType.EVALUATION])).toBe(true);
    expect(licenseSatisfies(null, [])).toBe(true);
    expect(licenseSatisfies(null, [LicenseType.ENTERPRISE])).toBe(false);
  });
});

describe('reservation invariants (property-based)', () => {
  const sessions = ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'];
  // Quarter units keep float sums exact, so the model below can compare without tolerance.
  const quarter = (max: number) => fc.integer({ min: 0, max: max * 4 }).map((n) => n / 4);
  const capacityArb = fc.record({ cpuCores: quarter(6), memoryGb: quarter(16), storageGb: quarter(50), maxNodes: fc.integer({ min: 0, max: 6 }) });
  const commandArb = fc.oneof(
    fc.record({ kind: fc.constant('reserve' as const), session: fc.constantFrom(...sessions), capacity: capacityArb, ports: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constant('release' as const), session: fc.constantFrom(...sessions) }),
  );
  const declaredArb = fc.record({
    cpuCores: quarter(16).filter((v) => v > 0),
    memoryGb: quarter(48).filter((v) => v > 0),
    storageGb: quarter(150),
    maxNodes: fc.integer({ min: 1, max: 20 }),
  });

  function lowestFree(held: Set<number>, n: number, range: PortRange): number[] | undefined {
    const free: number[] = [];
    for (let p = range.min; p <= range.max; p++) if (!held.has(p)) free.push(p);
    return free.length >= n ? free.slice(0, n) : undefined;
  }

  function checkInvariants(w: Worker, range: PortRange): void {
    const allocated = allocatedCapacity(w);
    expect(allocated).toEqual(sumCapacity(w.reservations.map((r) => r.capacity)));
    for (const d of CAPACITY_DIMENSIONS) expect(allocated[d]).toBeLessThanOrEqual(w.declaredCapacity[d]);
    const ports = w.reservations.flatMap((r) => r.ports.map((p) => p.port));
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(range.min);
      expect(p).toBeLessThanOrEqual(range.max);
    }
    if (w.licenseType === LicenseType.PERSONAL) expect(w.reservations.length).toBeLessThanOrEqual(1);
    expect(new Set(w.reservations.map((r) => r.sessionId)).size).toBe(w.reservations.length);
    expect(w.idleSince === null).toBe(w.reservations.length > 0);
  }

  const scenario = (rangeArb: fc.Arbitrary<PortRange>) =>
    fc.property(
      fc.constantFrom(LicenseType.ENTERPRISE, LicenseType.PERSONAL),
      declaredArb,
      rangeArb,
      fc.array(commandArb, { maxLength: 60 }),
      (licenseType, declared, range, commands) => {
        let w = runningWorker({ licenseType, capacity: declared });
        let clock = 10;
        for (const c of commands) {
          const now = at(clock++);
          if (c.kind === 'release') {
            const had = w.reservations.some((r) => r.sessionId === c.session);
            const out = releaseCapacity(w, c.session, now);
            expect(out.changed).toBe(had);
            expect(out.worker.reservations.some((r) => r.sessionId === c.session)).toBe(false);
            w = out.worker;
          } else {
            const portNames = Array.from({ length: c.ports }, (_, i) => `p${i}`);
            const request = { sessionId: c.session, capacity: c.capacity, portNames };
            const existing = w.reservations.find((r) => r.sessionId === c.session);
            const used = allocatedCapacity(w);
            const expectedPorts = lowestFree(heldPorts(w), c.ports, range);
            const fits =
              (licenseType !== LicenseType.PERSONAL || w.reservations.length === 0) &&
              CAPACITY_DIMENSIONS.every((d) => used[d] + c.capacity[d] <= declared[d]) &&
              expectedPorts !== undefined;
            // The scheduler's filter and the aggregate agree with the model.
            if (!existing) expect(placementRefusal(w, request, range) === undefined).toBe(fits);
            if (existing) {
              const out = reserveCapacity(w, request, now, range);
              expect(out.changed).toBe(false);
              expect(out.reservation).toEqual(existing);
            } else if (fits) {
              const out = reserveCapacity(w, request, now, range);
              expect(out.reservation.ports.map((p) => p.port)).toEqual(expectedPorts);
              w = out.worker;
            } else {
              const e = errorOf(() => reserveCapacity(w, request, now, range));
              expect(e.code).toBe(ErrorCode.CONFLICT);
            }
          }
          checkInvariants(w, range);
        }
      },
    );

  it('never allocates above declared, never holds a port twice, hands out the lowest free ports (2000–9999), PERSONAL ≤ 1 session', () => {
    fc.assert(scenario(fc.constant(DEFAULT_PORT_RANGE)), { numRuns: 300 });
  });

  it('keeps the same invariants when the port range runs out', () => {
    fc.assert(scenario(fc.integer({ min: 0, max: 8 }).map((extra) => ({ min: 2000, max: 2000 + extra }))), { numRuns: 300 });
  });
});
