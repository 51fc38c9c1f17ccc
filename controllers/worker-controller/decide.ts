/**
 * The worker-controller's decisions, pure: what was observed (the worker as the workers subgraph has
 * it, its EC2 instance, its CML server, the fleet) in, the next idempotent steps out. No I/O here;
 * actions.ts performs the steps and reconcile.ts ties observation, decision and action together.
 *
 * Two decisions:
 * - `decideWorker`: one worker's lifecycle against EC2 and CML (launch, follow to running, wait for
 *   CML, licence, observe, RUNNING; start/stop/terminate on the desired status; instance lost;
 *   provisioning timeout; insufficient capacity).
 * - `decideFleet`: what concerns several workers at once (minimum workers, idle scale-down with its
 *   cooldown, a drained worker needed again, orphan instances).
 *
 * Level-triggered: each call sees the current state and asks for the next step only; running the
 * same plan twice is harmless (every action is idempotent or guarded by a revision).
 */
import { createHash } from 'node:crypto';
import { WorkerStatus as W, type LicenseType, type WorkerStatus } from '../../core/domain/enums.ts';
import { workerStateMachine } from '../../core/domain/worker-state-machine.ts';

export type Ec2State = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface InstanceView {
  instanceId: string;
  state: Ec2State;
  instanceType: string | null;
  imageId: string | null;
  privateIp: string | null;
  publicIp: string | null;
  launchTime: Date | null;
  stateReason: string | null;
  /** The `lcm:worker-id` tag. */
  workerId: string | null;
  /** Whether it carries LCM's `lcm:managed-by` tag. */
  managed: boolean;
}

/**
 * The worker's instance as EC2 shows it: `none` (no id recorded and none tagged for the worker),
 * `found`, or `not-found` (the recorded id is unknown to EC2: gone, or not yet visible after launch).
 */
export type InstanceObservation = { kind: 'none' } | { kind: 'found'; instance: InstanceView } | { kind: 'not-found'; instanceId: string };

/** The worker's CML server, probed while it is starting. */
export type CmlProbe =
  | { kind: 'unreachable'; detail: string }
  | { kind: 'not-ready' }
  | { kind: 'ready'; version: string | null; registration: string | null };

/** The worker as the controller needs it (from the workers subgraph). */
export interface WorkerFacts {
  id: string;
  name: string;
  revision: number;
  status: WorkerStatus;
  desiredStatus: WorkerStatus;
  statusReason: string | null;
  templateName: string;
  instanceType: string | null;
  ec2InstanceId: string | null;
  ipAddress: string | null;
  licenseType: LicenseType | null;
  /** Sessions holding a reservation on it. */
  reservations: number;
  idleSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** When its CML system statistics were last recorded (from `systemStats.observedAt`). */
  lastObservedAt: Date | null;
}

/** An instance type the worker may be launched as: its template's first, then bigger ones. */
export interface LaunchCandidate {
  templateName: string;
  instanceType: string;
  amiNamePattern: string;
}

export interface LaunchState {
  candidates: readonly LaunchCandidate[];
  /** Instance types that failed with InsufficientInstanceCapacity in the current round. */
  failedTypes: readonly string[];
  /** InsufficientInstanceCapacity failures so far. */
  attempts: number;
}

export interface WorkerSettings {
  provisionTimeoutMs: number;
  /** How often a step in progress (boot, stop, licence) is looked at again. */
  pollMs: number;
  /** How often a RUNNING worker's CML system statistics are recorded. */
  observeIntervalMs: number;
  /** Whether a licence token is configured (register it on new workers). */
  licenseToken: boolean;
  scaleDownAction: 'terminate' | 'stop';
  /** InsufficientInstanceCapacity failures after which the worker is FAILED. */
  maxLaunchAttempts: number;
  /** Wait before another round of instance types after every candidate lacked capacity. */
  launchRoundBackoffMs: number;
}

export interface WorkerObserved {
  worker: WorkerFacts;
  instance: InstanceObservation;
  /** Probed only for a STARTING worker whose instance runs. */
  cml?: CmlProbe;
  launch: LaunchState;
  settings: WorkerSettings;
  now: Date;
}

