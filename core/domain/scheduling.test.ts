import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocatedCapacity, fitsIn, type Capacity } from './capacity.ts';
import { LicenseType, WorkerStatus } from './enums.ts';
import { cmlRefusal, cmlSemver, placementRefusal } from './placement.ts';
import { explainPlacement, planScheduling, placementScore, rankWorkers, type SchedulingWorker, type SessionDemand, type TemplateOffer } from './scheduling.ts';
import { heldPorts, lowestFreePorts } from './tcp-ports.ts';

const NOW = new Date('2026-03-01T10:00:00.000Z');
const min = (n: number) => new Date(NOW.getTime() + n * 60_000);
const cap = (cpuCores: number, memoryGb = cpuCores, storageGb = cpuCores, maxNodes = cpuCores): Capacity => ({ cpuCores, memoryGb, storageGb, maxNodes });

function worker(id: string, over: Partial<SchedulingWorker> = {}): SchedulingWorker {
  return {
    id,
    templateName: 'big',
    status: WorkerStatus.RUNNING,
    desiredStatus: WorkerStatus.RUNNING,
    licenseType: LicenseType.ENTERPRISE,
    cmlVersion: '2.9.1',
    nodeDefinitions: ['iosv', 'alpine'],
    declaredCapacity: cap(8),
    reservations: [],
    ...over,
  };
}

function session(id: string, over: Partial<SessionDemand> = {}): SessionDemand {
  return {
    sessionId: id,
    createdAt: NOW,
    timeslotStart: null,
    timeslotEnd: null,
    bootLeadTimeMinutes: 35,
    capacity: cap(1),
    portNames: ['console'],
    licenseAffinity: [],
    cmlRequirements: null,
    ...over,
  };
}

const holding = (sessionId: string, c: Capacity, ports: number[] = []) => ({
  sessionId,
  capacity: c,
  ports: ports.map((port, i) => ({ name: `p${i}`, port })),
});

const TEMPLATES: TemplateOffer[] = [
  { name: 'big', capacity: cap(8), licenseType: LicenseType.ENTERPRISE, costPerHour: 1, enabled: true },
  { name: 'small', capacity: cap(2), licenseType: LicenseType.ENTERPRISE, costPerHour: 0.5, enabled: true },
  { name: 'personal', capacity: cap(4), licenseType: LicenseType.PERSONAL, costPerHour: 0.3, enabled: true },
  { name: 'huge', capacity: cap(64), licenseType: LicenseType.ENTERPRISE, costPerHour: 100, enabled: false },
];

