import type { Logger } from '../../core/logging.ts';
import type { LoopbackAddressPool } from './addresses.ts';
import { ec2Errors } from './errors.ts';
import type { Ec2Faults } from './faults.ts';
import { newResourceId, newSpotRequestId, stableResourceId } from './ids.ts';
import {
  INSTANCE_STATE_CODES,
  instanceStateMachine,
  type InstanceStateName,
  type SimInstance,
  type StateReason,
  type StatusCheck,
} from './model.ts';
import type { TagInput } from './query.ts';
import { forwardTcp, type TcpForwarder } from './tcp-forward.ts';

/**
 * The simulated instances and their lifecycle: launch, start, stop, terminate and outside
 * interruption, driven through EC2's state machine by timers (boot, stop and shutdown times), with
 * terminated instances kept visible for a while and then forgotten. Instances that reach `running`
 * can bring up a service on their own loopback address (`InstanceServices`), closed again when they
 * stop or terminate. Everything here is synchronous except the services; `close()` clears every
 * timer and closes every service.
 */

/** What an instance service returns once started. */
export interface InstanceServiceHandle {
  close(): Promise<void>;
  /** TCP ports the service listens on at the private address; the public address forwards them. */
  readonly ports?: readonly number[];
}

/** A service every instance runs while it is `running` (e.g. a CML simulator on its private IP). */
export interface InstanceServices {
  start(instance: SimInstance): Promise<InstanceServiceHandle>;
}

export interface FleetTimings {
  /** pending → running. */
  bootMs: number;
  /** stopping → stopped. */
  stopMs: number;
  /** shutting-down → terminated. */
  terminateMs: number;
  /** How long a terminated instance stays visible before it vanishes. */
  terminatedRetentionMs: number;
  /** running → status checks `ok`, counted from the instance service being up. */
  statusCheckMs: number;
}

export interface FleetOptions {
  timings: FleetTimings;
  region: string;
  accountId: string;
  addresses: LoopbackAddressPool;
  /** Give instances a public address (a second loopback address, new at every start). */
  associatePublicIp: boolean;
  services?: InstanceServices;
  logger: Logger;
}

export interface LaunchRequest {
  imageId: string;
  instanceType: string;
  count: number;
  architecture: string;
  clientToken?: string;
  keyName?: string;
  subnetId?: string;
  securityGroupIds: readonly string[];
  availabilityZone?: string;
  tags: readonly TagInput[];
  spot: boolean;
}

export interface Reservation {
  readonly reservationId: string;
  readonly ownerId: string;
  readonly instances: readonly InstanceRecord[];
}

export interface StateChange {
  instanceId: string;
  previous: InstanceStateName;
  current: InstanceStateName;
}

interface RunningService {
  handle: InstanceServiceHandle;
  forwards: TcpForwarder[];
}

/** The mutable state of one instance (internal; the outside sees `SimInstance` snapshots). */
export interface InstanceRecord {
  readonly instanceId: string;
  readonly reservationId: string;
  /** Launch order, for stable listing and pagination. */
  readonly seq: number;
  readonly imageId: string;
  readonly instanceType: string;
  readonly amiLaunchIndex: number;
  readonly architecture: string;
  readonly clientToken?: string;
  readonly keyName?: string;
  readonly subnetId: string;
  readonly vpcId: string;
  readonly securityGroupIds: readonly string[];
  readonly availabilityZone: string;
  readonly lifecycle: 'on-demand' | 'spot';
  readonly spotInstanceRequestId?: string;
  readonly privateIp: string;
  readonly networkInterfaceId: string;
  readonly rootVolumeId: string;
  readonly tags: Map<string, string>;
  /** When RunInstances created it: Describe* calls see it only after the eventual-consistency window. */
  readonly createdAt: number;
  launchTime: Date;
  state: InstanceStateName;
  stateTransitionReason: string;
  stateReason?: StateReason;
  publicIp?: string;
  statusCheck: StatusCheck;
  /** Bumped whenever the instance boots or goes down, so stale async work can tell. */
  generation: number;
  timer?: NodeJS.Timeout;
  statusTimer?: NodeJS.Timeout;
  service?: RunningService;
}

