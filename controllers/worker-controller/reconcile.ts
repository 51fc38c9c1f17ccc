/**
 * Observation and action around the pure decisions of decide.ts: read the worker (GraphQL), its
 * instance (EC2) and its CML server, decide, then perform the plan's steps in order — EC2 and CML
 * calls, and GraphQL mutations on /internal/graphql (the only way this controller writes). A failed
 * step throws: the runtime retries the key with backoff, and the next pass observes afresh.
 */
import { LabletSessionStatus as S, WorkerStatus as W, type WorkerStatus } from '../../core/domain/enums.ts';
import { GraphQLRequestError } from '../../core/graphql/client.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { ReconcileContext, ReconcileResult } from '../../core/runtime/index.ts';
import type { ControllerDeps } from '../kit/role.ts';
import { actionRecorder, type ActionOutcome } from '../kit/metrics.ts';
import { listAll } from '../kit/sources.ts';
import {
  WcPendingSessionsDocument,
  WcRecordInstanceDocument,
  WcRecordObservationDocument,
  WcRequestWorkerDocument,
  WcSessionsOnWorkerDocument,
  WcSetDesiredDocument,
  WcTemplatesDocument,
  WcTerminateSessionDocument,
  WcTransitionDocument,
  WcWorkerDocument,
  WcWorkersDocument,
  type WcTemplateFragment,
  type WcWorkerFragment,
} from './__generated__/operations.ts';
import { observeFull, probeCml, statsRecord, type CmlPool } from './cml.ts';
import {
  decideFleet,
  decideWorker,
  isScaleDownReason,
  type CmlProbe,
  type FleetAction,
  type InstanceObservation,
  type InstanceView,
  type LaunchCandidate,
  type TemplateFacts,
  type WorkerAction,
  type WorkerFacts,
  type WorkerSettings,
} from './decide.ts';
import { isInsufficientCapacity, isThrottling, type Ec2Port } from './ec2.ts';

/** The work-queue key of the fleet-wide pass (min workers, scale-down, orphans). */
export const FLEET_KEY = '~fleet';

export interface ReconcilerTimings {
  pollMs: number;
  observeIntervalMs: number;
  maxLaunchAttempts: number;
  launchRoundBackoffMs: number;
  orphanSweepMs: number;
  orphanGraceMs: number;
  fleetMinIntervalMs: number;
}

/** Statuses in which nothing is in progress in EC2. */
const STEADY: ReadonlySet<WorkerStatus> = new Set([W.RUNNING, W.DRAINING, W.STOPPED, W.FAILED]);

const FINAL_SESSION: ReadonlySet<string> = new Set([S.TERMINATED, S.ARCHIVED]);
const OPEN_SESSION_STATUSES = Object.values(S).filter((s) => !FINAL_SESSION.has(s));

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

export function workerFacts(w: WcWorkerFragment): WorkerFacts {
  const stats = w.systemStats as { observedAt?: unknown } | null | undefined;
  const observedAt = stats && typeof stats.observedAt === 'string' ? new Date(stats.observedAt) : null;
  return {
    id: w.id,
    name: w.name,
    revision: w.revision,
    status: w.status,
    desiredStatus: w.desiredStatus,
    statusReason: w.statusReason ?? null,
    templateName: w.templateName,
    instanceType: w.instanceType ?? null,
    ec2InstanceId: w.ec2InstanceId ?? null,
    ipAddress: w.ipAddress ?? null,
    licenseType: w.licenseType ?? null,
    reservations: w.reservations.length,
    idleSince: date(w.idleSince),
    createdAt: new Date(w.createdAt),
    updatedAt: new Date(w.updatedAt),
    lastObservedAt: observedAt && !Number.isNaN(observedAt.getTime()) ? observedAt : null,
  };
}

const templateFacts = (t: WcTemplateFragment): TemplateFacts => ({ ...t, capacity: { ...t.capacity } });

