import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DefinitionStatus, LabletSessionStatus as S, type LabletSessionStatus } from '../../../core/domain/enums.ts';
import { sessionStateMachine } from '../../../core/domain/session-state-machine.ts';
import { ErrorCode, LcmError } from '../../../core/errors.ts';
import { reviveSession, type Session } from './model.ts';
import {
  createSession,
  durationSeconds,
  isManualTransition,
  manualTransition,
  recordPipelineProgress,
  scheduleSession,
  SESSION_END_STATUSES,
  terminateSession,
  transitionSession,
  upsertGradingSession,
  upsertUserSession,
  type ChangeContext,
} from './session.ts';

const T0 = new Date('2026-01-01T10:00:00.000Z');
const definition = { id: 'def_1', version: '1.2.3', status: DefinitionStatus.ACTIVE };
const at = (seconds: number): ChangeContext => ({ actor: 'user:alice', now: new Date(T0.getTime() + seconds * 1000) });
const newSession = (): Session => createSession({ definitionId: 'def_1', owner: 'alice' }, definition, 'ses_1', at(0));

function thrown(f: () => unknown): LcmError {
  try {
    f();
  } catch (e) {
    if (e instanceof LcmError) return e;
    throw e;
  }
  throw new Error('expected an LcmError');
}

/**
 * A step of a random walk: try a transition to any status, or to one the table allows from where the
 * walk is (so walks go deep), or a termination.
 */