type ChangeListener = (instance: SimInstance) => void;

const PENDING_REASON: StateReason = { code: 'pending', message: 'pending' };
const USER_SHUTDOWN: StateReason = {
  code: 'Client.UserInitiatedShutdown',
  message: 'Client.UserInitiatedShutdown: User initiated shutdown',
};
const SPOT_TERMINATION: StateReason = {
  code: 'Server.SpotInstanceTermination',
  message: 'Server.SpotInstanceTermination: Spot instance termination',
};

/** EC2's `StateTransitionReason` timestamp format: `User initiated (2025-01-31 12:00:00 GMT)`. */
function transitionReason(who: 'User' | 'Service', at: Date): string {
  return `${who} initiated (${at.toISOString().slice(0, 19).replace('T', ' ')} GMT)`;
}

export class InstanceFleet {
  private readonly records = new Map<string, InstanceRecord>();
  private readonly tokens = new Map<string, { fingerprint: string; reservation: Reservation }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly work = new Set<Promise<void>>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly waiters = new Set<() => void>();
  private nextSeq = 1;
  private closed = false;
  readonly defaultSubnetId: string;
  readonly defaultVpcId: string;
  /** Set once the faults are built (they need the fleet for interruptions). */
  faults?: Ec2Faults;

  constructor(private readonly options: FleetOptions) {
    this.defaultVpcId = stableResourceId('vpc', `${options.accountId}/${options.region}`);
    this.defaultSubnetId = stableResourceId('subnet', `${options.accountId}/${options.region}/a`);
  }

  get timings(): FleetTimings {
    return this.options.timings;
  }

  get region(): string {
    return this.options.region;
  }

  get accountId(): string {
    return this.options.accountId;
  }

  /** The availability zones of the region (the first is the default). */
  get availabilityZones(): string[] {
    return ['a', 'b', 'c'].map((suffix) => `${this.options.region}${suffix}`);
  }

  // ---- queries -----------------------------------------------------------------------------------

  /** Every instance still known, in launch order. */
  list(): InstanceRecord[] {
    return [...this.records.values()];
  }

  get(instanceId: string): InstanceRecord | undefined {
    return this.records.get(instanceId);
  }

  /** Whether Describe* calls see the instance yet (the eventual-consistency window now in force). */
  isVisible(record: InstanceRecord, now = Date.now()): boolean {
    return now >= record.createdAt + (this.faults?.visibilityDelayMs ?? 0);
  }

  /** Instances counted against the instance limit (everything not yet terminated). */
  liveCount(): number {
    let n = 0;
    for (const r of this.records.values()) if (r.state !== 'terminated') n++;
    return n;
  }

  /** The earlier RunInstances with this ClientToken, if any. */
  byClientToken(token: string): { fingerprint: string; reservation: Reservation } | undefined {
    return this.tokens.get(token);
  }

  snapshot(record: InstanceRecord): SimInstance {
    const live = record.state !== 'terminated';
    const running = record.state === 'running';
    return {
      instanceId: record.instanceId,
      reservationId: record.reservationId,
      imageId: record.imageId,
      instanceType: record.instanceType,
      state: record.state,
      stateCode: INSTANCE_STATE_CODES[record.state],
      stateReason: record.stateReason,
      stateTransitionReason: record.stateTransitionReason,
      privateIp: record.privateIp,
      privateDnsName: live ? this.privateDnsName(record.privateIp) : '',
      publicIp: record.publicIp,
      publicDnsName: record.publicIp ? this.publicDnsName(record.publicIp) : undefined,
      availabilityZone: record.availabilityZone,
      subnetId: record.subnetId,
      vpcId: record.vpcId,
      securityGroupIds: record.securityGroupIds,
      keyName: record.keyName,
      clientToken: record.clientToken,
      amiLaunchIndex: record.amiLaunchIndex,
      launchTime: record.launchTime,
      lifecycle: record.lifecycle,
      spotInstanceRequestId: record.spotInstanceRequestId,
      architecture: record.architecture,
      networkInterfaceId: record.networkInterfaceId,
      rootVolumeId: record.rootVolumeId,
      tags: Object.fromEntries(record.tags),
      instanceStatus: running ? record.statusCheck : 'not-applicable',
      systemStatus: running ? record.statusCheck : 'not-applicable',
    };
  }

