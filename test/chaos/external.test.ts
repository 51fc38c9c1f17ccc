import { describe, expect, it } from 'vitest';
import { causeOf, checkSessions, exposure } from './external.ts';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const session = (id: string, moves: Array<[string, string | null, number]>) => ({
  id,
  status: moves.at(-1)?.[0] ?? 'PENDING',
  createdAt: at(0),
  statusHistory: moves.map(([to, reason, s]) => ({ from: null, to, reason, at: at(s) })),
  scoreReport: null,
});

describe('external-fault run checks', () => {
  it('names the fault a TERMINATED reason points at, and only those that may end a session', () => {
    expect(causeOf('lab abc did not boot within 20 s')).toBe('cml-never-boot');
    expect(causeOf('worker w1: instance i-1 lost: terminated (Server.SpotInstanceTermination), not by LCM')).toBe('ec2-instance-lost');
    expect(causeOf('instantiation failed at step tags after 6 attempts: CML GET /labs/x/nodes: cannot connect (ECONNREFUSED)')).toBe('ec2-instance-lost');
    expect(causeOf('grading timed out after 1800 s')).toBeUndefined();
    expect(causeOf('instantiation failed at step lab after 6 attempts: CML 502')).toBeUndefined();
  });

  it('finds a status entered twice, several score reports, a missing reason, and a termination no armed fault explains', () => {
    const sessions = [
      session('ok', [['SCHEDULED', null, 1], ['ARCHIVED', 'torn down', 9]]),
      session('twice', [['READY', null, 1], ['RUNNING', null, 2], ['READY', null, 3]]),
      session('silent', [['TERMINATED', null, 4]]),
      session('boot', [['TERMINATED', 'lab l did not boot within 20 s', 5]]),
      session('grading', [['TERMINATED', 'grading timed out after 30 s', 5]]),
    ];
    const f = checkSessions(sessions, [{ session: { id: 'ok' } }, { session: { id: 'ok' } }], new Set(['cml-never-boot']));
    expect(f.backwards).toEqual([expect.stringContaining('twice entered READY twice')]);
    expect(f.reports).toEqual(['ok has 2 score reports']);
    expect(f.reasons).toEqual(['silent TERMINATED without a reason']);
    expect(f.unexplained).toEqual(['grading TERMINATED: grading timed out after 30 s']);
    // The same never-boot termination is unexplained when that fault was never armed.
    expect(checkSessions([sessions[3]!], [], new Set()).unexplained).toHaveLength(1);
  });

  it('counts the sessions alive during a window by final status', () => {
    const sessions = [session('early', [['ARCHIVED', 'torn down', 5]]), session('late', [['TERMINATED', 'x', 30]])];
    const w = (from: number, to: number) => ({ from: Date.parse(at(from)), to: Date.parse(at(to)) });
    expect(exposure(sessions, [w(10, 12)])).toEqual({ TERMINATED: 1 });
    expect(exposure(sessions, [w(1, 2)])).toEqual({ ARCHIVED: 1, TERMINATED: 1 });
  });
});
