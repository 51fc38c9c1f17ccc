import { describe, expect, it } from 'vitest';
import { LabletSessionStatus as S } from '../../core/domain/enums.ts';
import type { ObjectChange } from '../../core/runtime/index.ts';
import type { SessionSummary } from '../kit/sources.ts';
import { CYCLE_KEY, SWEEP_KEY, pendingKeys, placedKeys } from './index.ts';

const session = (status: S): SessionSummary => ({ id: 's1', status, revision: 1, workerId: null, timeslotStart: null, timeslotEnd: null });
const change = (kind: ObjectChange<SessionSummary>['kind'], previous: S | undefined, current: S | undefined): ObjectChange<SessionSummary> => ({
  kind,
  previous: previous ? session(previous) : undefined,
  current: current ? session(current) : undefined,
});

describe('resource-scheduler wake-ups', () => {
  it('PENDING informer: a PENDING session arriving or changing wakes the cycle', () => {
    expect(pendingKeys(change('add', undefined, S.PENDING))).toEqual([CYCLE_KEY]);
    expect(pendingKeys(change('update', S.PENDING, S.PENDING))).toEqual([CYCLE_KEY]);
  });

  it('PENDING informer: writes of sessions it never held (every live session outside PENDING) wake nothing', () => {
    for (const status of [S.SCHEDULED, S.INSTANTIATING, S.READY, S.RUNNING, S.STOPPED, S.TERMINATED, S.ARCHIVED]) {
      expect(pendingKeys(change('delete', undefined, status))).toEqual([]);
    }
  });

  it('PENDING informer: a session scheduled (by a cycle) wakes nothing; one ending while PENDING, or deleted, wakes the sweep', () => {
    expect(pendingKeys(change('delete', S.PENDING, S.SCHEDULED))).toEqual([]);
    expect(pendingKeys(change('delete', S.PENDING, S.TERMINATED))).toEqual([SWEEP_KEY]);
    expect(pendingKeys(change('delete', S.PENDING, undefined))).toEqual([SWEEP_KEY]);
    expect(pendingKeys(change('delete', undefined, undefined))).toEqual([SWEEP_KEY]);
  });

  it('PLACED informer: only a placed session leaving the placed statuses (or deleted) wakes the sweep', () => {
    expect(placedKeys(change('add', undefined, S.SCHEDULED))).toEqual([]);
    expect(placedKeys(change('update', S.INSTANTIATING, S.READY))).toEqual([]);
    expect(placedKeys(change('delete', S.RUNNING, S.TERMINATED))).toEqual([SWEEP_KEY]);
    expect(placedKeys(change('delete', S.STOPPING, S.STOPPED))).toEqual([SWEEP_KEY]);
    expect(placedKeys(change('delete', S.READY, undefined))).toEqual([SWEEP_KEY]);
    // Never held: a PENDING session's writes, an ended session moving on.
    expect(placedKeys(change('delete', undefined, S.PENDING))).toEqual([]);
    expect(placedKeys(change('delete', undefined, S.ARCHIVED))).toEqual([]);
    expect(placedKeys(change('delete', undefined, undefined))).toEqual([SWEEP_KEY]);
  });
});