  private privateDnsName(ip: string): string {
    const host = `ip-${ip.replaceAll('.', '-')}`;
    return this.options.region === 'us-east-1' ? `${host}.ec2.internal` : `${host}.${this.options.region}.compute.internal`;
  }

  private publicDnsName(ip: string): string {
    const host = `ec2-${ip.replaceAll('.', '-')}`;
    return this.options.region === 'us-east-1'
      ? `${host}.compute-1.amazonaws.com`
      : `${host}.${this.options.region}.compute.amazonaws.com`;
  }

  /** Be told of every state or status change (returns the unsubscribe function). */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(record: InstanceRecord): void {
    if (this.listeners.size === 0) return;
    const instance = this.snapshot(record);
    for (const listener of this.listeners) {
      try {
        listener(instance);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'instance change listener failed');
      }
    }
  }

  // ---- commands ----------------------------------------------------------------------------------

  /** Create `count` instances in one reservation; they boot in the background. */
  launch(request: LaunchRequest, fingerprint: string): Reservation {
    const now = Date.now();
    const reservationId = newResourceId('r');
    const instances: InstanceRecord[] = [];
    for (let index = 0; index < request.count; index++) {
      const record: InstanceRecord = {
        instanceId: newResourceId('i'),
        reservationId,
        seq: this.nextSeq++,
        imageId: request.imageId,
        instanceType: request.instanceType,
        amiLaunchIndex: index,
        architecture: request.architecture,
        clientToken: request.clientToken,
        keyName: request.keyName,
        subnetId: request.subnetId ?? this.defaultSubnetId,
        vpcId: this.defaultVpcId,
        securityGroupIds: [...request.securityGroupIds],
        availabilityZone: request.availabilityZone ?? (this.availabilityZones[0] as string),
        lifecycle: request.spot ? 'spot' : 'on-demand',
        spotInstanceRequestId: request.spot ? newSpotRequestId() : undefined,
        privateIp: this.options.addresses.allocate(),
        networkInterfaceId: newResourceId('eni'),
        rootVolumeId: newResourceId('vol'),
        tags: new Map(request.tags.map((t) => [t.key, t.value])),
        createdAt: now,
        launchTime: new Date(now),
        state: 'pending',
        stateTransitionReason: '',
        stateReason: PENDING_REASON,
        publicIp: this.options.associatePublicIp ? this.options.addresses.allocate() : undefined,
        statusCheck: 'not-applicable',
        generation: 0,
      };
      this.records.set(record.instanceId, record);
      instances.push(record);
      this.scheduleBoot(record);
    }
    const reservation: Reservation = { reservationId, ownerId: this.options.accountId, instances };
    if (request.clientToken) this.tokens.set(request.clientToken, { fingerprint, reservation });
    for (const record of instances) this.emit(record);
    return reservation;
  }

  /**
   * The instances named by `ids`, in request order. Throws `InvalidInstanceID.NotFound` listing the
   * unknown ones (and, when `visibleOnly`, the ones still inside the eventual-consistency window).
   */
  resolve(ids: readonly string[], visibleOnly: boolean): InstanceRecord[] {
    const now = Date.now();
    const missing = ids.filter((id) => {
      const record = this.records.get(id);
      return !record || (visibleOnly && !this.isVisible(record, now));
    });
    if (missing.length > 0) throw ec2Errors.instanceNotFound([...new Set(missing)]);
    return ids.map((id) => this.records.get(id) as InstanceRecord);
  }

  /** StartInstances: stopped → pending → running. Running/pending instances are left as they are. */
  start(records: readonly InstanceRecord[]): StateChange[] {
    for (const r of records) {
      if (!['stopped', 'pending', 'running'].includes(r.state)) throw ec2Errors.incorrectInstanceState(r.instanceId, 'started');
    }
    return records.map((record) => {
      const previous = record.state;
      if (previous === 'stopped') {
        record.launchTime = new Date();
        if (this.options.associatePublicIp) record.publicIp = this.options.addresses.allocate();
        this.transition(record, 'pending', '', PENDING_REASON);
        this.scheduleBoot(record);
      }
      return { instanceId: record.instanceId, previous, current: record.state };
    });
  }

  /** StopInstances: running → stopping → stopped. Spot instances cannot be stopped. */
  stop(records: readonly InstanceRecord[]): StateChange[] {
    for (const r of records) {
      if (r.lifecycle === 'spot') {
        throw ec2Errors.unsupported(
          `You can't stop the Spot Instance '${r.instanceId}' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests.`,
        );
      }
      if (!['running', 'stopping', 'stopped'].includes(r.state)) throw ec2Errors.incorrectInstanceState(r.instanceId, 'stopped');
    }
    return records.map((record) => {
      const previous = record.state;
      if (previous === 'running') {
        this.goDown(record, 'stopping', transitionReason('User', new Date()), USER_SHUTDOWN);
        this.schedule(record, this.options.timings.stopMs, () => {
          this.options.addresses.release(record.publicIp);
          record.publicIp = undefined;
          this.transition(record, 'stopped', record.stateTransitionReason, USER_SHUTDOWN);
        });
      }
      return { instanceId: record.instanceId, previous, current: record.state };
    });
  }

  /** TerminateInstances: anything → shutting-down → terminated. Idempotent. */
  terminate(records: readonly InstanceRecord[]): StateChange[] {
    return records.map((record) => {
      const previous = record.state;
      if (previous !== 'shutting-down' && previous !== 'terminated') {
        this.shutDown(record, transitionReason('User', new Date()), USER_SHUTDOWN);
      }
      return { instanceId: record.instanceId, previous, current: record.state };
    });
  }

  /** Reclaim an instance from outside (spot interruption): shutting-down, then terminated. */
  interrupt(instanceId: string): SimInstance {
    const record = this.records.get(instanceId);
    if (!record) throw ec2Errors.instanceNotFound([instanceId]);
    if (record.state === 'shutting-down' || record.state === 'terminated') {
      throw ec2Errors.incorrectInstanceState(instanceId, 'interrupted');
    }
    this.shutDown(record, transitionReason('Service', new Date()), SPOT_TERMINATION);
    return this.snapshot(record);
  }

  /** Resolve when the instance reaches `state` (rejects after `timeoutMs`, or when the fleet closes). */
  waitForState(instanceId: string, state: InstanceStateName, timeoutMs = 10_000): Promise<SimInstance> {
    return new Promise((resolve, reject) => {
      const finish = (outcome: () => void) => {
        clearTimeout(timer);
        unsubscribe();
        this.waiters.delete(cancel);
        outcome();
      };
      const cancel = () => finish(() => reject(new Error(`simulator closed while waiting for ${instanceId} to be ${state}`)));
      const unsubscribe = this.onChange((instance) => {
        if (instance.instanceId === instanceId && instance.state === state) finish(() => resolve(instance));
      });
      const timer = setTimeout(() => {
        const now = this.records.get(instanceId)?.state ?? 'gone';
        finish(() => reject(new Error(`instance ${instanceId} did not reach ${state} within ${timeoutMs} ms (now ${now})`)));
      }, timeoutMs);
      this.waiters.add(cancel);
      const record = this.records.get(instanceId);
      if (record?.state === state) finish(() => resolve(this.snapshot(record)));
    });
  }

  // ---- lifecycle machinery -----------------------------------------------------------------------

  private transition(record: InstanceRecord, to: InstanceStateName, reason: string, stateReason?: StateReason): void {
    if (!instanceStateMachine.canTransition(record.state, to)) {
      throw new Error(`${record.instanceId}: illegal EC2 transition ${record.state} -> ${to}`);
    }
    record.state = to;
    record.stateTransitionReason = reason;
    record.stateReason = stateReason;
    this.emit(record);
  }

  private scheduleBoot(record: InstanceRecord): void {
    const delay = this.options.timings.bootMs + (this.faults?.takeBootDelay() ?? 0);
    this.schedule(record, delay, () => this.toRunning(record));
  }

  private toRunning(record: InstanceRecord): void {
    record.generation++;
    record.statusCheck = 'initializing';
    this.transition(record, 'running', '');
    this.startService(record);
  }

  /** Enter stopping or shutting-down: the instance's service goes away at once. */
  private goDown(record: InstanceRecord, to: 'stopping' | 'shutting-down', reason: string, stateReason: StateReason): void {
    this.stopService(record);
    record.statusCheck = 'not-applicable';
    this.transition(record, to, reason, stateReason);
  }

  private shutDown(record: InstanceRecord, reason: string, stateReason: StateReason): void {
    this.goDown(record, 'shutting-down', reason, stateReason);
    this.schedule(record, this.options.timings.terminateMs, () => {
      this.options.addresses.release(record.publicIp);
      record.publicIp = undefined;
      this.transition(record, 'terminated', reason, stateReason);
      this.schedule(record, this.options.timings.terminatedRetentionMs, () => {
        this.records.delete(record.instanceId);
        this.options.addresses.release(record.privateIp);
      });
    });
  }

  private startService(record: InstanceRecord): void {
    const generation = record.generation;
    const services = this.options.services;
    if (!services) {
      this.statusOkLater(record, generation);
      return;
    }
    const instance = this.snapshot(record);
    this.track(
      (async () => {
        let running: RunningService;
        try {
          running = { handle: await services.start(instance), forwards: [] };
        } catch (error) {
          this.options.logger.warn({ err: error, instanceId: record.instanceId }, 'instance service failed to start');
          if (record.generation === generation && record.state === 'running') {
            record.statusCheck = 'impaired';
            this.emit(record);
          }
          return;
        }
        const current = () => !this.closed && record.generation === generation && record.state === 'running';
        if (current() && instance.publicIp) {
          for (const port of running.handle.ports ?? []) {
            try {
              running.forwards.push(await forwardTcp(instance.publicIp, port, instance.privateIp, port));
            } catch (error) {
              this.options.logger.warn({ err: error, instanceId: record.instanceId, port }, 'public address forwarding failed');
            }
          }
        }
        if (!current()) {
          await this.closeService(running, record.instanceId);
          return;
        }
        record.service = running;
        this.statusOkLater(record, generation);
      })(),
    );
  }

  private statusOkLater(record: InstanceRecord, generation: number): void {
    const markOk = () => {
      if (record.generation !== generation || record.state !== 'running') return;
      record.statusCheck = 'ok';
      this.emit(record);
    };
    if (record.statusTimer) this.clearTimer(record.statusTimer);
    record.statusTimer = this.after(this.options.timings.statusCheckMs, markOk);
  }

  private stopService(record: InstanceRecord): void {
    record.generation++;
    if (record.statusTimer) this.clearTimer(record.statusTimer);
    record.statusTimer = undefined;
    const service = record.service;
    record.service = undefined;
    if (service) this.track(this.closeService(service, record.instanceId));
  }

  private async closeService(service: RunningService, instanceId: string): Promise<void> {
    await Promise.allSettled(service.forwards.map((f) => f.close()));
    try {
      await service.handle.close();
    } catch (error) {
      this.options.logger.warn({ err: error, instanceId }, 'instance service failed to close');
    }
  }

  private schedule(record: InstanceRecord, ms: number, fn: () => void): void {
    if (record.timer) this.clearTimer(record.timer);
    record.timer = this.after(ms, () => {
      record.timer = undefined;
      fn();
    });
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private clearTimer(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private track(promise: Promise<void>): void {
    const tracked = promise.catch((error: unknown) => {
      this.options.logger.warn({ err: error }, 'instance service task failed');
    });
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }

  /** Stop every timer and close every instance service. The fleet is unusable afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const record of this.records.values()) this.stopService(record);
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
    for (const cancel of [...this.waiters]) cancel();
    this.listeners.clear();
  }
}