describe('placement filters (decision table: one worker, one session → refusal reason)', () => {
  const cases: Array<[string, Partial<SchedulingWorker>, Partial<SessionDemand>, string | undefined]> = [
    ['RUNNING worker, plain session', {}, {}, undefined],
    ['PENDING worker', { status: WorkerStatus.PENDING }, {}, 'status'],
    ['DRAINING worker', { status: WorkerStatus.DRAINING }, {}, 'status'],
    ['RUNNING but desired STOPPED', { desiredStatus: WorkerStatus.STOPPED }, {}, 'status'],
    ['ENTERPRISE worker serves PERSONAL affinity', {}, { licenseAffinity: [LicenseType.PERSONAL] }, undefined],
    ['PERSONAL worker does not serve ENTERPRISE affinity', { licenseType: LicenseType.PERSONAL }, { licenseAffinity: [LicenseType.ENTERPRISE] }, 'license'],
    ['EVALUATION worker serves only EVALUATION', { licenseType: LicenseType.EVALUATION }, { licenseAffinity: [LicenseType.PERSONAL] }, 'license'],
    ['unknown licence with an affinity', { licenseType: null }, { licenseAffinity: [LicenseType.ENTERPRISE] }, 'license'],
    ['unknown licence, no affinity', { licenseType: null }, {}, undefined],
    ['PERSONAL worker already hosting a session', { licenseType: LicenseType.PERSONAL, reservations: [holding('other', cap(1))] }, {}, 'personal-licence'],
    ['PERSONAL worker, empty', { licenseType: LicenseType.PERSONAL }, {}, undefined],
    ['cpu short', { reservations: [holding('o', cap(7.5, 0, 0, 0))] }, {}, 'capacity'],
    ['memory short', { declaredCapacity: { ...cap(8), memoryGb: 0.5 } }, {}, 'capacity'],
    ['storage short', { declaredCapacity: { ...cap(8), storageGb: 0 } }, {}, 'capacity'],
    ['nodes short', { declaredCapacity: { ...cap(8), maxNodes: 0 } }, { capacity: cap(1) }, 'capacity'],
    ['exactly full after placing (0.1 + 0.2 = 0.3)', { declaredCapacity: cap(0.3), reservations: [holding('o', cap(0.1, 0.1, 0.1, 0))] }, { capacity: { ...cap(0.2), maxNodes: 0 } }, undefined],
    ['semver: 2.10.0 is above min 2.9.0 (a string compare says no)', { cmlVersion: '2.10.0' }, { cmlRequirements: { minVersion: '2.9.0' } }, undefined],
    ['semver: 2.9.1+build.7 is within [2.9.0, 2.9.1]', { cmlVersion: '2.9.1+build.7' }, { cmlRequirements: { minVersion: '2.9.0', maxVersion: '2.9.1' } }, undefined],
    ['semver: 2.9.2 is above max 2.9.1', { cmlVersion: '2.9.2' }, { cmlRequirements: { maxVersion: '2.9.1' } }, 'cml-version'],
    ['semver: 2.9.0-rc1 is below min 2.9.0', { cmlVersion: '2.9.0-rc1' }, { cmlRequirements: { minVersion: '2.9.0' } }, 'cml-version'],
    ['semver: "2.8" is 2.8.0, below min 2.8.1', { cmlVersion: '2.8' }, { cmlRequirements: { minVersion: '2.8.1' } }, 'cml-version'],
    ['semver: four components 2.8.1.3 is 2.8.1', { cmlVersion: '2.8.1.3' }, { cmlRequirements: { minVersion: '2.8.1', maxVersion: '2.8.1' } }, undefined],
    ['version not reported, a bound is required', { cmlVersion: null }, { cmlRequirements: { minVersion: '2.0.0' } }, 'cml-version'],
    ['version not reported, no bound', { cmlVersion: null }, { cmlRequirements: { nodeDefinitions: [] } }, undefined],
    ['node definition missing', {}, { cmlRequirements: { nodeDefinitions: ['iosv', 'nxosv9000'] } }, 'node-definitions'],
    ['node definitions installed', {}, { cmlRequirements: { nodeDefinitions: ['iosv'] } }, undefined],
  ];
  it.each(cases)('%s', (_name, w, s, expected) => {
    const [verdict] = rankWorkers(session('s', s), [worker('w', w)]);
    expect(verdict?.refusal?.reason).toBe(expected);
    expect(verdict?.fits).toBe(expected === undefined);
  });

  it('ports: enough free ports in the range, or refused (the original never refused on ports)', () => {
    const range = { min: 2000, max: 2002 };
    const w = worker('w', { reservations: [holding('o', cap(0), [2000, 2002])] });
    expect(placementRefusal(w, { sessionId: 's', capacity: cap(1), portNames: ['a'] }, range)).toBeUndefined();
    expect(placementRefusal(w, { sessionId: 's', capacity: cap(1), portNames: ['a', 'b'] }, range)?.reason).toBe('ports');
  });

  it('the workers subgraph refuses with the same rules, without the CML requirements it cannot know', () => {
    const w = worker('w', { cmlVersion: '2.7.0' });
    const request = { sessionId: 's', capacity: cap(1), portNames: ['a'] };
    expect(placementRefusal(w, request, { min: 2000, max: 9999 })).toBeUndefined();
    expect(placementRefusal(w, { ...request, cmlRequirements: { minVersion: '2.8.0' } }, { min: 2000, max: 9999 })?.reason).toBe('cml-version');
  });

  it('reads CML versions as semver', () => {
    expect(cmlSemver('2.9.1+build.7')?.version).toBe('2.9.1');
    expect(cmlSemver('2.8')?.version).toBe('2.8.0');
    expect(cmlSemver('2.8.1.3')?.version).toBe('2.8.1');
    expect(cmlSemver('2.9.0-rc1')?.version).toBe('2.9.0-rc1');
    expect(cmlSemver('latest')).toBeUndefined();
    expect(cmlRefusal(worker('w', { cmlVersion: 'latest' }), { minVersion: '2.0.0' })?.message).toMatch(/not a version/);
  });
});