const step = fc.oneof(
  fc.record({ kind: fc.constant('transition' as const), to: fc.constantFrom(...sessionStateMachine.states) }),
  fc.record({ kind: fc.constant('allowed' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('terminate' as const) }),
);

type StepValue = typeof step extends fc.Arbitrary<infer V> ? V : never;

function target(st: StepValue, from: LabletSessionStatus): LabletSessionStatus {
  if (st.kind === 'terminate') return S.TERMINATED;
  if (st.kind === 'transition') return st.to;
  const next = sessionStateMachine.next(from);
  return next.length === 0 ? S.TERMINATED : (next[st.pick % next.length] as LabletSessionStatus);
}

describe('LabletSession aggregate', () => {
  it('random walks: accepted transitions are exactly those of the table; history, revision, startedAt and endedAt follow', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        let s = newSession();
        let endedAt: Date | null = null;
        steps.forEach((st, i) => {
          const to = target(st, s.status);
          const ctx = at(i + 1);
          const allowed = sessionStateMachine.table[s.status].includes(to);
          const apply = () => (st.kind === 'terminate' ? terminateSession(s, 'stop', ctx) : transitionSession(s, to, 'walk', ctx));
          if (!allowed) {
            const e = thrown(apply);
            expect(e.code).toBe(ErrorCode.INVALID_TRANSITION);
            expect(e.details).toEqual({ from: s.status, to });
            expect(e.message).toContain(s.status);
            expect(e.message).toContain(to);
            return;
          }
          const next = apply();
          expect(next.status).toBe(to);
          expect(next.revision).toBe(s.revision + 1);
          expect(next.statusHistory).toHaveLength(s.statusHistory.length + 1);
          expect(next.statusHistory.slice(0, -1)).toEqual(s.statusHistory);
          expect(next.statusHistory.at(-1)).toMatchObject({ from: s.status, to, at: ctx.now, actor: 'user:alice' });
          if (to === S.RUNNING) expect(next.startedAt).toEqual(ctx.now);
          if (SESSION_END_STATUSES.has(to) && endedAt === null) {
            expect(next.endedAt).toEqual(ctx.now);
            endedAt = ctx.now;
          }
          expect(next.endedAt).toEqual(endedAt);
          s = next;
        });
        // Every consecutive pair of the history is an edge of the table.
        for (const entry of s.statusHistory.slice(1)) {
          expect(sessionStateMachine.canTransition(entry.from as LabletSessionStatus, entry.to)).toBe(true);
        }
        expect(s.startedAt !== null).toBe(s.statusHistory.some((h) => h.to === S.RUNNING));
      }),
      { numRuns: 300 },
    );
  });

  it('creates PENDING with the creation entry, the definition version snapshot and a default timeslot start', () => {
    const s = newSession();
    expect(s).toMatchObject({ status: S.PENDING, revision: 1, definitionVersion: '1.2.3', timeslotStart: T0, timeslotEnd: null });
    expect(s.statusHistory).toEqual([{ from: null, to: S.PENDING, at: T0, actor: 'user:alice', reason: 'created' }]);
  });

  it.each([
    [{ owner: '  ' }, 'input.owner'],
    [{ owner: 'x'.repeat(257) }, 'input.owner'],
    [{ timeslotStart: new Date(T0.getTime() + 3600_000), timeslotEnd: new Date(T0.getTime() + 1800_000) }, 'input.timeslotEnd'],
    [{ timeslotStart: new Date(T0.getTime() - 7200_000), timeslotEnd: new Date(T0.getTime() - 3600_000) }, 'input.timeslotEnd'],
  ])('refuses %j naming %s', (over, field) => {
    const e = thrown(() => createSession({ definitionId: 'def_1', owner: 'alice', ...over }, definition, 'ses_1', at(0)));
    expect(e.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(e.details.field).toBe(field);
  });

  it('needs an existing, ACTIVE definition', () => {
    expect(thrown(() => createSession({ definitionId: 'def_x', owner: 'a' }, undefined, 'ses_1', at(0))).code).toBe(ErrorCode.NOT_FOUND);
    const deprecated = { ...definition, status: DefinitionStatus.DEPRECATED };
    const e = thrown(() => createSession({ definitionId: 'def_1', owner: 'a' }, deprecated, 'ses_1', at(0)));
    expect(e.code).toBe(ErrorCode.CONFLICT);
    expect(e.message).toContain('definition is DEPRECATED');
  });

  it('schedules only from PENDING, with ports in 2000–9999 and unique names and numbers', () => {
    const ports = [
      { name: 'serial', port: 2000 },
      { name: 'vnc', port: 9999 },
    ];
    const s = scheduleSession(newSession(), { workerId: 'wrk_1', allocatedPorts: ports }, at(1));
    expect(s).toMatchObject({ status: S.SCHEDULED, workerId: 'wrk_1', allocatedPorts: ports });
    expect(thrown(() => scheduleSession(s, { workerId: 'wrk_1', allocatedPorts: [] }, at(2)))).toMatchObject({
      code: ErrorCode.INVALID_TRANSITION,
      details: { from: S.SCHEDULED, to: S.SCHEDULED },
    });
    const bad = (allocatedPorts: Array<{ name: string; port: number }>) =>
      thrown(() => scheduleSession(newSession(), { workerId: 'wrk_1', allocatedPorts }, at(1))).details.field;
    expect(bad([{ name: 'a', port: 1999 }])).toBe('input.allocatedPorts[0].port');
    expect(bad([{ name: 'a', port: 10_000 }])).toBe('input.allocatedPorts[0].port');
    expect(bad([{ name: 'a', port: 2000.5 }])).toBe('input.allocatedPorts[0].port');
    expect(bad([{ name: 'a', port: 2000 }, { name: 'a', port: 2001 }])).toBe('input.allocatedPorts[1].name');
    expect(bad([{ name: 'a', port: 2000 }, { name: 'b', port: 2000 }])).toBe('input.allocatedPorts[1].port');
  });

  it('merges pipeline progress per pipeline and refuses what cannot be stored', () => {
    let s = recordPipelineProgress(newSession(), 'instantiate', { step: 'lab_import', attempts: 1 }, at(1));
    s = recordPipelineProgress(s, 'instantiate', { attempts: 2, done: ['content_sync'] }, at(2));
    s = recordPipelineProgress(s, 'teardown', { step: 'stop_lab' }, at(3));
    expect(s.pipelineProgress).toEqual({
      instantiate: { step: 'lab_import', attempts: 2, done: ['content_sync'] },
      teardown: { step: 'stop_lab' },
    });
    expect(s.revision).toBe(4);
    expect(thrown(() => recordPipelineProgress(s, 'x', [1], at(4))).details.field).toBe('progress');
    expect(thrown(() => recordPipelineProgress(s, 'x', { 'a.b': 1 }, at(4))).details.field).toBe('progress');
    expect(thrown(() => recordPipelineProgress(s, 'x', { a: { $set: 1 } }, at(4))).details.field).toBe('progress.a');
    expect(thrown(() => recordPipelineProgress(s, 'bad name', {}, at(4))).details.field).toBe('pipeline');
  });

  it('creates a child on the first upsert and updates it afterwards, keeping omitted fields', () => {
    let s = upsertUserSession(newSession(), { status: 'provisioning', externalId: 'lds-1' }, 'usr_1', at(1));
    expect(s.userSession).toMatchObject({ id: 'usr_1', status: 'PROVISIONING', externalId: 'lds-1', loginUrl: null, devices: [] });
    s = upsertUserSession(s, { status: 'ACTIVE', loginUrl: 'https://lds/1', devices: [{ name: 'r1', protocol: 'SSH', port: 2001 }] }, 'usr_2', at(2));
    expect(s.userSession).toMatchObject({
      id: 'usr_1',
      status: 'ACTIVE',
      externalId: 'lds-1',
      loginUrl: 'https://lds/1',
      devices: [{ name: 'r1', protocol: 'ssh', host: null, port: 2001 }],
      createdAt: at(1).now,
      updatedAt: at(2).now,
    });
    expect(thrown(() => upsertUserSession(s, { status: 'RUNNING' }, 'usr_3', at(3))).details.field).toBe('input.status');

    let g = upsertGradingSession(s, { status: 'PENDING' }, 'grd_1', at(4));
    g = upsertGradingSession(g, { status: 'FAULTED', faultReason: 'engine down' }, 'grd_2', at(5));
    expect(g.gradingSession).toMatchObject({ id: 'grd_1', status: 'FAULTED', faultReason: 'engine down' });
    expect(thrown(() => upsertGradingSession(g, { status: 'DONE' }, 'grd_3', at(6))).details.field).toBe('input.status');
  });

  it('derives durationSeconds from startedAt and endedAt', () => {
    let s = newSession();
    for (const [i, to] of [S.SCHEDULED, S.INSTANTIATING, S.READY, S.RUNNING, S.STOPPING, S.ARCHIVED].entries()) {
      s = transitionSession(s, to, null, at(i * 10));
    }
    expect(durationSeconds(s)).toBe(20);
    expect(durationSeconds(newSession())).toBeNull();
  });

  it('revives a snapshot that travelled as JSON (the etcd bus) into the same session', () => {
    let s = upsertUserSession(newSession(), { status: 'ACTIVE' }, 'usr_1', at(1));
    s = upsertGradingSession(s, { status: 'PENDING' }, 'grd_1', at(2));
    s = scheduleSession(s, { workerId: 'w', allocatedPorts: [] }, at(3));
    const revived = reviveSession(JSON.parse(JSON.stringify(s)));
    expect(revived).toEqual(s);
    expect(revived.statusHistory[0]?.at).toBeInstanceOf(Date);
    expect(reviveSession(s)).toEqual(s);
  });
});