/** Instance facts to record on the worker. */
export interface InstanceRecord {
  ec2InstanceId: string;
  instanceType?: string;
  amiId?: string;
  ipAddress?: string;
}

export type WorkerAction =
  | { type: 'launch'; candidate: LaunchCandidate }
  | { type: 'new-launch-round' }
  | { type: 'record-instance'; record: InstanceRecord }
  | { type: 'transition'; to: WorkerStatus; reason: string }
  | { type: 'set-desired'; desired: WorkerStatus; reason: string }
  | { type: 'start-instance'; instanceId: string }
  | { type: 'stop-instance'; instanceId: string }
  | { type: 'terminate-instance'; instanceId: string }
  | { type: 'register-license' }
  | { type: 'observe'; full: boolean }
  | { type: 'terminate-sessions'; reason: string };

export interface WorkerPlan {
  actions: WorkerAction[];
  /** Look again after this long (a step in progress, or the next observation). */
  requeueAfterMs?: number;
  /** What the controller is doing or waiting for, for logs. */
  summary: string;
}

/** Reasons of the controller's own scale-down steps start with this (see `scaledDown`). */
export const SCALE_DOWN = 'scale-down';
export const isScaleDownReason = (reason: string | null | undefined): boolean => (reason ?? '').startsWith(SCALE_DOWN);

const GONE: ReadonlySet<Ec2State> = new Set(['terminated', 'shutting-down']);
const PROVISIONING_PHASE: ReadonlySet<WorkerStatus> = new Set([W.PENDING, W.PROVISIONING, W.STARTING]);
/** Statuses in which the worker has (or had) an instance that should exist. */
const EXPECTS_INSTANCE: ReadonlySet<WorkerStatus> = new Set([W.STARTING, W.RUNNING, W.DRAINING, W.STOPPING, W.STOPPED, W.TERMINATING, W.UNKNOWN]);

const address = (i: InstanceView): string | null => i.privateIp ?? i.publicIp;

function recordOf(i: InstanceView): InstanceRecord {
  const ip = address(i);
  return {
    ec2InstanceId: i.instanceId,
    ...(i.instanceType ? { instanceType: i.instanceType } : {}),
    ...(i.imageId ? { amiId: i.imageId } : {}),
    ...(ip ? { ipAddress: ip } : {}),
  };
}

const plan = (summary: string, actions: WorkerAction[] = [], requeueAfterMs?: number): WorkerPlan =>
  requeueAfterMs === undefined ? { actions, summary } : { actions, summary, requeueAfterMs };

/** End a worker's instance: through TERMINATING when the table allows it, else straight to TERMINATED. */
function retire(w: WorkerFacts, live: InstanceView | undefined, reason: string, pollMs: number): WorkerPlan {
  if (workerStateMachine.canTransition(w.status, W.TERMINATING) && live) {
    return plan(`terminating: ${reason}`, [{ type: 'transition', to: W.TERMINATING, reason }, { type: 'terminate-instance', instanceId: live.instanceId }], pollMs);
  }
  const actions: WorkerAction[] = live ? [{ type: 'terminate-instance', instanceId: live.instanceId }] : [];
  if (w.reservations > 0) actions.push({ type: 'terminate-sessions', reason: `worker ${w.name} terminated: ${reason}` });
  actions.push({ type: 'transition', to: W.TERMINATED, reason });
  return plan(`terminated: ${reason}`, actions);
}

/** Whether an IP recorded on the worker differs from the instance's. */
function addressChanged(w: WorkerFacts, i: InstanceView): boolean {
  const ip = address(i);
  return ip !== null && ip !== w.ipAddress;
}