describe('scoring (bin-packing: the fullest worker that fits wins)', () => {
  it('ranks fitting workers by fill after placement, then by id; refusals last', () => {
    const verdicts = rankWorkers(session('s'), [
      worker('empty'),
      worker('half', { reservations: [holding('a', cap(4))] }),
      worker('b-full', { reservations: [holding('b', cap(8))] }),
      worker('a-half', { reservations: [holding('c', cap(4))] }),
    ]);
    expect(verdicts.map((v) => v.workerId)).toEqual(['a-half', 'half', 'empty', 'b-full']);
    expect(verdicts[0]?.score).toBeCloseTo(5 / 8);
    expect(verdicts[3]?.refusal?.reason).toBe('capacity');
  });

  it('a PERSONAL worker is full with one session', () => {
    expect(placementScore(worker('p', { licenseType: LicenseType.PERSONAL }), cap(1))).toBe(1);
  });

  it('packs a cycle onto the fullest workers, updating its copy of the workers as it goes', () => {
    const plan = planScheduling({
      now: NOW,
      sessions: Array.from({ length: 6 }, (_, i) => session(`s${i}`, { capacity: cap(2) })),
      workers: [worker('w1'), worker('w2', { reservations: [holding('x', cap(2))] })],
      templates: TEMPLATES,
    });
    const on = (id: string) => plan.placements.filter((p) => p.workerId === id).length;
    expect(on('w2')).toBe(3); // filled up first (2 + 3×2 = 8)
    expect(on('w1')).toBe(3);
    expect(plan.scaleUp).toEqual([]);
  });
});

describe('timeslot eligibility', () => {
  const cases: Array<[string, Partial<SessionDemand>, 'placed' | 'later' | 'expired']> = [
    ['no timeslot', {}, 'placed'],
    ['starts in 30 min, 35 min lead', { timeslotStart: min(30) }, 'placed'],
    ['starts in exactly 35 min', { timeslotStart: min(35) }, 'placed'],
    ['starts in 60 min, 35 min lead', { timeslotStart: min(60) }, 'later'],
    ['started 10 min ago', { timeslotStart: min(-10), timeslotEnd: min(50) }, 'placed'],
    ['ended', { timeslotStart: min(-70), timeslotEnd: min(-10) }, 'expired'],
  ];
  it.each(cases)('%s', (_n, over, expected) => {
    const plan = planScheduling({ now: NOW, sessions: [session('s', over)], workers: [worker('w')], templates: TEMPLATES });
    const got = plan.placements.length ? 'placed' : plan.notYetEligible.length ? 'later' : plan.expired.length ? 'expired' : 'none';
    expect(got).toBe(expected);
  });

  it('wakes up when the next session becomes eligible', () => {
    const plan = planScheduling({
      now: NOW,
      sessions: [session('a', { timeslotStart: min(100) }), session('b', { timeslotStart: min(60), bootLeadTimeMinutes: 10 })],
      workers: [],
      templates: TEMPLATES,
    });
    expect(plan.nextWakeAt).toEqual(min(50));
  });

  it('places the earliest timeslot first when there is room for one', () => {
    const plan = planScheduling({
      now: NOW,
      sessions: [session('late', { timeslotStart: min(20) }), session('early', { timeslotStart: min(5) }), session('none', { createdAt: min(-1) })],
      workers: [worker('w', { declaredCapacity: cap(1) })],
      templates: [],
    });
    expect(plan.placements.map((p) => p.sessionId)).toEqual(['none']);
    const plan2 = planScheduling({
      now: NOW,
      sessions: [session('late', { timeslotStart: min(20) }), session('early', { timeslotStart: min(5) })],
      workers: [worker('w', { declaredCapacity: cap(1) })],
      templates: [],
    });
    expect(plan2.placements.map((p) => p.sessionId)).toEqual(['early']);
  });
});

