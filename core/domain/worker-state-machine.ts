import { WorkerStatus as W, type WorkerStatus } from './enums.ts';
import { defineStateMachine } from './state-machine.ts';

/**
 * The CmlWorker transition table (research/lcm-domain.md §2.3; the legacy `shutting-down` status is
 * folded into TERMINATING). UNKNOWN may go anywhere: it is what a worker is when EC2 could not be read.
 */
const ALL: readonly WorkerStatus[] = Object.values(W);
export const workerStateMachine = defineStateMachine<WorkerStatus>('CmlWorker', {
  [W.PENDING]: [W.PROVISIONING, W.FAILED, W.TERMINATED, W.UNKNOWN],
  [W.PROVISIONING]: [W.STARTING, W.RUNNING, W.FAILED, W.TERMINATED, W.UNKNOWN],
  [W.STARTING]: [W.RUNNING, W.FAILED, W.STOPPING, W.TERMINATED, W.UNKNOWN],
  [W.RUNNING]: [W.DRAINING, W.STOPPING, W.TERMINATING, W.TERMINATED, W.FAILED, W.UNKNOWN],
  [W.DRAINING]: [W.RUNNING, W.STOPPING, W.TERMINATING, W.TERMINATED, W.FAILED, W.UNKNOWN],
  [W.STOPPING]: [W.STOPPED, W.TERMINATED, W.FAILED, W.UNKNOWN],
  [W.STOPPED]: [W.STARTING, W.TERMINATING, W.TERMINATED, W.UNKNOWN],
  [W.TERMINATING]: [W.TERMINATED, W.UNKNOWN],
  [W.TERMINATED]: [],
  [W.FAILED]: [W.PENDING, W.TERMINATING, W.TERMINATED],
  [W.UNKNOWN]: ALL.filter((s) => s !== W.UNKNOWN),
});

/** Workers the scheduler may place sessions on. */
export const WORKER_ACCEPTS_SESSIONS: ReadonlySet<WorkerStatus> = new Set([W.RUNNING]);
/** Workers that are, or will soon be, capacity (counted before provisioning more). */
export const WORKER_COMING_UP: ReadonlySet<WorkerStatus> = new Set([W.PENDING, W.PROVISIONING, W.STARTING]);