/** The next steps for one worker. */
export function decideWorker(o: WorkerObserved): WorkerPlan {
  const { worker: w, instance: obs, settings: s, now } = o;
  const found = obs.kind === 'found' ? obs.instance : undefined;
  const gone = obs.kind === 'not-found' || (found !== undefined && GONE.has(found.state));
  const live = found && !gone ? found : undefined;
  const poll = s.pollMs;
  const instanceId = found?.instanceId ?? (obs.kind === 'not-found' ? obs.instanceId : w.ec2InstanceId);

  // A TERMINATED worker: nothing of it may survive (an instance left running, sessions left on it).
  if (w.status === W.TERMINATED) {
    const actions: WorkerAction[] = [];
    if (live) actions.push({ type: 'terminate-instance', instanceId: live.instanceId });
    if (w.reservations > 0) actions.push({ type: 'terminate-sessions', reason: `worker ${w.name} is TERMINATED` });
    return plan(actions.length ? 'cleaning up after termination' : 'terminated', actions);
  }

  // The instance is gone: expected (TERMINATING, or desired TERMINATED), or lost.
  if (gone && EXPECTS_INSTANCE.has(w.status)) {
    const detail = obs.kind === 'not-found' ? 'unknown to EC2' : `${found?.state}${found?.stateReason ? ` (${found.stateReason})` : ''}`;
    if (w.status === W.TERMINATING || w.desiredStatus === W.TERMINATED) {
      const actions: WorkerAction[] = [];
      if (w.reservations > 0) actions.push({ type: 'terminate-sessions', reason: `worker ${w.name} terminated` });
      actions.push({ type: 'transition', to: W.TERMINATED, reason: `${isScaleDownReason(w.statusReason) ? `${SCALE_DOWN}: ` : ''}instance ${instanceId} terminated` });
      return plan('instance terminated', actions);
    }
    const reason = `instance ${instanceId} lost: ${detail}, not by LCM`;
    return plan(reason, [
      { type: 'terminate-sessions', reason: `worker ${w.name}: ${reason}` },
      { type: 'transition', to: W.TERMINATED, reason },
    ]);
  }

  // Provisioning must end within the timeout (counted from the request, or from the last start).
  if (PROVISIONING_PHASE.has(w.status) && w.desiredStatus !== W.TERMINATED) {
    const since = Math.max(w.createdAt.getTime(), found?.launchTime?.getTime() ?? 0);
    const waited = now.getTime() - since;
    if (waited > s.provisionTimeoutMs) {
      const reason = `not RUNNING within ${Math.round(s.provisionTimeoutMs / 1000)} s (${w.status}: ${waitingFor(o)})`;
      const actions: WorkerAction[] = [{ type: 'transition', to: W.FAILED, reason }];
      if (live) actions.push({ type: 'terminate-instance', instanceId: live.instanceId });
      return plan(`provisioning timed out: ${reason}`, actions);
    }
  }

  switch (w.status) {
    case W.PENDING:
      return decidePending(o, live);
    case W.PROVISIONING: {
      if (w.desiredStatus === W.TERMINATED) return retire(w, live, 'cancelled: desired TERMINATED', poll);
      if (obs.kind === 'none') return plan('no instance', [{ type: 'transition', to: W.FAILED, reason: 'no EC2 instance recorded or tagged for the worker' }]);
      if (found && gone) return plan('instance ended while launching', [{ type: 'transition', to: W.FAILED, reason: `instance ${found.instanceId} ${found.state} while launching${found.stateReason ? ` (${found.stateReason})` : ''}` }]);
      if (!live) return plan('instance not visible yet (eventual consistency)', [], poll); // not-found right after launch
      if (live.state === 'pending') return plan('instance booting', addressChanged(w, live) ? [{ type: 'record-instance', record: recordOf(live) }] : [], poll);
      if (live.state === 'running') {
        return plan('instance running', [
          { type: 'record-instance', record: recordOf(live) },
          { type: 'transition', to: W.STARTING, reason: `instance ${live.instanceId} running at ${address(live) ?? 'no address'}; waiting for CML` },
        ], poll);
      }
      return plan('instance stopped while provisioning', [{ type: 'transition', to: W.STARTING, reason: `instance ${live.instanceId} ${live.state} while provisioning; starting it` }], poll);
    }
    case W.STARTING:
      return decideStarting(o, live);
    case W.RUNNING:
    case W.DRAINING:
      return decideServing(o, live);
    case W.STOPPING: {
      if (w.desiredStatus === W.TERMINATED) return retire(w, live, 'desired TERMINATED', poll);
      if (!live) return plan('no instance to stop', [{ type: 'transition', to: W.STOPPED, reason: 'no instance' }]);
      if (live.state === 'running') return plan('stopping instance', [{ type: 'stop-instance', instanceId: live.instanceId }], poll);
      if (live.state === 'stopped') {
        return plan('instance stopped', [{ type: 'transition', to: W.STOPPED, reason: `${isScaleDownReason(w.statusReason) ? `${SCALE_DOWN}: ` : ''}instance ${live.instanceId} stopped` }]);
      }
      return plan(`waiting for the instance (${live.state})`, [], poll);
    }
    case W.STOPPED: {
      if (w.desiredStatus === W.TERMINATED) return retire(w, live, 'desired TERMINATED', poll);
      if (w.desiredStatus === W.RUNNING) {
        if (!live) return plan('no instance to start', [{ type: 'transition', to: W.STARTING, reason: 'desired RUNNING' }], poll);
        if (live.state === 'stopping') return plan('waiting for the instance to stop before starting it', [], poll);
        const actions: WorkerAction[] = [{ type: 'transition', to: W.STARTING, reason: 'starting: desired RUNNING' }];
        if (live.state === 'stopped') actions.push({ type: 'start-instance', instanceId: live.instanceId });
        return plan('starting', actions, poll);
      }
      if (live?.state === 'running') return plan('instance started outside LCM; stopping it', [{ type: 'stop-instance', instanceId: live.instanceId }], poll);
      return plan('stopped');
    }
    case W.TERMINATING: {
      if (live) return plan('terminating instance', [{ type: 'terminate-instance', instanceId: live.instanceId }], poll);
      const actions: WorkerAction[] = [];
      if (w.reservations > 0) actions.push({ type: 'terminate-sessions', reason: `worker ${w.name} terminated` });
      actions.push({ type: 'transition', to: W.TERMINATED, reason: isScaleDownReason(w.statusReason) ? `${SCALE_DOWN}: terminated` : 'no instance left' });
      return plan('terminated', actions);
    }
    case W.FAILED: {
      const actions: WorkerAction[] = [];
      if (live) actions.push({ type: 'terminate-instance', instanceId: live.instanceId });
      if (w.reservations > 0) actions.push({ type: 'terminate-sessions', reason: `worker ${w.name} FAILED: ${w.statusReason ?? ''}` });
      if (!live && w.desiredStatus === W.TERMINATED) actions.push({ type: 'transition', to: W.TERMINATED, reason: `retired after failure: ${w.statusReason ?? 'failed'}` });
      return plan(live ? 'failed: terminating its instance' : 'failed', actions, live ? poll : undefined);
    }
    case W.UNKNOWN: {
      // Re-derive the status from EC2 (UNKNOWN may go anywhere).
      if (!found) {
        return obs.kind === 'none'
          ? plan('unknown, no instance', [{ type: 'transition', to: W.PENDING, reason: 'no instance: launching' }])
          : plan('unknown, instance gone', [{ type: 'terminate-sessions', reason: `worker ${w.name}: instance gone` }, { type: 'transition', to: W.TERMINATED, reason: 'instance gone' }]);
      }
      const to: WorkerStatus = { pending: W.PROVISIONING, running: W.STARTING, stopping: W.STOPPING, stopped: W.STOPPED, 'shutting-down': W.TERMINATING, terminated: W.TERMINATED }[found.state];
      return plan(`unknown → ${to}`, [{ type: 'record-instance', record: recordOf(found) }, { type: 'transition', to, reason: `instance ${found.instanceId} is ${found.state}` }], poll);
    }
    default:
      return plan(`no rule for ${String(w.status)}`);
  }
}