describe('scale-up', () => {
  const burst = (n: number, over: Partial<SessionDemand> = {}) => Array.from({ length: n }, (_, i) => session(`s${String(i).padStart(3, '0')}`, over));

  it('packs in arrival order when that needs fewer workers than first-fit-decreasing (several dimensions)', () => {
    // Sorted by CPU, the two 4-core sessions share a worker and the two 5-GB ones cannot: 3 workers.
    // In arrival order each worker gets one of each (5 cores, 8 GB): 2 workers, the lower bound.
    const a = (id: string, m: number) => session(id, { createdAt: min(m), capacity: { cpuCores: 1, memoryGb: 5, storageGb: 1, maxNodes: 1 } });
    const b = (id: string, m: number) => session(id, { createdAt: min(m), capacity: { cpuCores: 4, memoryGb: 3, storageGb: 1, maxNodes: 1 } });
    const plan = planScheduling({ now: min(10), sessions: [a('a1', 0), b('b1', 1), a('a2', 2), b('b2', 3)], workers: [], templates: [TEMPLATES[0]!] });
    expect(plan.scaleUp.map((r) => [...r.sessionIds].sort())).toEqual([
      ['a1', 'b1'],
      ['a2', 'b2'],
    ]);
  });

  it('a burst of N sessions asks for what N needs, bin-packed onto templates, not N workers', () => {
    const plan = planScheduling({ now: NOW, sessions: burst(20), workers: [], templates: TEMPLATES });
    // 1-core sessions: `big` holds 8 at 1/h (0.125 a session), `small` 2 at 0.5/h (0.25). The tail of 4:
    // one big (0.25 a session) or two small (0.25): a tie, so the one holding more.
    expect(plan.scaleUp.map((r) => r.templateName)).toEqual(['big', 'big', 'big']);
    expect(plan.scaleUp.map((r) => r.sessionIds.length)).toEqual([8, 8, 4]);
    expect(new Set(plan.scaleUp.flatMap((r) => r.sessionIds)).size).toBe(20);
  });

  it('one session gets the cheapest template that fits', () => {
    const any = planScheduling({ now: NOW, sessions: burst(1), workers: [], templates: TEMPLATES });
    expect(any.scaleUp).toEqual([{ templateName: 'personal', sessionIds: ['s000'] }]);
    const enterprise = planScheduling({ now: NOW, sessions: burst(1, { licenseAffinity: [LicenseType.ENTERPRISE] }), workers: [], templates: TEMPLATES });
    expect(enterprise.scaleUp).toEqual([{ templateName: 'small', sessionIds: ['s000'] }]);
  });

  it('counts the capacity being provisioned: only what it will not hold is asked for', () => {
    const plan = planScheduling({
      now: NOW,
      sessions: burst(10),
      workers: [worker('coming', { status: WorkerStatus.PROVISIONING, cmlVersion: null }), worker('gone', { status: WorkerStatus.PENDING, desiredStatus: WorkerStatus.TERMINATED })],
      templates: TEMPLATES,
    });
    expect(plan.awaitingCapacity).toHaveLength(8);
    expect(plan.awaitingCapacity.every((a) => a.workerId === 'coming')).toBe(true);
    expect(plan.scaleUp).toEqual([{ templateName: 'small', sessionIds: ['s008', 's009'] }]);
  });

  it('with the bundled templates (linear prices), a 1-core/1-GiB burst goes two to a `small`', () => {
    const bundled: TemplateOffer[] = [
      { name: 'micro', capacity: { cpuCores: 2, memoryGb: 1, storageGb: 20, maxNodes: 2 }, licenseType: LicenseType.ENTERPRISE, costPerHour: 0.0104, enabled: true },
      { name: 'small', capacity: { cpuCores: 2, memoryGb: 2, storageGb: 50, maxNodes: 5 }, licenseType: LicenseType.ENTERPRISE, costPerHour: 0.0208, enabled: true },
      { name: 'medium', capacity: { cpuCores: 2, memoryGb: 4, storageGb: 100, maxNodes: 15 }, licenseType: LicenseType.ENTERPRISE, costPerHour: 0.0416, enabled: true },
      { name: 'metal', capacity: { cpuCores: 48, memoryGb: 192, storageGb: 1000, maxNodes: 200 }, licenseType: LicenseType.ENTERPRISE, costPerHour: 3.9641, enabled: true },
    ];
    const plan = planScheduling({ now: NOW, sessions: burst(21, { capacity: { cpuCores: 1, memoryGb: 1, storageGb: 1, maxNodes: 2 } }), workers: [], templates: bundled });
    expect(plan.scaleUp.map((r) => r.templateName)).toEqual([...Array(10).fill('small'), 'micro']);
  });

  it('a RUNNING worker whose CML is not observed yet is capacity coming, not a reason to ask again', () => {
    const plan = planScheduling({
      now: NOW,
      sessions: [session('s', { cmlRequirements: { nodeDefinitions: ['iosv'] } })],
      workers: [worker('fresh', { cmlVersion: null, nodeDefinitions: [] })],
      templates: TEMPLATES,
    });
    expect(plan.placements).toEqual([]);
    expect(plan.awaitingCapacity).toEqual([{ sessionId: 's', workerId: 'fresh' }]);
    expect(plan.scaleUp).toEqual([]);
  });

  it('asks nothing more while the workers it asked for come up (steady state of a burst)', () => {
    const first = planScheduling({ now: NOW, sessions: burst(20), workers: [], templates: TEMPLATES });
    const requested = first.scaleUp.map((r, i) => worker(`req${i}`, { templateName: r.templateName, status: WorkerStatus.PENDING, cmlVersion: null, declaredCapacity: TEMPLATES.find((t) => t.name === r.templateName)?.capacity ?? cap(0) }));
    const second = planScheduling({ now: NOW, sessions: burst(20), workers: requested, templates: TEMPLATES });
    expect(second.scaleUp).toEqual([]);
    expect(second.awaitingCapacity).toHaveLength(20);
  });

  it('PERSONAL affinity can use a PERSONAL template: one worker per session when it is cheapest', () => {
    const templates = [TEMPLATES[2] as TemplateOffer, { ...(TEMPLATES[0] as TemplateOffer), costPerHour: 10 }];
    const plan = planScheduling({ now: NOW, sessions: burst(3, { licenseAffinity: [LicenseType.PERSONAL] }), workers: [], templates });
    expect(plan.scaleUp.map((r) => [r.templateName, r.sessionIds.length])).toEqual([
      ['personal', 1],
      ['personal', 1],
      ['personal', 1],
    ]);
  });

  it('a session that fits no enabled template is unplaceable, with the reason', () => {
    const plan = planScheduling({ now: NOW, sessions: [session('x', { capacity: cap(32) })], workers: [], templates: TEMPLATES });
    expect(plan.scaleUp).toEqual([]);
    expect(plan.unplaceable[0]?.reason).toMatch(/fits no enabled worker template.*huge is disabled/);
  });

  it('does not ask again for a template whose workers run the wrong CML version (no provisioning loop)', () => {
    const sessions = [session('s', { cmlRequirements: { minVersion: '2.9.0' } })];
    const workers = [worker('old', { templateName: 'small', cmlVersion: '2.8.0' })];
    const plan = planScheduling({ now: NOW, sessions, workers, templates: [TEMPLATES[1] as TemplateOffer] });
    expect(plan.scaleUp).toEqual([]);
    expect(plan.unplaceable[0]?.reason).toMatch(/CML version/);
    const other = planScheduling({ now: NOW, sessions, workers, templates: TEMPLATES.slice(0, 2) });
    expect(other.scaleUp).toEqual([{ templateName: 'big', sessionIds: ['s'] }]);
  });
});

