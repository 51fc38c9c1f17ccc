import { describe, expect, it } from 'vitest';
import { WorkerStatus as W, type WorkerStatus } from '../../core/domain/enums.ts';
import { workerStateMachine } from '../../core/domain/worker-state-machine.ts';
import {
  decideFleet,
  decideWorker,
  minWorkersRequestKey,
  type CmlProbe,
  type Ec2State,
  type FleetAction,
  type FleetObserved,
  type InstanceObservation,
  type InstanceView,
  type LaunchState,
  type TemplateFacts,
  type WorkerAction,
  type WorkerFacts,
  type WorkerSettings,
} from './decide.ts';
import { launchCandidates } from './reconcile.ts';
import { clientToken } from './ec2.ts';

const NOW = new Date('2026-11-22T10:00:00.000Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);

const worker = (o: Partial<WorkerFacts> = {}): WorkerFacts => ({
  id: 'wkr_1',
  name: 'cml-1',
  revision: 5,
  status: W.RUNNING,
  desiredStatus: W.RUNNING,
  statusReason: null,
  templateName: 'metal',
  instanceType: 'm5zn.metal',
  ec2InstanceId: 'i-0123456789abcdef0',
  ipAddress: '127.1.0.1',
  licenseType: 'ENTERPRISE',
  reservations: 0,
  idleSince: null,
  createdAt: ago(60),
  updatedAt: ago(10),
  lastObservedAt: ago(5),
  ...o,
});

const instance = (state: Ec2State, o: Partial<InstanceView> = {}): InstanceObservation => ({
  kind: 'found',
  instance: {
    instanceId: 'i-0123456789abcdef0',
    state,
    instanceType: 'm5zn.metal',
    imageId: 'ami-0123456789abcdef0',
    privateIp: '127.1.0.1',
    publicIp: '127.1.0.2',
    launchTime: ago(30),
    stateReason: null,
    workerId: 'wkr_1',
    managed: true,
    ...o,
  },
});
const NONE: InstanceObservation = { kind: 'none' };
const NOT_FOUND: InstanceObservation = { kind: 'not-found', instanceId: 'i-0123456789abcdef0' };

const SETTINGS: WorkerSettings = {
  provisionTimeoutMs: 900_000,
  pollMs: 1_000,
  observeIntervalMs: 30_000,
  licenseToken: false,
  scaleDownAction: 'terminate',
  maxLaunchAttempts: 3,
  launchRoundBackoffMs: 30_000,
};
const CANDIDATES = [
  { templateName: 'metal', instanceType: 'm5zn.metal', amiNamePattern: 'CML-*' },
  { templateName: 'metal-b', instanceType: 'm7i.metal-48xl', amiNamePattern: 'CML-*' },
];
const LAUNCH: LaunchState = { candidates: CANDIDATES, failedTypes: [], attempts: 0 };
const READY: CmlProbe = { kind: 'ready', version: '2.8.1', registration: 'UNREGISTERED' };

/** An action in short form: `transition:RUNNING`, `terminate-instance`, `set-desired:STOPPED`, `launch:m5zn.metal`. */
function short(a: WorkerAction): string {
  switch (a.type) {
    case 'transition':
      return `transition:${a.to}`;
    case 'set-desired':
      return `set-desired:${a.desired}`;
    case 'launch':
      return `launch:${a.candidate.instanceType}`;
    case 'observe':
      return a.full ? 'observe:full' : 'observe:stats';
    default:
      return a.type;
  }
}

interface Row {
  name: string;
  worker?: Partial<WorkerFacts>;
  instance: InstanceObservation;
  cml?: CmlProbe;
  launch?: Partial<LaunchState>;
  settings?: Partial<WorkerSettings>;
  actions: string[];
  /** 'poll' = SETTINGS.pollMs; a number; undefined = no requeue. */
  requeue?: 'poll' | number;
}

const s = (status: WorkerStatus, desiredStatus: WorkerStatus = W.RUNNING, o: Partial<WorkerFacts> = {}): Partial<WorkerFacts> => ({ status, desiredStatus, ...o });
const pendingWorker = (o: Partial<WorkerFacts> = {}) => s(W.PENDING, W.RUNNING, { ec2InstanceId: null, ipAddress: null, lastObservedAt: null, ...o });

const ROWS: Row[] = [
  // PENDING: launch, adopt, ICE, cancel
  { name: 'PENDING, no instance → launch the template type', worker: pendingWorker(), instance: NONE, actions: ['launch:m5zn.metal'], requeue: 'poll' },
  { name: 'PENDING, tagged instance found (launched before a crash) → adopt it', worker: pendingWorker(), instance: instance('pending'), actions: ['record-instance', 'transition:PROVISIONING'], requeue: 'poll' },
  { name: 'PENDING, recorded id not visible yet → wait', worker: pendingWorker({ ec2InstanceId: 'i-0123456789abcdef0' }), instance: NOT_FOUND, actions: [], requeue: 'poll' },
  { name: 'PENDING, template type lacked capacity → next candidate type', worker: pendingWorker(), instance: NONE, launch: { failedTypes: ['m5zn.metal'], attempts: 1 }, actions: ['launch:m7i.metal-48xl'], requeue: 'poll' },
  { name: 'PENDING, every candidate lacked capacity → new round after a backoff', worker: pendingWorker(), instance: NONE, launch: { failedTypes: ['m5zn.metal', 'm7i.metal-48xl'], attempts: 2 }, actions: ['new-launch-round'], requeue: 30_000 },
  { name: 'PENDING, capacity attempts exhausted → FAILED', worker: pendingWorker(), instance: NONE, launch: { failedTypes: ['m5zn.metal'], attempts: 3 }, actions: ['transition:FAILED'] },
  { name: 'PENDING, unknown template → FAILED', worker: pendingWorker(), instance: NONE, launch: { candidates: [] }, actions: ['transition:FAILED'] },
  { name: 'PENDING, desired TERMINATED → TERMINATED without launching', worker: pendingWorker({ desiredStatus: W.TERMINATED }), instance: NONE, actions: ['transition:TERMINATED'] },
  { name: 'PENDING, desired TERMINATED with an adopted instance → terminate it too', worker: pendingWorker({ desiredStatus: W.TERMINATED }), instance: instance('running'), actions: ['terminate-instance', 'transition:TERMINATED'] },
  { name: 'PENDING, desired STOPPED → not launched', worker: pendingWorker({ desiredStatus: W.STOPPED }), instance: NONE, actions: [] },
  { name: 'PENDING past the provisioning timeout → FAILED', worker: pendingWorker({ createdAt: ago(1000) }), instance: NONE, actions: ['transition:FAILED'] },

  // PROVISIONING
  { name: 'PROVISIONING, instance pending → poll', worker: s(W.PROVISIONING, W.RUNNING, { ipAddress: '127.1.0.1' }), instance: instance('pending'), actions: [], requeue: 'poll' },
  { name: 'PROVISIONING, instance running → record address, STARTING', worker: s(W.PROVISIONING, W.RUNNING, { ipAddress: null }), instance: instance('running'), actions: ['record-instance', 'transition:STARTING'], requeue: 'poll' },
  { name: 'PROVISIONING, id unknown to EC2 right after launch → eventual consistency, poll', worker: s(W.PROVISIONING), instance: NOT_FOUND, actions: [], requeue: 'poll' },
  { name: 'PROVISIONING, instance terminated during boot (not by LCM) → lost', worker: s(W.PROVISIONING), instance: instance('terminated', { stateReason: 'Server.SpotInstanceTermination' }), actions: ['transition:FAILED'] },
  { name: 'PROVISIONING, no instance at all → FAILED', worker: s(W.PROVISIONING, W.RUNNING, { ec2InstanceId: null }), instance: NONE, actions: ['transition:FAILED'] },
  { name: 'PROVISIONING, desired TERMINATED → terminate, TERMINATED', worker: s(W.PROVISIONING, W.TERMINATED), instance: instance('pending'), actions: ['terminate-instance', 'transition:TERMINATED'] },
  { name: 'PROVISIONING past the timeout (launch time) → FAILED, instance terminated', worker: s(W.PROVISIONING, W.RUNNING, { createdAt: ago(2000) }), instance: instance('pending', { launchTime: ago(1000) }), actions: ['transition:FAILED', 'terminate-instance'] },

  // STARTING: CML, licence
  { name: 'STARTING, CML unreachable → poll', worker: s(W.STARTING), instance: instance('running'), cml: { kind: 'unreachable', detail: 'ECONNREFUSED' }, actions: [], requeue: 'poll' },
  { name: 'STARTING, CML not ready → poll', worker: s(W.STARTING), instance: instance('running'), cml: { kind: 'not-ready' }, actions: [], requeue: 'poll' },
  { name: 'STARTING, CML ready, no licence token → observe, RUNNING', worker: s(W.STARTING), instance: instance('running'), cml: READY, actions: ['observe:full', 'transition:RUNNING'], requeue: 30_000 },
  { name: 'STARTING, CML ready, token, unregistered → register', worker: s(W.STARTING), instance: instance('running'), cml: READY, settings: { licenseToken: true }, actions: ['register-license'], requeue: 'poll' },
  { name: 'STARTING, registration in progress → poll', worker: s(W.STARTING), instance: instance('running'), cml: { ...READY, registration: 'IN_PROGRESS' } as CmlProbe, settings: { licenseToken: true }, actions: [], requeue: 'poll' },
  { name: 'STARTING, registration FAILED → register again (bounded by the timeout)', worker: s(W.STARTING), instance: instance('running'), cml: { ...READY, registration: 'FAILED' } as CmlProbe, settings: { licenseToken: true }, actions: ['register-license'], requeue: 'poll' },
  { name: 'STARTING, registered → observe, RUNNING', worker: s(W.STARTING), instance: instance('running'), cml: { ...READY, registration: 'COMPLETED' } as CmlProbe, settings: { licenseToken: true }, actions: ['observe:full', 'transition:RUNNING'], requeue: 30_000 },
  { name: 'STARTING after a restart, new address → record it', worker: s(W.STARTING, W.RUNNING, { ipAddress: '127.1.0.9' }), instance: instance('running'), cml: { kind: 'not-ready' }, actions: ['record-instance'], requeue: 'poll' },
  { name: 'STARTING, instance stopped (restart) → start it', worker: s(W.STARTING), instance: instance('stopped'), actions: ['start-instance'], requeue: 'poll' },
  { name: 'STARTING, instance still stopping → poll', worker: s(W.STARTING), instance: instance('stopping'), actions: [], requeue: 'poll' },
  { name: 'STARTING, desired STOPPED → STOPPING, stop', worker: s(W.STARTING, W.STOPPED), instance: instance('running'), actions: ['transition:STOPPING', 'stop-instance'], requeue: 'poll' },
  { name: 'STARTING, desired TERMINATED → terminate, TERMINATED', worker: s(W.STARTING, W.TERMINATED), instance: instance('running'), actions: ['terminate-instance', 'transition:TERMINATED'] },
  { name: 'STARTING, CML never ready past the timeout → FAILED, terminate', worker: s(W.STARTING, W.RUNNING, { createdAt: ago(1000) }), instance: instance('running', { launchTime: ago(950) }), cml: { kind: 'not-ready' }, actions: ['transition:FAILED', 'terminate-instance'] },
  { name: 'STARTING long after the request but recently started → not timed out', worker: s(W.STARTING, W.RUNNING, { createdAt: ago(100_000) }), instance: instance('running', { launchTime: ago(10) }), cml: { kind: 'not-ready' }, actions: [], requeue: 'poll' },

  // RUNNING
  { name: 'RUNNING, observed recently → wait for the next observation', worker: s(W.RUNNING, W.RUNNING, { lastObservedAt: ago(10) }), instance: instance('running'), actions: [], requeue: 20_000 },
  { name: 'RUNNING, observation due → observe stats', worker: s(W.RUNNING, W.RUNNING, { lastObservedAt: ago(31) }), instance: instance('running'), actions: ['observe:stats'], requeue: 30_000 },
  { name: 'RUNNING, never observed → observe stats', worker: s(W.RUNNING, W.RUNNING, { lastObservedAt: null }), instance: instance('running'), actions: ['observe:stats'], requeue: 30_000 },
  { name: 'RUNNING, desired STOPPED → STOPPING, stop', worker: s(W.RUNNING, W.STOPPED), instance: instance('running'), actions: ['transition:STOPPING', 'stop-instance'], requeue: 'poll' },
  { name: 'RUNNING, desired TERMINATED → TERMINATING, terminate', worker: s(W.RUNNING, W.TERMINATED), instance: instance('running'), actions: ['transition:TERMINATING', 'terminate-instance'], requeue: 'poll' },
  { name: 'RUNNING, instance unknown to EC2 → sessions terminated, TERMINATED', worker: s(W.RUNNING, W.RUNNING, { reservations: 2 }), instance: NOT_FOUND, actions: ['terminate-sessions', 'transition:TERMINATED'] },
  { name: 'RUNNING, instance terminated outside LCM → sessions terminated, TERMINATED', worker: s(W.RUNNING), instance: instance('terminated'), actions: ['terminate-sessions', 'transition:TERMINATED'] },
  { name: 'RUNNING, instance shutting down outside LCM → lost', worker: s(W.RUNNING), instance: instance('shutting-down'), actions: ['terminate-sessions', 'transition:TERMINATED'] },
  { name: 'RUNNING, instance stopped outside LCM → sessions terminated, STOPPING (then restarted)', worker: s(W.RUNNING), instance: instance('stopped'), actions: ['terminate-sessions', 'transition:STOPPING'], requeue: 'poll' },
  { name: 'RUNNING, instance gone while desired TERMINATED (crash after terminate) → TERMINATED', worker: s(W.RUNNING, W.TERMINATED), instance: instance('terminated'), actions: ['transition:TERMINATED'] },

  // DRAINING
  { name: 'DRAINING with sessions → wait (observing)', worker: s(W.DRAINING, W.RUNNING, { reservations: 1, lastObservedAt: ago(1) }), instance: instance('running'), actions: [], requeue: 29_000 },
  { name: 'DRAINING, sessions gone, action terminate → desired TERMINATED', worker: s(W.DRAINING, W.RUNNING, { statusReason: 'scale-down: idle' }), instance: instance('running'), actions: ['set-desired:TERMINATED'], requeue: 'poll' },
  { name: 'DRAINING, sessions gone, action stop → desired STOPPED', worker: s(W.DRAINING, W.RUNNING, { statusReason: 'operator drain' }), instance: instance('running'), settings: { scaleDownAction: 'stop' }, actions: ['set-desired:STOPPED'], requeue: 'poll' },
  { name: 'DRAINING, desired TERMINATED → TERMINATING, terminate', worker: s(W.DRAINING, W.TERMINATED), instance: instance('running'), actions: ['transition:TERMINATING', 'terminate-instance'], requeue: 'poll' },
  { name: 'DRAINING, desired STOPPED → STOPPING, stop', worker: s(W.DRAINING, W.STOPPED), instance: instance('running'), actions: ['transition:STOPPING', 'stop-instance'], requeue: 'poll' },

  // STOPPING / STOPPED
  { name: 'STOPPING, instance running → stop (idempotent)', worker: s(W.STOPPING, W.STOPPED), instance: instance('running'), actions: ['stop-instance'], requeue: 'poll' },
  { name: 'STOPPING, instance stopping → poll', worker: s(W.STOPPING, W.STOPPED), instance: instance('stopping'), actions: [], requeue: 'poll' },
  { name: 'STOPPING, instance stopped → STOPPED', worker: s(W.STOPPING, W.STOPPED), instance: instance('stopped'), actions: ['transition:STOPPED'] },
  { name: 'STOPPING, desired TERMINATED → terminate, TERMINATED', worker: s(W.STOPPING, W.TERMINATED), instance: instance('stopping'), actions: ['terminate-instance', 'transition:TERMINATED'] },
  { name: 'STOPPED, desired STOPPED → nothing', worker: s(W.STOPPED, W.STOPPED), instance: instance('stopped'), actions: [] },
  { name: 'STOPPED, desired RUNNING → STARTING, start', worker: s(W.STOPPED, W.RUNNING), instance: instance('stopped'), actions: ['transition:STARTING', 'start-instance'], requeue: 'poll' },
  { name: 'STOPPED, desired RUNNING, still stopping → poll', worker: s(W.STOPPED, W.RUNNING), instance: instance('stopping'), actions: [], requeue: 'poll' },
  { name: 'STOPPED, desired TERMINATED → TERMINATING, terminate', worker: s(W.STOPPED, W.TERMINATED), instance: instance('stopped'), actions: ['transition:TERMINATING', 'terminate-instance'], requeue: 'poll' },
  { name: 'STOPPED, started outside LCM → stop it again', worker: s(W.STOPPED, W.STOPPED), instance: instance('running'), actions: ['stop-instance'], requeue: 'poll' },
  { name: 'STOPPED, instance vanished → lost', worker: s(W.STOPPED, W.STOPPED), instance: NOT_FOUND, actions: ['terminate-sessions', 'transition:TERMINATED'] },

  // TERMINATING / TERMINATED / FAILED / UNKNOWN
  { name: 'TERMINATING, instance still there → terminate (idempotent)', worker: s(W.TERMINATING, W.TERMINATED), instance: instance('running'), actions: ['terminate-instance'], requeue: 'poll' },
  { name: 'TERMINATING, instance terminated → TERMINATED', worker: s(W.TERMINATING, W.TERMINATED), instance: instance('terminated'), actions: ['transition:TERMINATED'] },
  { name: 'TERMINATING, instance no longer listed → TERMINATED', worker: s(W.TERMINATING, W.TERMINATED), instance: NOT_FOUND, actions: ['transition:TERMINATED'] },
  { name: 'TERMINATING with sessions left → sessions terminated, TERMINATED', worker: s(W.TERMINATING, W.TERMINATED, { reservations: 1 }), instance: instance('terminated'), actions: ['terminate-sessions', 'transition:TERMINATED'] },
  { name: 'TERMINATED, instance still running → terminate it', worker: s(W.TERMINATED, W.TERMINATED), instance: instance('running'), actions: ['terminate-instance'] },
  { name: 'TERMINATED with reservations → sessions terminated', worker: s(W.TERMINATED, W.TERMINATED, { reservations: 1 }), instance: instance('terminated'), actions: ['terminate-sessions'] },
  { name: 'TERMINATED, nothing left → nothing', worker: s(W.TERMINATED, W.TERMINATED), instance: instance('terminated'), actions: [] },
  { name: 'FAILED with a live instance → terminate it, stay FAILED', worker: s(W.FAILED, W.RUNNING), instance: instance('running'), actions: ['terminate-instance'], requeue: 'poll' },
  { name: 'FAILED, instance gone → nothing', worker: s(W.FAILED, W.RUNNING), instance: instance('terminated'), actions: [] },
  { name: 'FAILED, desired TERMINATED → TERMINATED', worker: s(W.FAILED, W.TERMINATED), instance: NOT_FOUND, actions: ['transition:TERMINATED'] },
  { name: 'UNKNOWN, instance running → STARTING (CML checked again)', worker: s(W.UNKNOWN), instance: instance('running'), actions: ['record-instance', 'transition:STARTING'], requeue: 'poll' },
  { name: 'UNKNOWN, instance stopped → STOPPED', worker: s(W.UNKNOWN), instance: instance('stopped'), actions: ['record-instance', 'transition:STOPPED'], requeue: 'poll' },
  { name: 'UNKNOWN, no instance → PENDING (launch)', worker: s(W.UNKNOWN, W.RUNNING, { ec2InstanceId: null }), instance: NONE, actions: ['transition:PENDING'] },
  { name: 'UNKNOWN, instance gone → TERMINATED', worker: s(W.UNKNOWN), instance: NOT_FOUND, actions: ['terminate-sessions', 'transition:TERMINATED'] },
];

describe('decideWorker: status × EC2 state × desired status', () => {
  it.each(ROWS)('$name', (row) => {
    const w = worker(row.worker);
    const plan = decideWorker({
      worker: w,
      instance: row.instance,
      ...(row.cml ? { cml: row.cml } : {}),
      launch: { ...LAUNCH, ...row.launch },
      settings: { ...SETTINGS, ...row.settings },
      now: NOW,
    });
    expect(plan.actions.map(short)).toEqual(row.actions);
    expect(plan.requeueAfterMs).toBe(row.requeue === 'poll' ? SETTINGS.pollMs : row.requeue);
    // Every transition asked for is one the state machine allows from where the worker is (in order).
    let at = w.status;
    for (const a of plan.actions) {
      if (a.type !== 'transition') continue;
      expect(workerStateMachine.canTransition(at, a.to), `${at} → ${a.to}`).toBe(true);
      at = a.to;
    }
  });

  it('names what a worker timed out waiting for', () => {
    const plan = decideWorker({
      worker: worker(s(W.STARTING, W.RUNNING, { createdAt: ago(1000) })),
      instance: instance('running', { launchTime: ago(1000) }),
      cml: { ...READY, registration: 'FAILED' } as CmlProbe,
      launch: LAUNCH,
      settings: { ...SETTINGS, licenseToken: true },
      now: NOW,
    });
    expect(plan.actions[0]).toMatchObject({ type: 'transition', to: W.FAILED, reason: expect.stringContaining('licence registration FAILED') });
  });

  it('keeps the scale-down mark through STOPPING → STOPPED and TERMINATING → TERMINATED', () => {
    const stopped = decideWorker({ worker: worker(s(W.STOPPING, W.STOPPED, { statusReason: 'scale-down: stop' })), instance: instance('stopped'), launch: LAUNCH, settings: SETTINGS, now: NOW });
    expect(stopped.actions[0]).toMatchObject({ type: 'transition', to: W.STOPPED, reason: expect.stringMatching(/^scale-down: /) });
    const terminated = decideWorker({ worker: worker(s(W.TERMINATING, W.TERMINATED, { statusReason: 'scale-down: terminate' })), instance: instance('terminated'), launch: LAUNCH, settings: SETTINGS, now: NOW });
    expect(terminated.actions[0]).toMatchObject({ type: 'transition', to: W.TERMINATED, reason: expect.stringMatching(/^scale-down: /) });
  });
});

// ---------------------------------------------------------------------------------------------------

const TEMPLATES: TemplateFacts[] = [
  { name: 'metal', instanceType: 'm5zn.metal', amiNamePattern: 'CML-*', capacity: { cpuCores: 48, memoryGb: 192, storageGb: 1000, maxNodes: 200 }, licenseType: 'ENTERPRISE', costPerHour: 3.96, enabled: true },
  { name: 'micro', instanceType: 't3.micro', amiNamePattern: 'CML-*', capacity: { cpuCores: 2, memoryGb: 1, storageGb: 20, maxNodes: 2 }, licenseType: 'ENTERPRISE', costPerHour: 0.0104, enabled: true },
  { name: 'small', instanceType: 't3.small', amiNamePattern: 'CML-*', capacity: { cpuCores: 2, memoryGb: 2, storageGb: 50, maxNodes: 5 }, licenseType: 'ENTERPRISE', costPerHour: 0.0208, enabled: true },
  { name: 'tiny-off', instanceType: 't3.nano', amiNamePattern: 'CML-*', capacity: { cpuCores: 2, memoryGb: 0.5, storageGb: 8, maxNodes: 1 }, licenseType: 'ENTERPRISE', costPerHour: 0.001, enabled: false },
  { name: 'personal', instanceType: 'm5zn.2xlarge', amiNamePattern: 'CML-*', capacity: { cpuCores: 8, memoryGb: 32, storageGb: 200, maxNodes: 20 }, licenseType: 'PERSONAL', costPerHour: 0.66, enabled: true },
];

const FLEET_SETTINGS: FleetObserved['settings'] = { minWorkers: 0, idleMs: 300_000, cooldownMs: 60_000, scaleDownAction: 'terminate', orphanGraceMs: 60_000, periodMs: 30_000 };

const idleWorker = (id: string, idleForS: number, o: Partial<WorkerFacts> = {}): WorkerFacts =>
  worker({ id, name: id, ec2InstanceId: `i-${id.padStart(17, '0')}`, idleSince: ago(idleForS), ...o });
const busyWorker = (id: string, o: Partial<WorkerFacts> = {}): WorkerFacts => idleWorker(id, 0, { idleSince: null, reservations: 1, ...o });

type FleetInput = Partial<Omit<FleetObserved, 'settings'>> & { settings?: Partial<FleetObserved['settings']> };

function fleet(o: FleetInput): ReturnType<typeof decideFleet> {
  return decideFleet({ workers: [], templates: TEMPLATES, pendingDemand: 0, lastScaleDownAt: null, now: NOW, ...o, settings: { ...FLEET_SETTINGS, ...o.settings } });
}
const shortFleet = (a: FleetAction): string =>
  a.type === 'request-worker' ? `request:${a.templateName}` : a.type === 'terminate-orphan' ? `orphan:${a.instanceId}` : a.type === 'set-desired' ? `set-desired:${a.workerId}:${a.desired}` : `${a.type}:${a.workerId}`;

interface FleetRow {
  name: string;
  observed: FleetInput;
  actions: string[];
  requeue?: number;
}

const FLEET_ROWS: FleetRow[] = [
  // min workers
  { name: 'no workers, min 0 → nothing', observed: {}, actions: [] },
  { name: 'no workers, min 2 → two requests of the cheapest enabled template', observed: { settings: { minWorkers: 2 } }, actions: ['request:micro', 'request:micro'] },
  { name: 'one coming up, min 2 → one request', observed: { workers: [worker({ id: 'a', status: W.PROVISIONING })], settings: { minWorkers: 2 } }, actions: ['request:micro'] },
  { name: 'draining, failed and terminating workers do not count towards the minimum', observed: { workers: [worker({ id: 'a', status: W.DRAINING }), worker({ id: 'b', status: W.FAILED }), worker({ id: 'c', status: W.TERMINATING, desiredStatus: W.TERMINATED })], settings: { minWorkers: 1 } }, actions: ['request:micro'] },
  { name: 'below the minimum with a worker the scale-down stopped → start it instead of requesting', observed: { workers: [worker({ id: 's', status: W.STOPPED, desiredStatus: W.STOPPED, statusReason: 'scale-down: instance stopped' })], settings: { minWorkers: 1 } }, actions: ['set-desired:s:RUNNING'] },
  { name: 'an operator-stopped worker is not started for the minimum', observed: { workers: [worker({ id: 's', status: W.STOPPED, desiredStatus: W.STOPPED, statusReason: 'desired STOPPED' })], settings: { minWorkers: 1 } }, actions: ['request:micro'] },
  { name: 'minimum met → nothing', observed: { workers: [busyWorker('a')], settings: { minWorkers: 1 } }, actions: [] },

  // scale-down
  { name: 'idle past the threshold → drained and terminated', observed: { workers: [idleWorker('a', 301)] }, actions: ['scale-down:a'] },
  { name: 'idle below the threshold → nothing, look again when it is due', observed: { workers: [idleWorker('a', 200)], settings: { periodMs: 600_000 } }, actions: [], requeue: 100_000 },
  { name: 'idle below the threshold, period sooner → the period', observed: { workers: [idleWorker('a', 200)] }, actions: [], requeue: 30_000 },
  { name: 'busy worker → never scaled down', observed: { workers: [busyWorker('a')] }, actions: [] },
  { name: 'idle at the minimum → kept', observed: { workers: [idleWorker('a', 1000)], settings: { minWorkers: 1 } }, actions: [] },
  { name: 'two idle, min 1 → the longest idle goes', observed: { workers: [idleWorker('a', 400), idleWorker('b', 900)], settings: { minWorkers: 1 } }, actions: ['scale-down:b'] },
  { name: 'cooldown running → nothing, look again when it ends', observed: { workers: [idleWorker('a', 1000)], lastScaleDownAt: ago(20), settings: { periodMs: 600_000 } }, actions: [], requeue: 40_000 },
  { name: 'cooldown over → scale down', observed: { workers: [idleWorker('a', 1000)], lastScaleDownAt: ago(61) }, actions: ['scale-down:a'] },
  { name: 'three idle, cooldown → one at a time', observed: { workers: [idleWorker('a', 1000), idleWorker('b', 900), idleWorker('c', 800)] }, actions: ['scale-down:a'], requeue: 30_000 },
  { name: 'three idle, no cooldown → all at once', observed: { workers: [idleWorker('a', 1000), idleWorker('b', 900), idleWorker('c', 800)], settings: { cooldownMs: 0 } }, actions: ['scale-down:a', 'scale-down:b', 'scale-down:c'] },
  { name: 'sessions waiting for capacity → scale-down held', observed: { workers: [idleWorker('a', 1000)], pendingDemand: 3 }, actions: [] },
  { name: 'a worker already told to stop is not scaled down again', observed: { workers: [idleWorker('a', 1000, { desiredStatus: W.STOPPED })] }, actions: [] },

  // needed again
  { name: 'drained by scale-down, demand, not yet told to go → back to RUNNING', observed: { workers: [idleWorker('a', 1000, { status: W.DRAINING, statusReason: 'scale-down: idle' })], pendingDemand: 1 }, actions: ['undrain:a'] },
  { name: 'drained by an operator, demand → stays drained', observed: { workers: [idleWorker('a', 1000, { status: W.DRAINING, statusReason: 'maintenance' })], pendingDemand: 1 }, actions: [] },
  { name: 'stopped by scale-down, demand, nothing coming up → started again', observed: { workers: [worker({ id: 's', status: W.STOPPED, desiredStatus: W.STOPPED, statusReason: 'scale-down: instance stopped' })], pendingDemand: 2 }, actions: ['set-desired:s:RUNNING'] },
  { name: 'stopped by scale-down, demand, a worker coming up → left stopped', observed: { workers: [worker({ id: 's', status: W.STOPPED, desiredStatus: W.STOPPED, statusReason: 'scale-down: instance stopped' }), worker({ id: 'n', status: W.PENDING })], pendingDemand: 2 }, actions: [] },

  // orphans
  {
    name: 'orphans: worker missing, worker TERMINATED, duplicate of a worker, untagged → terminated; own, adopting and young ones kept',
    observed: {
      workers: [
        worker({ id: 'live', ec2InstanceId: 'i-live' }),
        worker({ id: 'gone', status: W.TERMINATED, desiredStatus: W.TERMINATED, ec2InstanceId: 'i-gone' }),
        worker({ id: 'adopting', status: W.PENDING, ec2InstanceId: null }),
      ],
      instances: [
        { ...(instance('running') as { instance: InstanceView }).instance, instanceId: 'i-live', workerId: 'live' },
        { ...(instance('running') as { instance: InstanceView }).instance, instanceId: 'i-gone', workerId: 'gone' },
        { ...(instance('running') as { instance: InstanceView }).instance, instanceId: 'i-nobody', workerId: 'nobody' },
        { ...(instance('running') as { instance: InstanceView }).instance, instanceId: 'i-dup', workerId: 'live', launchTime: ago(120) },
        { ...(instance('running') as { instance: InstanceView }).instance, instanceId: 'i-untagged', workerId: null, launchTime: ago(120) },
        { ...(instance('pending') as { instance: InstanceView }).instance, instanceId: 'i-adopt', workerId: 'adopting' },
        { ...(instance('pending') as { instance: InstanceView }).instance, instanceId: 'i-young', workerId: 'nobody', launchTime: ago(5) },
      ],
      settings: { orphanGraceMs: 20_000 },
    },
    actions: ['orphan:i-gone', 'orphan:i-nobody', 'orphan:i-dup', 'orphan:i-untagged'],
    requeue: 15_000,
  },
];

describe('decideFleet: min workers × idle × cooldown × demand × orphans', () => {
  it.each(FLEET_ROWS)('$name', (row) => {
    const plan = fleet(row.observed);
    expect(plan.actions.map(shortFleet)).toEqual(row.actions);
    expect(plan.requeueAfterMs).toBe(row.requeue ?? row.observed.settings?.periodMs ?? FLEET_SETTINGS.periodMs);
  });

  it('scale-down drains on the revision it judged idle, towards the configured action', () => {
    const [a] = fleet({ workers: [idleWorker('a', 1000, { revision: 17 })], settings: { scaleDownAction: 'stop' } }).actions;
    expect(a).toMatchObject({ type: 'scale-down', workerId: 'a', expectedRevision: 17, desired: W.STOPPED, reason: expect.stringMatching(/^scale-down: idle since/) });
  });

  it('min-worker request keys are stable for the same observation and change with it', () => {
    const keys = (ids: string[]) => fleet({ workers: ids.map((id) => busyWorker(id)), settings: { minWorkers: 3 } }).actions.map((a) => (a as { requestKey: string }).requestKey);
    expect(keys(['a'])).toEqual(keys(['a']));
    expect(new Set(keys(['a'])).size).toBe(2);
    expect(keys(['a', 'b'])[0]).not.toBe(keys(['a'])[0]);
    expect(minWorkersRequestKey(['b', 'a'], 0)).toBe(minWorkersRequestKey(['a', 'b'], 0));
  });
});

describe('launch candidates and client tokens', () => {
  it('tries the template type first, then enabled types of the same licence with at least its capacity, cheapest first', () => {
    expect(launchCandidates('micro', TEMPLATES).map((c) => c.instanceType)).toEqual(['t3.micro', 't3.small', 'm5zn.metal']);
    expect(launchCandidates('personal', TEMPLATES).map((c) => c.instanceType)).toEqual(['m5zn.2xlarge']);
    expect(launchCandidates('nope', TEMPLATES)).toEqual([]);
  });

  it('derives a stable ClientToken of at most 64 ASCII characters per worker and instance type', () => {
    expect(clientToken('wkr_1', 'm5zn.metal')).toBe(clientToken('wkr_1', 'm5zn.metal'));
    expect(clientToken('wkr_1', 'm5zn.metal')).not.toBe(clientToken('wkr_1', 't3.micro'));
    expect(clientToken('wkr_2', 'm5zn.metal')).not.toBe(clientToken('wkr_1', 'm5zn.metal'));
    const long = clientToken('w'.repeat(80), 'm5zn.metal');
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^[\x21-\x7e]+$/);
  });
});