function decidePending(o: WorkerObserved, live: InstanceView | undefined): WorkerPlan {
  const { worker: w, instance: obs, launch, settings: s } = o;
  if (w.desiredStatus === W.TERMINATED) {
    const actions: WorkerAction[] = live ? [{ type: 'terminate-instance', instanceId: live.instanceId }] : [];
    actions.push({ type: 'transition', to: W.TERMINATED, reason: 'cancelled before it ran: desired TERMINATED' });
    return plan('cancelled', actions);
  }
  if (live) {
    return plan('instance found (adopted)', [
      { type: 'record-instance', record: recordOf(live) },
      { type: 'transition', to: W.PROVISIONING, reason: `instance ${live.instanceId} launched` },
    ], s.pollMs);
  }
  if (obs.kind === 'found') {
    return plan('instance ended while launching', [{ type: 'transition', to: W.FAILED, reason: `instance ${obs.instance.instanceId} ${obs.instance.state} while launching` }]);
  }
  if (w.desiredStatus === W.STOPPED) return plan('not launched: desired STOPPED');
  if (obs.kind === 'not-found') return plan('recorded instance not visible yet', [], s.pollMs);
  if (launch.attempts >= s.maxLaunchAttempts) {
    const types = [...new Set(launch.failedTypes)].join(', ') || 'every candidate type';
    return plan('no capacity', [{ type: 'transition', to: W.FAILED, reason: `InsufficientInstanceCapacity (${types}) after ${launch.attempts} attempts` }]);
  }
  if (launch.candidates.length === 0) {
    return plan('no template', [{ type: 'transition', to: W.FAILED, reason: `worker template "${w.templateName}" not found` }]);
  }
  const next = launch.candidates.find((c) => !launch.failedTypes.includes(c.instanceType));
  if (!next) return plan('every candidate type lacked capacity; waiting for another round', [{ type: 'new-launch-round' }], s.launchRoundBackoffMs);
  return plan(`launching ${next.instanceType}`, [{ type: 'launch', candidate: next }], s.pollMs);
}

