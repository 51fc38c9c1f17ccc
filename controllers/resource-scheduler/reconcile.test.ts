import { describe, expect, it } from 'vitest';
import { LabletSessionStatus as S, LicenseType, WorkerStatus as W } from '../../core/domain/enums.ts';
import type { TemplateOffer } from '../../core/domain/scheduling.ts';
import {
  reconcileCycle,
  reconcileSweep,
  teardownDone,
  unlistedHolders,
  type ObservedEndedSession,
  type ObservedLiveSession,
  type ObservedPendingSession,
  type ObservedWorker,
} from './reconcile.ts';

const NOW = new Date('2026-03-01T10:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const cap = (n: number) => ({ cpuCores: n, memoryGb: n, storageGb: n, maxNodes: n });

const worker = (id: string, over: Partial<ObservedWorker> = {}): ObservedWorker => ({
  id,
  templateName: 'big',
  status: W.RUNNING,
  desiredStatus: W.RUNNING,
  licenseType: LicenseType.ENTERPRISE,
  cmlVersion: '2.9.0',
  nodeDefinitions: [],
  declaredCapacity: cap(8),
  reservations: [],
  ...over,
});
const reservation = (sessionId: string, reservedAt: Date) => ({ sessionId, capacity: cap(1), ports: [{ name: 'console', port: 2000 }], reservedAt });
const pending = (id: string, over: Partial<ObservedPendingSession> = {}): ObservedPendingSession => ({
  sessionId: id,
  revision: 1,
  createdAt: NOW,
  timeslotStart: null,
  timeslotEnd: null,
  bootLeadTimeMinutes: 35,
  capacity: cap(1),
  portNames: ['console'],
  licenseAffinity: [],
  cmlRequirements: null,
  ...over,
});
const TEMPLATES: TemplateOffer[] = [{ name: 'big', capacity: cap(8), licenseType: LicenseType.ENTERPRISE, costPerHour: 1, enabled: true }];

describe('reconcileCycle', () => {
  it('binds placeable sessions (reserve + schedule at the observed revision)', () => {
    const d = reconcileCycle({ now: NOW, sessions: [pending('s1', { revision: 3 })], workers: [worker('w')], templates: TEMPLATES, needSince: undefined, batchWindowMs: 250 });
    expect(d.actions).toEqual([
      { kind: 'bind', sessionId: 's1', revision: 3, workerId: 'w', capacity: cap(1), portNames: ['console'], licenseAffinity: [] },
    ]);
    expect(d.requeueAfterMs).toBeUndefined();
  });

  it('leaves a session holding a reservation to the sweep (an interrupted bind)', () => {
    const d = reconcileCycle({
      now: NOW,
      sessions: [pending('s1')],
      workers: [worker('w', { reservations: [reservation('s1', ago(10))] })],
      templates: TEMPLATES,
      needSince: undefined,
      batchWindowMs: 250,
    });
    expect(d.actions).toEqual([]);
    expect(d.holding).toEqual(['s1']);
  });

  it.each([
    ['first unmet need: wait for the batch window', undefined, 0, 250],
    ['inside the window: keep waiting', ago(100), 0, 150],
    ['window over: request', ago(250), 1, undefined],
  ] as const)('%s', (_n, needSince, requests, requeue) => {
    const d = reconcileCycle({ now: NOW, sessions: [pending('s1'), pending('s2')], workers: [], templates: TEMPLATES, needSince, batchWindowMs: 250 });
    expect(d.actions.filter((a) => a.kind === 'request-worker')).toHaveLength(requests);
    expect(d.requeueAfterMs).toBe(requeue);
    expect(d.needSince).toEqual(requests ? undefined : (needSince ?? NOW));
  });

  it('requests one worker for a batch that fits one, naming the sessions', () => {
    const d = reconcileCycle({ now: NOW, sessions: [pending('s1'), pending('s2')], workers: [], templates: TEMPLATES, needSince: ago(1000), batchWindowMs: 250 });
    expect(d.actions).toEqual([{ kind: 'request-worker', templateName: 'big', sessionIds: ['s1', 's2'], reason: 'scale-up for 2 pending sessions: s1, s2' }]);
  });

  it('asks for workers before it binds: a long list of binds does not hold up the scale-up', () => {
    // One worker of 8 fits 8 of the 12 sessions; the other 4 need a new worker.
    const sessions = Array.from({ length: 12 }, (_, i) => pending(`s${i}`));
    const d = reconcileCycle({ now: NOW, sessions, workers: [worker('w')], templates: TEMPLATES, needSince: ago(1000), batchWindowMs: 250 });
    expect(d.actions.map((a) => a.kind)).toEqual(['request-worker', ...Array<string>(8).fill('bind')]);
  });

  it('terminates a PENDING session whose timeslot ended, and waits for the next eligible one', () => {
    const d = reconcileCycle({
      now: NOW,
      sessions: [pending('old', { timeslotStart: ago(3_600_000), timeslotEnd: ago(1) }), pending('later', { timeslotStart: new Date(NOW.getTime() + 40 * 60_000) })],
      workers: [worker('w')],
      templates: TEMPLATES,
      needSince: undefined,
      batchWindowMs: 250,
    });
    expect(d.actions).toEqual([{ kind: 'terminate', sessionId: 'old', reason: expect.stringMatching(/timeslot ended/) }]);
    expect(d.requeueAfterMs).toBe(5 * 60_000);
  });
});

describe('reconcileSweep (decision table per reservation)', () => {
  const live = (id: string, status: S, workerId: string | null): ObservedLiveSession => ({ id, status, revision: 7, workerId });
  const ended = (status: S, workerId: string | null, endedMsAgo: number, teardownDone = false): ObservedEndedSession => ({
    id: 's',
    status,
    workerId,
    teardownDone,
    endedAt: ago(endedMsAgo),
  });
  const GRACE = 30_000;
  const TEARDOWN_GRACE = 600_000;
  // [case, the session as listed live, as looked up when not listed, the worker, how long ago the reservation was made, expected action (cause)]
  const cases: Array<[string, ObservedLiveSession | undefined, ObservedEndedSession | ObservedLiveSession | undefined, Partial<ObservedWorker>, number, string]> = [
    ['session gone', undefined, undefined, {}, GRACE + 1, 'release:session-gone'],
    ['session gone, reserved just now: no grace needed', undefined, undefined, {}, 1, 'release:session-gone'],
    ['TERMINATED on this worker, teardown not done, ended just now: kept for the teardown', undefined, ended(S.TERMINATED, 'w', 1_000), {}, GRACE + 1, 'keep'],
    ['ARCHIVED on this worker, teardown not done, within the teardown grace', undefined, ended(S.ARCHIVED, 'w', TEARDOWN_GRACE - 1), {}, GRACE + 1, 'keep'],
    ['STOPPED on this worker, within the teardown grace', undefined, ended(S.STOPPED, 'w', 5_000), {}, GRACE + 1, 'keep'],
    ['TERMINATED on this worker, teardown done', undefined, ended(S.TERMINATED, 'w', 1_000, true), {}, GRACE + 1, 'release:teardown-done'],
    ['TERMINATED on this worker, past the teardown grace (no lablet-controller)', undefined, ended(S.TERMINATED, 'w', TEARDOWN_GRACE + 1), {}, GRACE + 1, 'release:teardown-grace'],
    ['TERMINATED on this worker, the worker TERMINATED', undefined, ended(S.TERMINATED, 'w', 1_000), { status: W.TERMINATED }, GRACE + 1, 'release:worker-gone'],
    ['TERMINATED on this worker, the worker TERMINATING', undefined, ended(S.TERMINATED, 'w', 1_000), { status: W.TERMINATING }, GRACE + 1, 'release:worker-gone'],
    ['TERMINATED while PENDING (never placed): an interrupted bind', undefined, ended(S.TERMINATED, null, 1_000), {}, 1, 'release:not-placed-here'],
    ['TERMINATED on another worker', undefined, ended(S.TERMINATED, 'other', 1_000), {}, GRACE + 1, 'release:not-placed-here'],
    ['not listed live but live when looked up (a listing race)', undefined, live('s', S.RUNNING, 'w'), {}, GRACE + 1, 'keep'],
    ['placed on this worker', live('s', S.RUNNING, 'w'), undefined, {}, GRACE + 1, 'keep'],
    ['EXPIRED on this worker (teardown pending)', live('s', S.EXPIRED, 'w'), undefined, {}, GRACE + 1, 'keep'],
    ['placed on another worker', live('s', S.SCHEDULED, 'other'), undefined, {}, GRACE + 1, 'release:placed-elsewhere'],
    ['PENDING, within the grace period', live('s', S.PENDING, null), undefined, {}, GRACE - 1000, 'keep'],
    ['PENDING, past the grace period, worker RUNNING', live('s', S.PENDING, null), undefined, {}, GRACE + 1, 'resume'],
    ['PENDING, past the grace period, worker DRAINING', live('s', S.PENDING, null), undefined, { status: W.DRAINING }, GRACE + 1, 'release:pending-worker-closed'],
    ['PENDING, past the grace period, worker to be stopped', live('s', S.PENDING, null), undefined, { desiredStatus: W.STOPPED }, GRACE + 1, 'release:pending-worker-closed'],
  ];
  it.each(cases)('%s', (name, session, lookedUp, w, age, expected) => {
    const workers = [worker('w', { ...w, reservations: [reservation('s', ago(age))] })];
    const liveSessions = session ? [session] : [];
    expect(unlistedHolders(workers, liveSessions)).toEqual(session ? [] : ['s']);
    const d = reconcileSweep({
      now: NOW,
      workers,
      liveSessions,
      endedSessions: new Map(lookedUp ? [['s', lookedUp]] : []),
      graceMs: GRACE,
      teardownGraceMs: TEARDOWN_GRACE,
    });
    const a = d.actions[0];
    expect(a ? (a.kind === 'release' ? `release:${a.cause}` : a.kind) : 'keep').toBe(expected);
    expect(d.actions.length).toBeLessThanOrEqual(1);
    if (expected === 'resume') expect(a).toMatchObject({ workerId: 'w', sessionId: 's', revision: 7, ports: [{ name: 'console', port: 2000 }] });
    if (name.includes('within the grace')) expect(d.requeueAfterMs).toBe(1000);
    if (name.startsWith('TERMINATED on this worker, teardown not done')) {
      expect(d.awaitingTeardown).toEqual([{ workerId: 'w', sessionId: 's', status: S.TERMINATED, releaseAt: new Date(NOW.getTime() - 1_000 + TEARDOWN_GRACE) }]);
      expect(d.requeueAfterMs).toBe(TEARDOWN_GRACE - 1_000);
    }
    if (expected === 'release:teardown-grace') expect(a).toMatchObject({ reason: expect.stringMatching(/did not finish within 600 s/) });
  });

  it('reads the lablet-controller\'s teardown progress: done, or released', () => {
    expect(teardownDone({ teardown: { done: true } })).toBe(true);
    expect(teardownDone({ teardown: { released: true } })).toBe(true);
    expect(teardownDone({ teardown: { stopped: true, wiped: true } })).toBe(false);
    expect(teardownDone(null)).toBe(false);
    expect(teardownDone('garbage')).toBe(false);
  });
});
