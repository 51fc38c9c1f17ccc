import { describe, expect, it } from 'vitest';
import type { Capacity } from '../../core/domain/capacity.ts';
import { LicenseType, WorkerStatus } from '../../core/domain/enums.ts';
import type { SchedulingWorker, SessionDemand, TemplateOffer } from '../../core/domain/scheduling.ts';
import { firstFit, firstFitScaleUp } from './first-fit.ts';
import { binPackingLowerBound } from './lower-bound.ts';

const cap = (cpuCores: number, memoryGb = cpuCores, storageGb = cpuCores, maxNodes = 1): Capacity => ({ cpuCores, memoryGb, storageGb, maxNodes });
const T0 = Date.UTC(2026, 0, 1);

const worker = (id: string, over: Partial<SchedulingWorker> = {}): SchedulingWorker => ({
  id,
  templateName: 'metal',
  status: WorkerStatus.RUNNING,
  desiredStatus: WorkerStatus.RUNNING,
  licenseType: LicenseType.ENTERPRISE,
  cmlVersion: '2.9.1',
  nodeDefinitions: ['iosv'],
  declaredCapacity: cap(10, 10, 10, 10),
  reservations: [],
  ...over,
});

const session = (id: string, arrival: number, over: Partial<SessionDemand> = {}): SessionDemand => ({
  sessionId: id,
  createdAt: new Date(T0 + arrival * 1000),
  timeslotStart: null,
  timeslotEnd: null,
  bootLeadTimeMinutes: 0,
  capacity: cap(1),
  portNames: ['console'],
  licenseAffinity: [],
  cmlRequirements: null,
  ...over,
});

const where = (r: ReturnType<typeof firstFit>) => Object.fromEntries(r.placements.map((p) => [p.sessionId, p.workerId]));

describe('first-fit baseline', () => {
  it('takes sessions in arrival order and puts each on the first worker that still fits, not the best one', () => {
    // Arrival order b (6), a (5), c (4): b fills w1 to 6, a does not fit w1 (11 > 10) and goes on w2,
    // c fits w1 (10).
    const r = firstFit(
      [session('a', 2, { capacity: cap(5) }), session('b', 1, { capacity: cap(6) }), session('c', 3, { capacity: cap(4) })],
      [worker('w1'), worker('w2'), worker('w3')],
    );
    expect(r.placements.map((p) => p.sessionId)).toEqual(['b', 'a', 'c']);
    expect(where(r)).toEqual({ b: 'w1', a: 'w2', c: 'w1' });
    expect(r.unplaced).toEqual([]);
  });

  it('picks the first worker that fits even when a later one is fuller (no scoring)', () => {
    const holding = (n: number) => [{ sessionId: `x${n}`, capacity: cap(n), ports: [] }];
    const r = firstFit([session('s', 1, { capacity: cap(2) })], [worker('w1', { reservations: holding(3) }), worker('w2', { reservations: holding(8) })]);
    expect(where(r)).toEqual({ s: 'w1' });
  });

  it('skips workers the shared filter refuses (CML version, node definitions, licence, PERSONAL, status) and records ports', () => {
    const r = firstFit(
      [
        session('cml', 1, { cmlRequirements: { minVersion: '2.10.0' } }),
        session('def', 2, { cmlRequirements: { nodeDefinitions: ['asav'] } }),
        session('p1', 3, { licenseAffinity: [LicenseType.PERSONAL] }),
        session('p2', 4, { licenseAffinity: [LicenseType.PERSONAL] }),
      ],
      [
        worker('draining', { status: WorkerStatus.DRAINING }),
        worker('personal', { licenseType: LicenseType.PERSONAL }),
        worker('old', { cmlVersion: '2.9.1' }),
        worker('new', { cmlVersion: '2.10.1', nodeDefinitions: ['iosv', 'asav'] }),
      ],
    );
    expect(where(r)).toEqual({ cml: 'new', def: 'new', p1: 'personal', p2: 'old' });
    const onNew = r.workers.find((w) => w.id === 'new')!.reservations;
    expect(onNew.map((x) => x.ports[0]!.port)).toEqual([2000, 2001]);
  });

  it('leaves a session no worker can take unplaced, and does not change its input', () => {
    const fleet = [worker('w1')];
    const r = firstFit([session('big', 1, { capacity: cap(11) }), session('ok', 2)], fleet);
    expect(r.unplaced).toEqual(['big']);
    expect(where(r)).toEqual({ ok: 'w1' });
    expect(fleet[0]!.reservations).toEqual([]);
  });

  it('scale-up opens a new worker only when no opened one takes the session, and trusts the template on CML', () => {
    const template: TemplateOffer = { name: 'metal', capacity: cap(10, 10, 10, 10), licenseType: LicenseType.ENTERPRISE, costPerHour: 1, enabled: true };
    // 6, 6, 4, 4: first-fit gives [6,4] [6,4] = 2 workers.
    const r = firstFitScaleUp(
      [session('a', 1, { capacity: cap(6) }), session('b', 2, { capacity: cap(6) }), session('c', 3, { capacity: cap(4), cmlRequirements: { minVersion: '2.9.0' } }), session('d', 4, { capacity: cap(4) }), session('huge', 5, { capacity: cap(20) })],
      template,
    );
    expect(where(r)).toEqual({ a: 'new-0', b: 'new-1', c: 'new-0', d: 'new-1' });
    expect(r.workers).toHaveLength(2);
    expect(r.unplaced).toEqual(['huge']);
  });
});

describe('bin-packing lower bound', () => {
  it('is the largest per-dimension ceiling of total demand over one worker', () => {
    // cpu 3 × 4 = 12 of 10 → 2; memory 3 × 7 = 21 of 10 → 3.
    expect(binPackingLowerBound([cap(4, 7), cap(4, 7), cap(4, 7)], cap(10, 10, 10, 10))).toEqual({ workers: 3, dimension: 'memoryGb' });
  });
  it('does not round 0.1 + 0.2 of 0.3 up to two workers, and is 0 for no demand', () => {
    expect(binPackingLowerBound([cap(0.1, 0.1, 0.1, 0), cap(0.2, 0.2, 0.2, 0)], cap(0.3, 0.3, 0.3, 1)).workers).toBe(1);
    expect(binPackingLowerBound([], cap(1)).workers).toBe(0);
  });
  it('is never above what first-fit uses (a lower bound)', () => {
    const sizes = [3, 7, 2, 9, 4, 4, 1, 8, 5, 6, 2, 3];
    const r = firstFit(sizes.map((n, i) => session(`s${i}`, i, { capacity: cap(n, n / 2) })), Array.from({ length: 12 }, (_, i) => worker(`w${String(i).padStart(2, '0')}`)));
    const used = new Set(r.placements.map((p) => p.workerId)).size;
    expect(binPackingLowerBound(sizes.map((n) => cap(n, n / 2)), cap(10, 10, 10, 10)).workers).toBeLessThanOrEqual(used);
  });
});