function decideStarting(o: WorkerObserved, live: InstanceView | undefined): WorkerPlan {
  const { worker: w, settings: s, cml } = o;
  const poll = s.pollMs;
  if (w.desiredStatus === W.TERMINATED) return retire(w, live, 'desired TERMINATED', poll);
  if (!live) return plan('no instance', [{ type: 'transition', to: W.FAILED, reason: 'no EC2 instance recorded or tagged for the worker' }]);
  if (w.desiredStatus === W.STOPPED) {
    if (live.state === 'pending') return plan('waiting for boot before stopping', [], poll);
    const actions: WorkerAction[] = [{ type: 'transition', to: W.STOPPING, reason: 'desired STOPPED' }];
    if (live.state === 'running') actions.push({ type: 'stop-instance', instanceId: live.instanceId });
    return plan('stopping', actions, poll);
  }
  if (live.state === 'stopped') return plan('starting instance', [{ type: 'start-instance', instanceId: live.instanceId }], poll);
  if (live.state !== 'running') return plan(`waiting for the instance (${live.state})`, [], poll);
  const actions: WorkerAction[] = addressChanged(w, live) ? [{ type: 'record-instance', record: recordOf(live) }] : [];
  if (!cml || cml.kind !== 'ready') return plan(`waiting for CML (${waitingFor(o)})`, actions, poll);
  if (s.licenseToken && cml.registration !== 'COMPLETED') {
    if (cml.registration === 'IN_PROGRESS') return plan('licence registration in progress', actions, poll);
    actions.push({ type: 'register-license' });
    return plan(`registering the licence (was ${cml.registration ?? 'unknown'})`, actions, poll);
  }
  actions.push({ type: 'observe', full: true }, { type: 'transition', to: W.RUNNING, reason: `CML ${cml.version ?? ''} ready`.replace('  ', ' ') });
  return plan('CML ready', actions, s.observeIntervalMs);
}

