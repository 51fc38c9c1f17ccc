import { LabletSessionStatus as S, type LabletSessionStatus } from './enums.ts';
import { defineStateMachine } from './state-machine.ts';

/** The LabletSession transition table (DESIGN.md §3; the original system's VALID_TRANSITIONS). */
export const sessionStateMachine = defineStateMachine<LabletSessionStatus>('LabletSession', {
  [S.PENDING]: [S.SCHEDULED, S.TERMINATED],
  [S.SCHEDULED]: [S.INSTANTIATING, S.TERMINATED],
  [S.INSTANTIATING]: [S.READY, S.EXPIRED, S.TERMINATED],
  [S.READY]: [S.RUNNING, S.EXPIRED, S.TERMINATED],
  [S.RUNNING]: [S.COLLECTING, S.STOPPING, S.EXPIRED, S.TERMINATED],
  [S.COLLECTING]: [S.GRADING, S.STOPPING, S.EXPIRED, S.TERMINATED],
  [S.GRADING]: [S.STOPPING, S.EXPIRED, S.TERMINATED],
  [S.STOPPING]: [S.STOPPED, S.ARCHIVED, S.TERMINATED],
  [S.STOPPED]: [S.ARCHIVED, S.TERMINATED],
  [S.ARCHIVED]: [S.TERMINATED],
  [S.EXPIRED]: [S.STOPPING, S.TERMINATED],
  [S.TERMINATED]: [],
});

/** Statuses in which a session holds capacity on a worker. */
export const SESSION_HOLDS_CAPACITY: ReadonlySet<LabletSessionStatus> = new Set([
  S.SCHEDULED,
  S.INSTANTIATING,
  S.READY,
  S.RUNNING,
  S.COLLECTING,
  S.GRADING,
  S.STOPPING,
  S.EXPIRED,
]);

/** Statuses after which nothing more happens to a session but archival or termination. */
export const SESSION_FINISHED: ReadonlySet<LabletSessionStatus> = new Set([S.STOPPED, S.ARCHIVED, S.TERMINATED]);