describe('explainPlacement (placementPlan)', () => {
  it('lists every worker with its score or reason, and the decision', () => {
    const e = explainPlacement(
      session('s', { capacity: cap(4) }),
      [worker('fit'), worker('draining', { status: WorkerStatus.DRAINING }), worker('small', { declaredCapacity: cap(2) })],
      TEMPLATES,
      NOW,
    );
    expect(e.decision).toBe('PLACE');
    expect(e.workerId).toBe('fit');
    expect(e.workers.map((w) => [w.workerId, w.fits, w.refusal?.reason ?? w.score])).toEqual([
      ['fit', true, 0.5],
      ['draining', false, 'status'],
      ['small', false, 'capacity'],
    ]);
  });

  it.each([
    ['WAIT_FOR_TIMESLOT', { timeslotStart: min(120) }, [] as SchedulingWorker[]],
    ['SCALE_UP', {}, []],
    ['WAIT_FOR_CAPACITY', {}, [worker('coming', { status: WorkerStatus.STARTING })]],
    ['UNPLACEABLE', { capacity: cap(1000) }, []],
    ['EXPIRED', { timeslotEnd: min(-1) }, []],
  ] as const)('%s', (decision, over, workers) => {
    expect(explainPlacement(session('s', over), workers, TEMPLATES, NOW).decision).toBe(decision);
  });
});