function decideServing(o: WorkerObserved, live: InstanceView | undefined): WorkerPlan {
  const { worker: w, settings: s, now } = o;
  const poll = s.pollMs;
  if (w.desiredStatus === W.TERMINATED) return retire(w, live, isScaleDownReason(w.statusReason) ? `${SCALE_DOWN}: terminate` : 'desired TERMINATED', poll);
  if (!live) return plan('no instance', [{ type: 'terminate-sessions', reason: `worker ${w.name} has no instance` }, { type: 'transition', to: W.TERMINATED, reason: 'no EC2 instance recorded or tagged for the worker' }]);
  if (w.desiredStatus === W.STOPPED) {
    const actions: WorkerAction[] = [{ type: 'transition', to: W.STOPPING, reason: isScaleDownReason(w.statusReason) ? `${SCALE_DOWN}: stop` : 'desired STOPPED' }];
    if (live.state === 'running') actions.push({ type: 'stop-instance', instanceId: live.instanceId });
    return plan('stopping', actions, poll);
  }
  if (live.state === 'stopping' || live.state === 'stopped') {
    const reason = `instance ${live.instanceId} ${live.state} outside LCM`;
    return plan(reason, [
      { type: 'terminate-sessions', reason: `worker ${w.name}: ${reason}` },
      { type: 'transition', to: W.STOPPING, reason },
    ], poll);
  }
  if (live.state !== 'running') return plan(`instance ${live.state}`, [], poll);
  const actions: WorkerAction[] = addressChanged(w, live) ? [{ type: 'record-instance', record: recordOf(live) }] : [];
  // A drained worker whose sessions are gone proceeds to the scale-down action.
  if (w.status === W.DRAINING && w.reservations === 0) {
    const desired = s.scaleDownAction === 'stop' ? W.STOPPED : W.TERMINATED;
    const reason = isScaleDownReason(w.statusReason) ? w.statusReason ?? SCALE_DOWN : `drained: ${w.statusReason ?? ''}`.trim();
    actions.push({ type: 'set-desired', desired, reason });
    return plan(`drained; desired ${desired}`, actions, poll);
  }
  const due = w.lastObservedAt === null ? 0 : w.lastObservedAt.getTime() + s.observeIntervalMs - now.getTime();
  if (due <= 0) {
    actions.push({ type: 'observe', full: false });
    return plan('observing', actions, s.observeIntervalMs);
  }
  return plan(w.status === W.DRAINING ? `draining (${w.reservations} sessions)` : 'running', actions, due);
}

/** What a worker in provisioning is waiting for (for its status reason on timeout). */
function waitingFor(o: WorkerObserved): string {
  const { worker: w, instance: obs, cml } = o;
  if (w.status === W.PENDING) return o.launch.attempts > 0 ? `launch: InsufficientInstanceCapacity ×${o.launch.attempts}` : 'launch';
  if (obs.kind !== 'found') return 'instance not visible in EC2';
  if (obs.instance.state !== 'running') return `instance ${obs.instance.state}`;
  if (!cml) return 'CML not probed';
  if (cml.kind === 'unreachable') return `CML unreachable: ${cml.detail}`;
  if (cml.kind === 'not-ready') return 'CML not ready';
  if (o.settings.licenseToken && cml.registration !== 'COMPLETED') return `licence registration ${cml.registration ?? 'unknown'}`;
  return 'CML ready';
}

// ---------------------------------------------------------------------------------------------------
// The fleet

export interface TemplateFacts {
  name: string;
  instanceType: string;
  amiNamePattern: string;
  capacity: { cpuCores: number; memoryGb: number; storageGb: number; maxNodes: number };
  licenseType: LicenseType;
  costPerHour: number;
  enabled: boolean;
}

export interface FleetSettings {
  minWorkers: number;
  idleMs: number;
  cooldownMs: number;
  scaleDownAction: 'terminate' | 'stop';
  /** An orphan instance younger than this is left alone (its worker may be recording it). */
  orphanGraceMs: number;
  /** Look at the fleet again at least this often. */
  periodMs: number;
}

export interface FleetObserved {
  /** Every worker, TERMINATED ones included (orphans are matched against them). */
  workers: readonly WorkerFacts[];
  templates: readonly TemplateFacts[];
  /** PENDING sessions that want capacity soon (no timeslot, or one starting within the idle threshold). */
  pendingDemand: number;
  /** LCM-tagged live instances, when they were listed on this pass. */
  instances?: readonly InstanceView[];
  lastScaleDownAt: Date | null;
  settings: FleetSettings;
  now: Date;
}