describe('manual transitions (the public transitionSession)', () => {
  // Decision table: every move a person may make; all other moves of the table are the controllers'.
  const manual: Array<[LabletSessionStatus, LabletSessionStatus]> = [
    [S.READY, S.RUNNING],
    [S.RUNNING, S.COLLECTING],
    [S.RUNNING, S.STOPPING],
    [S.COLLECTING, S.STOPPING],
    [S.GRADING, S.STOPPING],
    [S.EXPIRED, S.STOPPING],
    ...Object.values(S)
      .filter((from) => from !== S.TERMINATED)
      .map((from): [LabletSessionStatus, LabletSessionStatus] => [from, S.TERMINATED]),
  ];
  const key = (a: string, b: string) => `${a}->${b}`;
  const allowed = new Set(manual.map(([a, b]) => key(a, b)));

  it('allows exactly the manual moves of the table', () => {
    for (const from of Object.values(S)) {
      for (const to of Object.values(S)) {
        expect(isManualTransition(from, to), key(from, to)).toBe(allowed.has(key(from, to)));
        if (allowed.has(key(from, to))) expect(sessionStateMachine.canTransition(from, to)).toBe(true);
      }
    }
  });

  it('refuses a controller move with INVALID_TRANSITION naming both statuses and the manual ones', () => {
    const e = thrown(() => manualTransition(newSession(), S.SCHEDULED, null, at(1)));
    expect(e.code).toBe(ErrorCode.INVALID_TRANSITION);
    expect(e.details).toMatchObject({ from: S.PENDING, to: S.SCHEDULED, manual: [S.TERMINATED] });
    expect(e.message).toMatch(/PENDING to SCHEDULED/);
  });
});