describe('property: a plan never exceeds capacity and never gives a port twice', () => {
  const arbCap = fc.record({
    cpuCores: fc.integer({ min: 0, max: 16 }),
    memoryGb: fc.integer({ min: 0, max: 16 }),
    storageGb: fc.integer({ min: 0, max: 16 }),
    maxNodes: fc.integer({ min: 0, max: 16 }),
  });
  it('replaying the placements with the workers own rules accepts every one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ declared: arbCap, personal: fc.boolean() }), { minLength: 0, maxLength: 5 }),
        fc.array(fc.record({ need: arbCap, ports: fc.integer({ min: 0, max: 4 }), personalOnly: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        (ws, ss) => {
          const range = { min: 2000, max: 2011 };
          const workers = ws.map((w, i) =>
            worker(`w${i}`, { declaredCapacity: w.declared, licenseType: w.personal ? LicenseType.PERSONAL : LicenseType.ENTERPRISE }),
          );
          const sessions = ss.map((s, i) =>
            session(`s${i}`, { capacity: s.need, portNames: Array.from({ length: s.ports }, (_, k) => `p${k}`), licenseAffinity: s.personalOnly ? [LicenseType.PERSONAL] : [] }),
          );
          const plan = planScheduling({ now: NOW, sessions, workers, templates: TEMPLATES, portRange: range });
          const state = new Map(workers.map((w) => [w.id, { ...w, reservations: [...w.reservations] }]));
          for (const p of plan.placements) {
            const w = state.get(p.workerId);
            const s = sessions.find((x) => x.sessionId === p.sessionId);
            if (!w || !s) throw new Error('unknown placement');
            expect(placementRefusal(w, { sessionId: s.sessionId, capacity: s.capacity, portNames: s.portNames, licenseAffinity: s.licenseAffinity }, range)).toBeUndefined();
            const ports = lowestFreePorts(heldPorts(w), s.portNames.length, range) ?? [];
            w.reservations.push({ sessionId: s.sessionId, capacity: s.capacity, ports: ports.map((port, k) => ({ name: `p${k}`, port })) });
          }
          for (const w of state.values()) {
            expect(fitsIn(allocatedCapacity(w), w.declaredCapacity)).toBe(true);
            const all = w.reservations.flatMap((r) => r.ports.map((x) => x.port));
            expect(new Set(all).size).toBe(all.length);
            if (w.licenseType === LicenseType.PERSONAL) expect(w.reservations.length).toBeLessThanOrEqual(1);
          }
          // Every session is accounted for exactly once.
          const accounted = [...plan.placements, ...plan.awaitingCapacity, ...plan.unplaceable].map((x) => x.sessionId).concat(plan.scaleUp.flatMap((r) => r.sessionIds));
          expect(accounted.sort()).toEqual(sessions.map((s) => s.sessionId).sort());
        },
      ),
      { numRuns: 300 },
    );
  });
});