export type FleetAction =
  | { type: 'request-worker'; templateName: string; requestKey: string; reason: string }
  | { type: 'set-desired'; workerId: string; desired: WorkerStatus; reason: string }
  | { type: 'scale-down'; workerId: string; expectedRevision: number; desired: WorkerStatus; reason: string }
  | { type: 'undrain'; workerId: string; expectedRevision: number; reason: string }
  | { type: 'terminate-orphan'; instanceId: string; reason: string };

export interface FleetPlan {
  actions: FleetAction[];
  requeueAfterMs: number;
  summary: string[];
}

/** Workers counted towards LCM_MIN_WORKERS: meant to run and not on their way out. */
const KEPT: ReadonlySet<WorkerStatus> = new Set([W.PENDING, W.PROVISIONING, W.STARTING, W.RUNNING, W.STOPPING, W.STOPPED, W.UNKNOWN]);
const isKept = (w: WorkerFacts): boolean => w.desiredStatus === W.RUNNING && KEPT.has(w.status);
const isServing = (w: WorkerFacts): boolean => w.status === W.RUNNING && w.desiredStatus === W.RUNNING;
const isComingUp = (w: WorkerFacts): boolean => w.desiredStatus === W.RUNNING && (w.status === W.PENDING || w.status === W.PROVISIONING || w.status === W.STARTING);
/** Stopped by the controller's scale-down (not by an operator): may be started again on demand. */
const isScaledDownStopped = (w: WorkerFacts): boolean => w.status === W.STOPPED && w.desiredStatus === W.STOPPED && isScaleDownReason(w.statusReason);

/**
 * The idempotency key of a min-workers request: derived from the workers the decision counted, so
 * retrying the same decision returns the same worker, and a later decision (the counted set changed)
 * asks anew.
 */
export function minWorkersRequestKey(counted: readonly string[], slot: number): string {
  const digest = createHash('sha256').update([...counted].sort().join(',')).update(`#${slot}`).digest('hex').slice(0, 24);
  return `lcm:min-workers:${digest}`;
}

/** The cheapest enabled template (by cost per hour, then name). */
export function cheapestTemplate(templates: readonly TemplateFacts[]): TemplateFacts | undefined {
  return [...templates].filter((t) => t.enabled).sort((a, b) => a.costPerHour - b.costPerHour || a.name.localeCompare(b.name))[0];
}

