import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LabletSessionStatus as S, WorkerStatus as W, values } from './enums.ts';
import { sessionStateMachine } from './session-state-machine.ts';
import { defineStateMachine } from './state-machine.ts';
import { workerStateMachine } from './worker-state-machine.ts';

/** DESIGN.md §3, written out once more as pairs so the table in code is checked against the spec. */
const SESSION_SPEC: Array<[string, string[]]> = [
  ['PENDING', ['SCHEDULED', 'TERMINATED']],
  ['SCHEDULED', ['INSTANTIATING', 'TERMINATED']],
  ['INSTANTIATING', ['READY', 'EXPIRED', 'TERMINATED']],
  ['READY', ['RUNNING', 'EXPIRED', 'TERMINATED']],
  ['RUNNING', ['COLLECTING', 'STOPPING', 'EXPIRED', 'TERMINATED']],
  ['COLLECTING', ['GRADING', 'STOPPING', 'EXPIRED', 'TERMINATED']],
  ['GRADING', ['STOPPING', 'EXPIRED', 'TERMINATED']],
  ['STOPPING', ['STOPPED', 'ARCHIVED', 'TERMINATED']],
  ['STOPPED', ['ARCHIVED', 'TERMINATED']],
  ['ARCHIVED', ['TERMINATED']],
  ['EXPIRED', ['STOPPING', 'TERMINATED']],
  ['TERMINATED', []],
];

describe('session state machine', () => {
  it('has the 12 statuses and exactly the transitions of the design', () => {
    expect([...sessionStateMachine.states].sort()).toEqual(values(S).sort());
    for (const from of values(S)) {
      const allowed = SESSION_SPEC.find(([f]) => f === from)?.[1] ?? [];
      for (const to of values(S)) expect(sessionStateMachine.canTransition(from, to), `${from} -> ${to}`).toBe(allowed.includes(to));
    }
  });

  it('ends every walk in TERMINATED at the latest, which is final', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), (choices) => {
        let state: S = S.PENDING;
        for (const c of choices) {
          const next = sessionStateMachine.next(state);
          if (next.length === 0) break;
          state = next[c % next.length] as S;
        }
        // From anywhere, TERMINATED is one step away unless already there.
        expect(state === S.TERMINATED || sessionStateMachine.canTransition(state, S.TERMINATED)).toBe(true);
      }),
    );
    expect(sessionStateMachine.isTerminal(S.TERMINATED)).toBe(true);
  });
});

describe('worker state machine', () => {
  it('never leaves TERMINATED, and UNKNOWN may go anywhere else', () => {
    expect(workerStateMachine.next(W.TERMINATED)).toEqual([]);
    for (const to of values(W)) if (to !== W.UNKNOWN) expect(workerStateMachine.canTransition(W.UNKNOWN, to)).toBe(true);
    expect(workerStateMachine.canTransition(W.RUNNING, W.PENDING)).toBe(false);
    expect(workerStateMachine.canTransition(W.FAILED, W.PENDING)).toBe(true);
  });

  it('refuses a table that targets an unknown state', () => {
    expect(() => defineStateMachine<'A' | 'B'>('bad', { A: ['C' as 'B'], B: [] })).toThrow(/unknown state/);
  });
});