/**
 * Instance types a worker may launch as: its own template's first; then, should that type lack
 * capacity, enabled templates of the same licence with at least its capacity, cheapest first.
 */
export function launchCandidates(templateName: string, templates: readonly TemplateFacts[]): LaunchCandidate[] {
  const own = templates.find((t) => t.name === templateName);
  if (!own) return [];
  const covers = (t: TemplateFacts) =>
    t.capacity.cpuCores >= own.capacity.cpuCores &&
    t.capacity.memoryGb >= own.capacity.memoryGb &&
    t.capacity.storageGb >= own.capacity.storageGb &&
    t.capacity.maxNodes >= own.capacity.maxNodes;
  const others = templates
    .filter((t) => t.name !== own.name && t.enabled && t.licenseType === own.licenseType && covers(t))
    .sort((a, b) => a.costPerHour - b.costPerHour || a.name.localeCompare(b.name));
  const seen = new Set<string>();
  return [own, ...others]
    .filter((t) => !seen.has(t.instanceType) && seen.add(t.instanceType))
    .map((t) => ({ templateName: t.name, instanceType: t.instanceType, amiNamePattern: t.amiNamePattern }));
}

const gqlCode = (e: unknown): string | undefined => (e instanceof GraphQLRequestError ? e.code : undefined);

export class WorkerReconciler {
  private readonly record: (action: string, outcome: ActionOutcome) => void;
  private readonly logger: Logger;
  /** InsufficientInstanceCapacity memory per worker (lost on restart: the provisioning timeout bounds it). */
  private readonly launches = new Map<string, { failedTypes: Set<string>; attempts: number }>();
  /** The last EC2 view of steady workers (see `observeInstance`). */
  private readonly instances = new Map<string, { status: WorkerStatus; desired: WorkerStatus; instanceId: string; at: number; observation: InstanceObservation }>();
  private lastScaleDownAt: Date | null = null;
  private lastSweepAt = 0;
  private lastFleetAt = 0;

  constructor(
    private readonly deps: ControllerDeps,
    private readonly ec2: Ec2Port,
    private readonly cml: CmlPool,
    private readonly timings: ReconcilerTimings,
  ) {
    this.record = actionRecorder(deps.registry, 'worker-controller');
    this.logger = deps.logger.child({ controller: 'worker-controller' });
  }

  private get settings(): WorkerSettings {
    const c = this.deps.config;
    return {
      provisionTimeoutMs: c.LCM_WORKER_PROVISION_TIMEOUT_SECONDS * 1000,
      pollMs: this.timings.pollMs,
      observeIntervalMs: this.timings.observeIntervalMs,
      licenseToken: c.LCM_CML_LICENSE_TOKEN !== undefined,
      scaleDownAction: c.LCM_SCALE_DOWN_ACTION,
      maxLaunchAttempts: this.timings.maxLaunchAttempts,
      launchRoundBackoffMs: this.timings.launchRoundBackoffMs,
    };
  }

  reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    return key === FLEET_KEY ? this.fleet(ctx) : this.worker(key, ctx);
  }

  // -------------------------------------------------------------------------------------------------
  // One worker

  async worker(id: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { worker: raw } = await this.deps.client.request(WcWorkerDocument, { id });
    if (!raw) {
      this.launches.delete(id);
      this.instances.delete(id);
      return;
    }
    const w = workerFacts(raw);
    const instance = await this.observeInstance(w);
    let cml: CmlProbe | undefined;
    if (w.status === W.STARTING && instance.kind === 'found' && instance.instance.state === 'running') {
      const ip = instance.instance.privateIp ?? instance.instance.publicIp;
      cml = ip ? await probeCml(this.cml.client(ip), this.deps.config.LCM_CML_LICENSE_TOKEN !== undefined, ctx.signal) : { kind: 'unreachable', detail: 'no address' };
    }
    let candidates: LaunchCandidate[] = [];
    if (w.status === W.PENDING && instance.kind === 'none') {
      const { workerTemplates } = await this.deps.client.request(WcTemplatesDocument, {});
      candidates = launchCandidates(w.templateName, workerTemplates.map(templateFacts));
    }
    const memory = this.launches.get(id);
    const plan = decideWorker({
      worker: w,
      instance,
      ...(cml ? { cml } : {}),
      launch: { candidates, failedTypes: [...(memory?.failedTypes ?? [])], attempts: memory?.attempts ?? 0 },
      settings: this.settings,
      now: this.deps.clock(),
    });
    if (plan.actions.length > 0) this.logger.debug({ worker: id, status: w.status, plan: plan.summary, actions: plan.actions.map((a) => a.type) }, 'worker plan');
    let current = raw;
    for (const action of plan.actions) {
      if (ctx.signal.aborted) return;
      current = await this.performWorker(current, action, ctx);
    }
    if (current.status === W.RUNNING || current.status === W.TERMINATED || current.status === W.FAILED) this.launches.delete(id);
    if (current.status === W.STOPPED || current.status === W.TERMINATED) await this.cml.drop(current.ipAddress ?? null);
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }

  private async observeInstance(w: WorkerFacts): Promise<InstanceObservation> {
    if (w.ec2InstanceId) {
      // A steady worker changes often in the store (every reservation) but rarely in EC2: its instance
      // is looked at once per observation interval, not on every change (EC2's API rate is limited).
      const now = this.deps.clock().getTime();
      const cached = this.instances.get(w.id);
      const steady = STEADY.has(w.status) && w.desiredStatus !== W.TERMINATED;
      if (steady && cached && cached.status === w.status && cached.desired === w.desiredStatus && cached.instanceId === w.ec2InstanceId && now - cached.at < this.timings.observeIntervalMs) {
        return cached.observation;
      }
      const found = await this.ec2.describe(w.ec2InstanceId);
      const observation: InstanceObservation = found === 'not-found' ? { kind: 'not-found', instanceId: w.ec2InstanceId } : { kind: 'found', instance: found };
      if (steady) this.instances.set(w.id, { status: w.status, desired: w.desiredStatus, instanceId: w.ec2InstanceId, at: now, observation });
      else this.instances.delete(w.id);
      return observation;
    }
    // No id recorded: an instance launched before a crash is found by its tag and adopted.
    if (w.status === W.PENDING || w.status === W.PROVISIONING || w.status === W.STARTING || w.status === W.UNKNOWN) {
      const tagged = await this.ec2.findForWorker(w.id);
      return tagged ? { kind: 'found', instance: tagged } : { kind: 'none' };
    }
    return { kind: 'none' };
  }

  /** Perform one step; returns the worker as it is afterwards. */
  private async performWorker(w: WcWorkerFragment, action: WorkerAction, ctx: ReconcileContext): Promise<WcWorkerFragment> {
    const client = this.deps.client;
    if (action.type === 'start-instance' || action.type === 'stop-instance' || action.type === 'terminate-instance') this.instances.delete(w.id);
    try {
      let next = w;
      switch (action.type) {
        case 'launch':
          next = await this.launch(w, action.candidate);
          break;
        case 'new-launch-round':
          this.launches.get(w.id)?.failedTypes.clear();
          break;
        case 'record-instance':
          next = (await client.request(WcRecordInstanceDocument, { id: w.id, input: { ...action.record, region: this.ec2.region } })).recordWorkerInstance;
          break;
        case 'transition':
          next = (await client.request(WcTransitionDocument, { id: w.id, to: action.to, reason: action.reason.slice(0, 500), expectedRevision: w.revision })).transitionWorker;
          this.logger.info({ worker: w.id, from: w.status, to: action.to, reason: action.reason }, 'worker transition');
          break;
        case 'set-desired':
          next = (await client.request(WcSetDesiredDocument, { id: w.id, desiredStatus: action.desired, reason: action.reason.slice(0, 500) })).setWorkerDesiredStatus;
          break;
        case 'start-instance':
          await this.ec2.start(action.instanceId);
          break;
        case 'stop-instance':
          await this.ec2.stop(action.instanceId);
          break;
        case 'terminate-instance':
          await this.ec2.terminate(action.instanceId);
          this.logger.info({ worker: w.id, instance: action.instanceId }, 'instance terminated');
          break;
        case 'register-license':
          next = await this.registerLicense(w, ctx);
          break;
        case 'observe':
          next = await this.observe(w, action.full, ctx);
          break;
        case 'terminate-sessions':
          await this.terminateSessions(w, action.reason);
          break;
      }
      this.record(action.type, 'ok');
      return next;
    } catch (e) {
      const code = gqlCode(e);
      this.record(action.type, code === ErrorCode.CONFLICT || code === ErrorCode.INVALID_TRANSITION ? 'conflict' : 'error');
      if (isThrottling(e)) this.logger.warn({ worker: w.id, action: action.type }, 'EC2 throttled the request; backing off');
      throw e;
    }
  }

  private async launch(w: WcWorkerFragment, candidate: LaunchCandidate): Promise<WcWorkerFragment> {
    const image = await this.ec2.resolveImage(candidate.amiNamePattern);
    let instance: InstanceView;
    try {
      instance = await this.ec2.launch({ workerId: w.id, workerName: w.name, templateName: candidate.templateName, instanceType: candidate.instanceType, imageId: image.imageId });
    } catch (e) {
      if (!isInsufficientCapacity(e)) throw e;
      const memory = this.launches.get(w.id) ?? { failedTypes: new Set<string>(), attempts: 0 };
      memory.failedTypes.add(candidate.instanceType);
      memory.attempts += 1;
      this.launches.set(w.id, memory);
      this.logger.warn({ worker: w.id, instanceType: candidate.instanceType, attempts: memory.attempts }, 'InsufficientInstanceCapacity; trying another instance type');
      return w;
    }
    this.logger.info({ worker: w.id, instance: instance.instanceId, instanceType: candidate.instanceType, image: image.name }, 'instance launched');
    const recorded = (
      await this.deps.client.request(WcRecordInstanceDocument, {
        id: w.id,
        input: { ec2InstanceId: instance.instanceId, instanceType: candidate.instanceType, amiId: image.imageId, region: this.ec2.region },
      })
    ).recordWorkerInstance;
    return (
      await this.deps.client.request(WcTransitionDocument, {
        id: w.id,
        to: W.PROVISIONING,
        reason: `instance ${instance.instanceId} (${candidate.instanceType}, ${image.name}) launched`,
        expectedRevision: recorded.revision,
      })
    ).transitionWorker;
  }

  private async registerLicense(w: WcWorkerFragment, ctx: ReconcileContext): Promise<WcWorkerFragment> {
    const token = this.deps.config.LCM_CML_LICENSE_TOKEN;
    if (!token || !w.ipAddress) return w;
    const cml = this.cml.client(w.ipAddress);
    const before = await cml.licensing(ctx.signal);
    // FAILED: ask again (bounded by the provisioning timeout); COMPLETED or IN_PROGRESS: nothing to ask.
    if (before.registration.status !== 'COMPLETED' && before.registration.status !== 'IN_PROGRESS') {
      await cml.registerLicense(token, { signal: ctx.signal });
    }
    return (await this.deps.client.request(WcRecordObservationDocument, { id: w.id, input: { licenseStatus: 'IN_PROGRESS' } })).recordWorkerObservation;
  }

  private async observe(w: WcWorkerFragment, full: boolean, ctx: ReconcileContext): Promise<WcWorkerFragment> {
    if (!w.ipAddress) throw new Error(`worker ${w.id} has no address to observe`);
    const cml = this.cml.client(w.ipAddress);
    const now = this.deps.clock();
    if (!full) {
      const stats = await cml.systemStats(ctx.signal);
      return (await this.deps.client.request(WcRecordObservationDocument, { id: w.id, input: { systemStats: statsRecord(stats, now) } })).recordWorkerObservation;
    }
    const o = await observeFull(cml, now, ctx.signal);
    // Never promise more than the server has, nor more than the template planned for.
    const declared = w.declaredCapacity;
    const declaredCapacity = {
      cpuCores: Math.min(declared.cpuCores, o.hardware.cpuCores),
      memoryGb: Math.min(declared.memoryGb, o.hardware.memoryGb),
      storageGb: Math.min(declared.storageGb, o.hardware.storageGb),
      maxNodes: declared.maxNodes,
    };
    const valid = declaredCapacity.cpuCores > 0 && declaredCapacity.memoryGb > 0 && declaredCapacity.storageGb > 0;
    return (
      await this.deps.client.request(WcRecordObservationDocument, {
        id: w.id,
        input: {
          cmlVersion: o.cmlVersion,
          nodeDefinitions: o.nodeDefinitions,
          licenseStatus: o.licenseStatus,
          ...(o.licenseType ? { licenseType: o.licenseType } : {}),
          ...(valid ? { declaredCapacity } : {}),
          systemStats: o.systemStats,
        },
      })
    ).recordWorkerObservation;
  }

  /** Terminate every open session placed or reserved on the worker (the scheduler's sweeper releases them). */
  private async terminateSessions(w: WcWorkerFragment, reason: string): Promise<void> {
    const placed = await listAll(async (after) => {
      const d = await this.deps.client.request(WcSessionsOnWorkerDocument, { workerId: w.id, statuses: OPEN_SESSION_STATUSES, first: 500, ...(after ? { after } : {}) });
      return { nodes: d.sessions.edges.map((e) => e.node.id), hasNextPage: d.sessions.pageInfo.hasNextPage, endCursor: d.sessions.pageInfo.endCursor };
    });
    const ids = new Set([...placed, ...w.reservations.map((r) => r.sessionId)]);
    for (const id of ids) {
      try {
        await this.deps.client.request(WcTerminateSessionDocument, { id, reason: reason.slice(0, 500) });
        this.logger.info({ worker: w.id, session: id, reason }, 'session terminated');
      } catch (e) {
        const code = gqlCode(e);
        // Already ended, or gone: nothing left to do for it.
        if (code !== ErrorCode.NOT_FOUND && code !== ErrorCode.INVALID_TRANSITION) throw e;
      }
    }
  }

  // -------------------------------------------------------------------------------------------------
  // The fleet

  async fleet(ctx: ReconcileContext): Promise<ReconcileResult> {
    const nowMs = this.deps.clock().getTime();
    const since = nowMs - this.lastFleetAt;
    if (since < this.timings.fleetMinIntervalMs) return { requeueAfterMs: this.timings.fleetMinIntervalMs - since };
    this.lastFleetAt = nowMs;
    const client = this.deps.client;
    const config = this.deps.config;
    const idleMs = config.LCM_SCALE_DOWN_IDLE_SECONDS * 1000;
    const [workersRaw, { workerTemplates }, pending] = await Promise.all([
      listAll(async (after) => {
        const d = await client.request(WcWorkersDocument, { first: 500, ...(after ? { after } : {}) });
        return { nodes: d.workers.edges.map((e) => e.node), hasNextPage: d.workers.pageInfo.hasNextPage, endCursor: d.workers.pageInfo.endCursor };
      }),
      client.request(WcTemplatesDocument, {}),
      listAll(async (after) => {
        const d = await client.request(WcPendingSessionsDocument, { first: 500, ...(after ? { after } : {}) });
        return { nodes: d.sessions.edges.map((e) => e.node), hasNextPage: d.sessions.pageInfo.hasNextPage, endCursor: d.sessions.pageInfo.endCursor };
      }),
    ]);
    const workers = workersRaw.map(workerFacts);
    const now = this.deps.clock();
    const horizon = now.getTime() + idleMs;
    const pendingDemand = pending.filter((s) => !s.timeslotStart || Date.parse(s.timeslotStart) <= horizon).length;
    let instances: InstanceView[] | undefined;
    if (now.getTime() - this.lastSweepAt >= this.timings.orphanSweepMs) {
      instances = await this.ec2.listManaged();
      this.lastSweepAt = now.getTime();
    }
    // The last scale-down: remembered, or read from the workers it left behind (after a failover).
    const derived = workers.filter((w) => isScaleDownReason(w.statusReason)).reduce<number>((m, w) => Math.max(m, w.updatedAt.getTime()), 0);
    const last = Math.max(this.lastScaleDownAt?.getTime() ?? 0, derived);
    const plan = decideFleet({
      workers,
      templates: workerTemplates.map(templateFacts),
      pendingDemand,
      ...(instances ? { instances } : {}),
      lastScaleDownAt: last > 0 ? new Date(last) : null,
      settings: {
        minWorkers: config.LCM_MIN_WORKERS,
        idleMs,
        cooldownMs: config.LCM_SCALE_DOWN_COOLDOWN_SECONDS * 1000,
        scaleDownAction: config.LCM_SCALE_DOWN_ACTION,
        orphanGraceMs: this.timings.orphanGraceMs,
        periodMs: Math.min(this.timings.orphanSweepMs, config.LCM_CONTROLLER_RESYNC_SECONDS * 1000),
      },
      now,
    });
    if (plan.actions.length > 0 || plan.summary.length > 0) this.logger.debug({ plan: plan.summary, actions: plan.actions.map((a) => a.type) }, 'fleet plan');
    const failures: unknown[] = [];
    for (const action of plan.actions) {
      if (ctx.signal.aborted) return;
      try {
        await this.performFleet(action);
        this.record(action.type, 'ok');
      } catch (e) {
        const code = gqlCode(e);
        if (code === ErrorCode.CONFLICT || code === ErrorCode.INVALID_TRANSITION) {
          // The worker changed since it was read (e.g. a session reserved it): decided again next pass.
          this.record(action.type, 'conflict');
          this.logger.info({ action: action.type, err: e }, 'fleet step skipped: the worker changed');
          continue;
        }
        this.record(action.type, 'error');
        failures.push(e);
      }
    }
    if (failures.length > 0) throw failures[0];
    return { requeueAfterMs: plan.requeueAfterMs };
  }

  private async performFleet(action: FleetAction): Promise<void> {
    const client = this.deps.client;
    switch (action.type) {
      case 'request-worker': {
        const { requestWorker } = await client.request(WcRequestWorkerDocument, { input: { templateName: action.templateName, requestKey: action.requestKey, reason: action.reason } });
        this.logger.info({ worker: requestWorker.id, template: action.templateName, reason: action.reason }, 'worker requested');
        return;
      }
      case 'set-desired':
        await client.request(WcSetDesiredDocument, { id: action.workerId, desiredStatus: action.desired, reason: action.reason });
        return;
      case 'scale-down': {
        // Drain first, conditionally on the revision that was judged idle: a reservation that landed
        // since makes this a CONFLICT and the worker stays. DRAINING accepts no new session.
        await client.request(WcTransitionDocument, { id: action.workerId, to: W.DRAINING, reason: action.reason, expectedRevision: action.expectedRevision });
        this.lastScaleDownAt = this.deps.clock();
        await client.request(WcSetDesiredDocument, { id: action.workerId, desiredStatus: action.desired as WorkerStatus, reason: action.reason });
        this.logger.info({ worker: action.workerId, desired: action.desired, reason: action.reason }, 'scale-down');
        return;
      }
      case 'undrain':
        await client.request(WcTransitionDocument, { id: action.workerId, to: W.RUNNING, reason: action.reason, expectedRevision: action.expectedRevision });
        return;
      case 'terminate-orphan':
        await this.ec2.terminate(action.instanceId);
        this.logger.warn({ instance: action.instanceId, reason: action.reason }, 'orphan instance terminated');
        return;
    }
  }
}