export function decideFleet(o: FleetObserved): FleetPlan {
  const { workers, settings: s, now } = o;
  const t = now.getTime();
  const actions: FleetAction[] = [];
  const summary: string[] = [];
  let requeueAfterMs = s.periodMs;
  const later = (ms: number) => {
    requeueAfterMs = Math.max(1, Math.min(requeueAfterMs, Math.ceil(ms)));
  };

  // 1. Minimum workers: restart workers the scale-down stopped, then request new ones.
  const kept = workers.filter(isKept);
  let shortfall = s.minWorkers - kept.length;
  if (shortfall > 0) {
    for (const w of workers.filter(isScaledDownStopped)) {
      if (shortfall <= 0) break;
      actions.push({ type: 'set-desired', workerId: w.id, desired: W.RUNNING, reason: `min workers (${s.minWorkers})` });
      shortfall -= 1;
    }
    const template = cheapestTemplate(o.templates);
    if (shortfall > 0 && !template) summary.push(`min workers: ${shortfall} missing and no enabled template`);
    for (let slot = 0; template && slot < shortfall; slot++) {
      actions.push({
        type: 'request-worker',
        templateName: template.name,
        requestKey: minWorkersRequestKey(kept.map((w) => w.id), slot),
        reason: `min workers (${s.minWorkers}): ${kept.length} kept`,
      });
    }
    if (shortfall > 0) summary.push(`min workers: requesting ${shortfall}`);
  }

  // 2. Demand: a worker drained by scale-down and not yet told to go is needed again; with no worker
  //    coming up, a worker the scale-down stopped is started again.
  if (o.pendingDemand > 0) {
    for (const w of workers) {
      if (w.status === W.DRAINING && w.desiredStatus === W.RUNNING && isScaleDownReason(w.statusReason)) {
        actions.push({ type: 'undrain', workerId: w.id, expectedRevision: w.revision, reason: `needed again: ${o.pendingDemand} pending sessions` });
      }
    }
    const restarting = actions.some((a) => a.type === 'set-desired' || a.type === 'undrain');
    const stopped = workers.filter(isScaledDownStopped).filter((w) => !actions.some((a) => a.type === 'set-desired' && a.workerId === w.id));
    if (!restarting && !workers.some(isComingUp) && stopped[0]) {
      actions.push({ type: 'set-desired', workerId: stopped[0].id, desired: W.RUNNING, reason: `needed again: ${o.pendingDemand} pending sessions` });
    }
  }

  // 3. Scale-down: idle RUNNING workers past the threshold, above the minimum, one per cooldown, and
  //    none while sessions wait for capacity.
  const serving = workers.filter(isServing);
  const idle = serving
    .filter((w) => w.reservations === 0 && w.idleSince !== null)
    .sort((a, b) => (a.idleSince as Date).getTime() - (b.idleSince as Date).getTime() || a.id.localeCompare(b.id));
  const eligible = idle.filter((w) => t - (w.idleSince as Date).getTime() >= s.idleMs);
  for (const w of idle) if (!eligible.includes(w)) later((w.idleSince as Date).getTime() + s.idleMs - t);
  const allowed = serving.length - s.minWorkers;
  if (eligible.length > 0) {
    if (o.pendingDemand > 0) summary.push(`scale-down held: ${o.pendingDemand} sessions waiting for capacity`);
    else if (allowed <= 0) summary.push(`scale-down held: ${serving.length} serving, min ${s.minWorkers}`);
    else {
      const cooldownLeft = o.lastScaleDownAt ? o.lastScaleDownAt.getTime() + s.cooldownMs - t : 0;
      if (cooldownLeft > 0) {
        summary.push(`scale-down in cooldown for ${Math.ceil(cooldownLeft / 1000)} s`);
        later(cooldownLeft);
      } else {
        const n = Math.min(allowed, s.cooldownMs > 0 ? 1 : eligible.length);
        const desired = s.scaleDownAction === 'stop' ? W.STOPPED : W.TERMINATED;
        for (const w of eligible.slice(0, n)) {
          actions.push({
            type: 'scale-down',
            workerId: w.id,
            expectedRevision: w.revision,
            desired,
            reason: `${SCALE_DOWN}: idle since ${(w.idleSince as Date).toISOString()} (${Math.round((t - (w.idleSince as Date).getTime()) / 1000)} s ≥ ${Math.round(s.idleMs / 1000)} s)`,
          });
        }
        if (eligible.length > n && s.cooldownMs > 0) later(s.cooldownMs);
      }
    }
  }

  // 4. Orphans: LCM-tagged instances no live worker accounts for.
  if (o.instances) {
    const byId = new Map(workers.map((w) => [w.id, w]));
    for (const i of o.instances) {
      const age = i.launchTime ? t - i.launchTime.getTime() : Number.POSITIVE_INFINITY;
      const w = i.workerId ? byId.get(i.workerId) : undefined;
      let why: string | undefined;
      if (!i.workerId) why = 'carries no lcm:worker-id tag';
      else if (!w) why = `its worker ${i.workerId} does not exist`;
      else if (w.status === W.TERMINATED) why = `its worker ${w.id} is TERMINATED`;
      else if (w.ec2InstanceId && w.ec2InstanceId !== i.instanceId) why = `its worker ${w.id} runs on ${w.ec2InstanceId}`;
      if (!why) continue;
      if (age < s.orphanGraceMs) {
        later(s.orphanGraceMs - age);
        continue;
      }
      actions.push({ type: 'terminate-orphan', instanceId: i.instanceId, reason: `orphan instance: ${why}` });
    }
  }
  return { actions, requeueAfterMs, summary };
}
