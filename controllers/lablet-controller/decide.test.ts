import { describe, expect, it } from 'vitest';
import { LabletSessionStatus as S, type LabletSessionStatus } from '../../core/domain/enums.ts';
import { decide, readProgress, type Observation, type Progress, type SessionFacts, type Step } from './decide.ts';

const NOW = new Date('2026-05-01T10:00:00.000Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);
const iso = (offsetMs: number) => at(offsetMs).toISOString();
const MIN = 60_000;

const SETTINGS = { bootTimeoutMs: 600_000, gradingTimeoutMs: 1_800_000, maxStepAttempts: 3, maxGradingAttempts: 2, pollMs: 1000, gradingPollMs: 5000, healthIntervalMs: 30_000 };

type Facts = Partial<SessionFacts>;
type Prog = { [K in keyof Progress]?: Progress[K] };

function obs(status: LabletSessionStatus, facts: Facts = {}, progress: Prog = {}, extra: Partial<Observation> = {}): Observation {
  return {
    now: NOW,
    session: {
      id: 'ses_1',
      status,
      revision: 7,
      timeslotStart: null,
      timeslotEnd: null,
      workerId: 'wrk_1',
      cmlLabId: null,
      bootLeadTimeMinutes: 20,
      userSession: null,
      gradingSession: null,
      hasScoreReport: false,
      ...facts,
    },
    progress: { ...readProgress({}), ...progress },
    settings: SETTINGS,
    ...extra,
  };
}

const LAB: Facts = { cmlLabId: 'lab-1' };
const BOOTED: Prog = { instantiate: { labId: 'lab-1', imported: true, tagged: true, bootStartedAt: iso(-1000), booted: true } };
const USER = (status: string): Facts => ({ userSession: { status, externalId: 'lds-1' } });
const fail = (count: number) => ({ count, lastError: 'boom', at: iso(-1) });

/** [row, observation, expected step (subset)] */
const TABLE: Array<[string, Observation, Partial<Step> & { kind: Step['kind'] }]> = [
  // --- nothing to do
  ['PENDING belongs to the scheduler', obs(S.PENDING, { workerId: null }), { kind: 'nothing' }],
  ['ARCHIVED after its teardown is final', obs(S.ARCHIVED, { ...LAB, ...USER('ENDED') }, { teardown: { labDone: true, ldsFinalized: true, released: true } }), { kind: 'nothing' }],
  ['ARCHIVED without worker', obs(S.ARCHIVED, { workerId: null }), { kind: 'nothing' }],
  ['TERMINATED without worker', obs(S.TERMINATED, { workerId: null }), { kind: 'nothing' }],
  ['TERMINATED, teardown done', obs(S.TERMINATED, LAB, { teardown: { done: true } }), { kind: 'nothing' }],
  ['placed status without worker', obs(S.READY, { workerId: null }), { kind: 'terminate' }],
  // --- SCHEDULED
  ['SCHEDULED without timeslot', obs(S.SCHEDULED), { kind: 'advance', to: S.INSTANTIATING }],
  ['SCHEDULED inside the boot lead time', obs(S.SCHEDULED, { timeslotStart: at(19 * MIN) }), { kind: 'advance', to: S.INSTANTIATING }],
  ['SCHEDULED before the boot lead time', obs(S.SCHEDULED, { timeslotStart: at(30 * MIN) }), { kind: 'wait', ms: 10 * MIN }],
  ['SCHEDULED, timeslot in the past', obs(S.SCHEDULED, { timeslotStart: at(-5 * MIN), timeslotEnd: at(MIN) }), { kind: 'advance', to: S.INSTANTIATING }],
  ['SCHEDULED, timeslot over', obs(S.SCHEDULED, { timeslotStart: at(-60 * MIN), timeslotEnd: at(-1) }), { kind: 'terminate' }],
  // --- INSTANTIATING
  ['INSTANTIATING, no lab', obs(S.INSTANTIATING), { kind: 'instantiate', step: 'lab' }],
  ['INSTANTIATING, lab, not tagged', obs(S.INSTANTIATING, LAB, { instantiate: { labId: 'lab-1' } }), { kind: 'instantiate', step: 'tags' }],
  ['INSTANTIATING, tagged, not started', obs(S.INSTANTIATING, LAB, { instantiate: { tagged: true } }), { kind: 'instantiate', step: 'start' }],
  ['INSTANTIATING, booting', obs(S.INSTANTIATING, LAB, { instantiate: { tagged: true, bootStartedAt: iso(-5000) } }), { kind: 'instantiate', step: 'boot' }],
  [
    'INSTANTIATING, boot timeout (imported lab: delete it)',
    obs(S.INSTANTIATING, LAB, { instantiate: { imported: true, tagged: true, bootStartedAt: iso(-600_001) } }),
    { kind: 'fail', step: 'boot', deleteLab: true },
  ],
  [
    'INSTANTIATING, boot timeout (reused lab: keep it)',
    obs(S.INSTANTIATING, LAB, { instantiate: { reused: true, tagged: true, bootStartedAt: iso(-600_001) } }),
    { kind: 'fail', step: 'boot', deleteLab: false },
  ],
  ['INSTANTIATING, booted, no user session', obs(S.INSTANTIATING, LAB, BOOTED), { kind: 'instantiate', step: 'lds' }],
  ['INSTANTIATING, all done', obs(S.INSTANTIATING, { ...LAB, ...USER('PROVISIONED') }, BOOTED), { kind: 'advance', to: S.READY }],
  ['INSTANTIATING, step failed twice: retry', obs(S.INSTANTIATING, {}, { failures: { lab: fail(2) } }), { kind: 'instantiate', step: 'lab' }],
  ['INSTANTIATING, step failed max times', obs(S.INSTANTIATING, {}, { failures: { lab: fail(3) } }), { kind: 'fail', step: 'lab', deleteLab: false }],
  ['INSTANTIATING, LDS failed max times', obs(S.INSTANTIATING, LAB, { ...BOOTED, failures: { lds: fail(3) } }), { kind: 'fail', step: 'lds', deleteLab: true }],
  ['INSTANTIATING, timeslot over', obs(S.INSTANTIATING, { timeslotEnd: at(-1) }), { kind: 'advance', to: S.EXPIRED }],
  // --- READY / RUNNING
  ['READY, health never checked', obs(S.READY, { ...LAB, ...USER('PROVISIONED') }), { kind: 'health' }],
  ['READY, checked recently', obs(S.READY, { ...LAB, ...USER('PROVISIONED') }, {}, { lastHealthCheck: at(-10_000) }), { kind: 'wait', ms: 20_000 }],
  ['READY, checked recently, timeslot ends sooner', obs(S.READY, { ...LAB, ...USER('PROVISIONED'), timeslotEnd: at(5000) }, {}, { lastHealthCheck: at(-10_000) }), { kind: 'wait', ms: 5000 }],
  ['READY, student started', obs(S.READY, { ...LAB, ...USER('ACTIVE') }), { kind: 'advance', to: S.RUNNING }],
  ['READY, LDS ended before start', obs(S.READY, { ...LAB, ...USER('EXPIRED') }), { kind: 'advance', to: S.EXPIRED }],
  ['READY, timeslot over', obs(S.READY, { ...LAB, ...USER('ACTIVE'), timeslotEnd: at(0) }), { kind: 'advance', to: S.EXPIRED }],
  ['RUNNING, student working', obs(S.RUNNING, { ...LAB, ...USER('ACTIVE') }, {}, { lastHealthCheck: at(-1) }), { kind: 'wait' }],
  ['RUNNING, student finished', obs(S.RUNNING, { ...LAB, ...USER('ENDED') }), { kind: 'advance', to: S.COLLECTING }],
  ['RUNNING, LDS timed out', obs(S.RUNNING, { ...LAB, ...USER('EXPIRED') }), { kind: 'advance', to: S.COLLECTING }],
  ['RUNNING, timeslot over', obs(S.RUNNING, { ...LAB, ...USER('ACTIVE'), timeslotEnd: at(-1) }), { kind: 'advance', to: S.EXPIRED }],
  // --- COLLECTING / GRADING (the timeslot does not cut grading short)
  ['COLLECTING', obs(S.COLLECTING, { ...LAB, timeslotEnd: at(-1) }), { kind: 'collect' }],
  ['COLLECTING, grading requested', obs(S.COLLECTING, { gradingSession: { status: 'GRADING', externalId: 'g-1', faultReason: null } }), { kind: 'advance', to: S.GRADING }],
  ['COLLECTING, failed max times', obs(S.COLLECTING, LAB, { failures: { collect: fail(3) } }), { kind: 'fail', step: 'collect' }],
  ['GRADING, in progress', obs(S.GRADING, { gradingSession: { status: 'GRADING', externalId: 'g-1', faultReason: null } }, { grading: { requestedAt: iso(-1000) } }), { kind: 'pollGrading' }],
  ['GRADING, report published', obs(S.GRADING, { hasScoreReport: true }), { kind: 'advance', to: S.STOPPING }],
  ['GRADING, faulted once', obs(S.GRADING, { gradingSession: { status: 'FAULTED', externalId: 'g-1', faultReason: 'x' } }, { grading: { attempts: 1 } }), { kind: 'regrade', attempt: 2 }],
  ['GRADING, faulted again', obs(S.GRADING, { gradingSession: { status: 'FAULTED', externalId: 'g-1', faultReason: 'x' } }, { grading: { attempts: 2 } }), { kind: 'terminate' }],
  ['GRADING, timed out', obs(S.GRADING, { gradingSession: { status: 'GRADING', externalId: 'g-1', faultReason: null } }, { grading: { requestedAt: iso(-1_800_001) } }), { kind: 'terminate' }],
  // --- teardown
  ['EXPIRED', obs(S.EXPIRED, LAB), { kind: 'advance', to: S.STOPPING }],
  ['STOPPING, lab running', obs(S.STOPPING, { ...LAB, ...USER('ENDED') }), { kind: 'teardown', step: 'stop' }],
  ['STOPPING, stopped', obs(S.STOPPING, { ...LAB, ...USER('ENDED') }, { teardown: { stopped: true } }), { kind: 'teardown', step: 'wipe' }],
  ['STOPPING, wiped, failed import', obs(S.STOPPING, LAB, { teardown: { stopped: true, wiped: true, deleteLab: true } }), { kind: 'teardown', step: 'delete' }],
  ['STOPPING, lab done', obs(S.STOPPING, { ...LAB, ...USER('ENDED') }, { teardown: { labDone: true } }), { kind: 'teardown', step: 'finalizeLds' }],
  ['STOPPING, LDS finalized', obs(S.STOPPING, { ...LAB, ...USER('ENDED') }, { teardown: { labDone: true, ldsFinalized: true } }), { kind: 'teardown', step: 'release' }],
  ['STOPPING, all done', obs(S.STOPPING, { ...LAB, ...USER('ENDED') }, { teardown: { labDone: true, ldsFinalized: true, released: true } }), { kind: 'advance', to: S.ARCHIVED }],
  ['STOPPING, no lab, no user session', obs(S.STOPPING), { kind: 'teardown', step: 'release' }],
  ['STOPPING, lab teardown keeps failing', obs(S.STOPPING, LAB, { failures: { teardown: fail(3) } }), { kind: 'abandonLab' }],
  ['STOPPED (a person stopped it)', obs(S.STOPPED, LAB, { teardown: { labDone: true, released: true } }), { kind: 'advance', to: S.ARCHIVED }],
  ['TERMINATED with a lab', obs(S.TERMINATED, { ...LAB, ...USER('PROVISIONED') }), { kind: 'teardown', step: 'stop' }],
  ['TERMINATED, everything released', obs(S.TERMINATED, LAB, { teardown: { labDone: true, released: true } }), { kind: 'teardownDone' }],
  ['TERMINATED while SCHEDULED (nothing but capacity)', obs(S.TERMINATED), { kind: 'teardown', step: 'release' }],
  ['ARCHIVED by hand before its teardown (found by the scan): the lab', obs(S.ARCHIVED, { ...LAB, ...USER('ACTIVE') }), { kind: 'teardown', step: 'stop' }],
  ['ARCHIVED by hand, lab done: LDS', obs(S.ARCHIVED, { ...LAB, ...USER('ACTIVE') }, { teardown: { labDone: true } }), { kind: 'teardown', step: 'finalizeLds' }],
  ['ARCHIVED by hand, no lab: the release', obs(S.ARCHIVED), { kind: 'teardown', step: 'release' }],
];

describe('decide (decision table)', () => {
  it.each(TABLE)('%s', (_row, o, expected) => {
    expect(decide(o)).toMatchObject(expected);
  });

  it('names the failing step and its last error in the reason', () => {
    const step = decide(obs(S.INSTANTIATING, LAB, { instantiate: { tagged: true }, failures: { start: { count: 3, lastError: 'Cannot start lab', at: iso(-1) } } }));
    expect(step).toMatchObject({ kind: 'fail', reason: 'instantiation failed at step start after 3 attempts: Cannot start lab' });
  });

  it('reads progress tolerantly (absent, null, other pipelines)', () => {
    expect(readProgress(null)).toEqual({ instantiate: {}, grading: {}, teardown: {}, failures: {} });
    expect(readProgress({ other: { x: 1 }, teardown: { done: true } }).teardown).toEqual({ done: true });
  });
});
