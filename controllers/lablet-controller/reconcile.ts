/**
 * Observation and action around the pure decisions of decide.ts: read the session (GraphQL), decide
 * the next step, perform it (CML, LDS, grading engine, GraphQL mutations on /internal/graphql — the
 * only way this controller writes), read again, until the decision is to wait or nothing is left.
 * A failed step throws after counting the failure in `pipelineProgress.failures`: the runtime retries
 * the key with backoff, and a step that keeps failing is turned by decide.ts into a clean failure.
 */
import { createHash } from 'node:crypto';
import { CmlApiError, type CmlClient, type CmlNode } from '../../core/clients/cml/index.ts';
import { LabletSessionStatus as S, type LabletSessionStatus } from '../../core/domain/enums.ts';
import { ErrorCode } from '../../core/errors.ts';
import { GraphQLRequestError } from '../../core/graphql/client.ts';
import type { ReconcileContext, ReconcileResult } from '../../core/runtime/index.ts';
import type { GradingView } from '../../core/clients/grading/index.ts';
import type { ControllerDeps } from '../kit/role.ts';
import type { ActionOutcome } from '../kit/metrics.ts';
import {
  LcAdvanceReadDocument,
  LcPublishReportDocument,
  LcRecordLabReadDocument,
  LcRecordProgressDocument,
  LcRecordProgressReadDocument,
  LcReleaseCapacityDocument,
  LcSessionDocument,
  LcTerminateDocument,
  LcUpsertGradingSessionDocument,
  LcUpsertUserSessionDocument,
  LcWorkerSessionsDocument,
  type LcSessionFragment,
} from './__generated__/operations.ts';
import type { LabletClients } from './clients.ts';
import { decide, readProgress, type FailingStep, type Observation, type Settings, type Step } from './decide.ts';
import { LabDirectory } from './lab-choice.ts';
import { desiredNodeTags, devicesOf, labTitle, markedLabYaml, tagChanges } from './lab.ts';

/** Statuses in which a session may hold a lab that another session must not take. */
const LAB_HOLDERS: ReadonlySet<LabletSessionStatus> = new Set([S.SCHEDULED, S.INSTANTIATING, S.READY, S.RUNNING, S.COLLECTING, S.GRADING, S.STOPPING, S.STOPPED, S.EXPIRED]);

/** Most steps one reconcile performs before it yields the worker (and requeues the key at once). */
const MAX_STEPS_PER_RECONCILE = 40;
/**
 * Conflicts one reconcile looks again after (someone else changed the session: normal, rare). More
 * means one that does not go away — e.g. the score-reports subgraph refusing every publish because the
 * session's status projection is behind — and the key backs off with a warning instead of spinning.
 */
const MAX_CONFLICTS_PER_RECONCILE = 3;
/** Longest requeue delay. */
const MAX_WAIT_MS = 10 * 60_000;

export interface ReconcilerOptions {
  settings: Settings;
  /** How long a stop or a wipe may take to converge before the step counts as failed. */
  labActionTimeoutMs: number;
}

/**
 * What a step asks of the loop: `continue` (read the session again, decide the next step), `next`
 * (the same, on the session as the step's last write answered it: one read fewer), or the result.
 */
type StepResult = 'continue' | { next: LcSessionFragment } | ReconcileResult;

class StepError extends Error {
  constructor(
    readonly step: FailingStep,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'StepError';
  }
}

const isCode = (e: unknown, ...codes: string[]): boolean => e instanceof GraphQLRequestError && codes.includes(e.code);
const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

export function sessionFacts(s: LcSessionFragment): Observation['session'] {
  return {
    id: s.id,
    status: s.status,
    revision: s.revision,
    timeslotStart: date(s.timeslotStart),
    timeslotEnd: date(s.timeslotEnd),
    workerId: s.worker?.id ?? null,
    cmlLabId: s.cmlLabId ?? null,
    bootLeadTimeMinutes: s.definition.bootLeadTimeMinutes,
    userSession: s.userSession ? { status: s.userSession.status, externalId: s.userSession.externalId ?? null } : null,
    gradingSession: s.gradingSession
      ? { status: s.gradingSession.status, externalId: s.gradingSession.externalId ?? null, faultReason: s.gradingSession.faultReason ?? null }
      : null,
    hasScoreReport: s.scoreReport !== null && s.scoreReport !== undefined,
  };
}

/** A simple per-key mutex: the lab choice on one worker is made by one reconcile at a time. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

export class LabletReconciler {
  private readonly workerLocks = new KeyedLock();
  /** The labs seen on each worker (their markers), so that choosing a lab reads little (lab-choice.ts). */
  private readonly labs = new LabDirectory();
  /** Sessions importing a lab now, outside the worker's lock: their lab is not to be reused meanwhile. */
  private readonly importing = new Set<string>();
  /** When this process last checked each READY/RUNNING session's health. */
  private readonly healthChecks = new Map<string, Date>();

  constructor(
    private readonly deps: ControllerDeps,
    private readonly clients: LabletClients,
    private readonly options: ReconcilerOptions,
    private readonly record: (action: string, outcome: ActionOutcome) => void,
  ) {}

  async reconcile(id: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    let answered: LcSessionFragment | undefined;
    let conflicts = 0;
    for (let i = 0; i < MAX_STEPS_PER_RECONCILE; i++) {
      if (ctx.signal.aborted) return;
      const session = answered ?? (await this.deps.client.request(LcSessionDocument, { id })).session;
      answered = undefined;
      if (!session) {
        this.healthChecks.delete(id);
        return;
      }
      const observation: Observation = {
        now: this.deps.clock(),
        session: sessionFacts(session),
        progress: readProgress(session.pipelineProgress),
        settings: this.options.settings,
        ...(this.healthChecks.has(id) ? { lastHealthCheck: this.healthChecks.get(id) as Date } : {}),
      };
      const step = decide(observation);
      ctx.logger?.debug({ session: id, status: session.status, step }, 'lablet step');
      let result: StepResult;
      try {
        result = await this.perform(step, session, observation, ctx);
      } catch (e) {
        if (ctx.signal.aborted) return;
        if (isCode(e, ErrorCode.CONFLICT, ErrorCode.INVALID_TRANSITION)) {
          this.record(step.kind, 'conflict');
          // Someone else changed the session meanwhile (an event, a user): look again. A conflict that
          // keeps coming is not that: thrown, so the runtime logs it and retries with backoff.
          if (++conflicts <= MAX_CONFLICTS_PER_RECONCILE) continue;
          throw e;
        }
        if (isCode(e, ErrorCode.NOT_FOUND)) return;
        this.record(step.kind, 'error');
        if (e instanceof StepError) await this.countFailure(id, observation, e);
        throw e;
      }
      if (result === 'continue') continue;
      if (result && 'next' in result) {
        answered = result.next;
        continue;
      }
      return result;
    }
    return { requeueAfterMs: 0 };
  }

  private async countFailure(id: string, o: Observation, e: StepError): Promise<void> {
    const previous = o.progress.failures[e.step]?.count ?? 0;
    try {
      await this.progress(id, 'failures', { [e.step]: { count: previous + 1, lastError: e.message.slice(0, 500), at: o.now.toISOString() } });
    } catch (err) {
      this.deps.logger.warn({ err, session: id }, 'could not record a step failure');
    }
  }

  private async perform(step: Step, s: LcSessionFragment, o: Observation, ctx: ReconcileContext): Promise<StepResult> {
    const signal = ctx.signal;
    switch (step.kind) {
      case 'nothing':
        if (s.status !== S.READY && s.status !== S.RUNNING) this.healthChecks.delete(s.id);
        return undefined;
      case 'wait':
        // Capped: a timeslot weeks away is looked at again now and then (and timers stay in range).
        return { requeueAfterMs: Math.min(MAX_WAIT_MS, Math.max(1, Math.ceil(step.ms))) };
      case 'advance': {
        const { advanceSession } = await this.deps.client.request(LcAdvanceReadDocument, { id: s.id, to: step.to, reason: step.reason, expectedRevision: s.revision });
        this.record(`advance:${step.to}`, 'ok');
        return { next: advanceSession };
      }
      case 'terminate':
        await this.deps.client.request(LcTerminateDocument, { id: s.id, reason: step.reason });
        this.record('terminate', 'ok');
        return 'continue';
      case 'fail':
        if (step.deleteLab) await this.progress(s.id, 'teardown', { deleteLab: true });
        await this.deps.client.request(LcTerminateDocument, { id: s.id, reason: step.reason });
        this.record(`fail:${step.step}`, 'ok');
        return 'continue';
      case 'instantiate': {
        const outcome = await this.guard(step.step, () => this.instantiate(step.step, s, o, signal));
        if (outcome === 'booting') return { requeueAfterMs: this.options.settings.pollMs };
        return outcome ? { next: outcome } : 'continue';
      }
      case 'health':
        await this.health(s, signal);
        return 'continue';
      case 'collect':
        await this.guard('collect', () => this.collect(s, o, signal));
        return 'continue';
      case 'pollGrading':
        return this.pollGrading(s, signal);
      case 'regrade':
        await this.regrade(s, o, step.attempt, signal);
        return 'continue';
      case 'teardown': {
        const t = step.step;
        if (t === 'stop' || t === 'wipe' || t === 'delete') await this.guard('teardown', () => this.labTeardown(t, s, o, signal));
        else if (step.step === 'finalizeLds') await this.finalizeLds(s, signal);
        else await this.release(s);
        return 'continue';
      }
      case 'abandonLab':
        this.deps.logger.warn({ session: s.id, reason: step.reason }, 'lab teardown abandoned');
        await this.progress(s.id, 'teardown', { labDone: true, labAbandoned: step.reason });
        this.record('abandonLab', 'ok');
        return 'continue';
      case 'teardownDone':
        await this.progress(s.id, 'teardown', { done: true });
        this.healthChecks.delete(s.id);
        this.record('teardownDone', 'ok');
        return undefined;
    }
  }

  /** Run a counted step: a failure becomes a `StepError` (counted, then retried with backoff). */
  private async guard<T>(step: FailingStep, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.record(step, 'ok');
      return result;
    } catch (e) {
      if (e instanceof GraphQLRequestError) throw e;
      throw new StepError(step, e);
    }
  }

  private progress(id: string, pipeline: string, progress: Record<string, unknown>) {
    return this.deps.client.request(LcRecordProgressDocument, { id, pipeline, progress });
  }

  /** `progress` as a step's last write: the session as it answered, for the loop's next decision. */
  private async progressRead(id: string, pipeline: string, progress: Record<string, unknown>): Promise<LcSessionFragment> {
    return (await this.deps.client.request(LcRecordProgressReadDocument, { id, pipeline, progress })).recordPipelineProgress;
  }

  private cmlFor(s: LcSessionFragment): CmlClient {
    const address = s.worker?.ipAddress;
    if (!address) throw new Error(`worker ${s.worker?.id ?? '?'} has no address`);
    return this.clients.cml(address);
  }

  // ---- instantiation ---------------------------------------------------------------------------

  /**
   * One instantiation step; `booting` when the lab has not converged yet; the session as the step's
   * last write answered it, when that write was the step's last action.
   */
  private async instantiate(step: 'lab' | 'tags' | 'start' | 'boot' | 'lds', s: LcSessionFragment, o: Observation, signal: AbortSignal): Promise<'booting' | LcSessionFragment | void> {
    const cml = this.cmlFor(s);
    const labId = s.cmlLabId as string;
    switch (step) {
      case 'lab':
        return this.resolveLab(s, cml, signal);
      case 'tags': {
        const nodes = await cml.listNodes(labId, signal);
        const template = new Map(s.definition.portTemplate.map((p) => [p.name, p.protocol]));
        const desired = desiredNodeTags(
          nodes.map((n) => ({ id: n.id, label: n.label, tags: n.tags })),
          s.allocatedPorts.map((p) => ({ name: p.name, port: p.port, protocol: template.get(p.name) ?? 'serial' })),
        );
        for (const change of tagChanges(nodes.map((n) => ({ id: n.id, label: n.label, tags: n.tags })), desired)) {
          await cml.updateNodeTags(labId, change.nodeId, change.tags, signal);
        }
        return this.progressRead(s.id, 'instantiate', { tagged: true });
      }
      case 'start':
        await cml.startLab(labId, signal);
        return this.progressRead(s.id, 'instantiate', { bootStartedAt: o.now.toISOString() });
      case 'boot': {
        if (!(await cml.checkIfConverged(labId, signal))) return 'booting';
        const nodes = await cml.listNodes(labId, signal);
        if (!nodes.every((n) => n.state === 'BOOTED')) return 'booting';
        return this.progressRead(s.id, 'instantiate', { booted: true });
      }
      case 'lds':
        return this.provisionUser(s, cml, signal);
    }
  }

  /**
   * Choose the session's lab on its worker, one choice at a time per worker: the lab this session
   * imported before a restart (found by its marker), else a wiped lab of the same definition that no
   * live session holds (reuse, recorded before the next choice on the worker), else a fresh import of
   * the definition's topology. The import and its record run outside the worker's lock (they claim
   * nothing another session could take: until recorded, a lab marked with a session still importing
   * is never reused), so the sessions of a burst import in parallel; see lab-choice.ts for what is read.
   */
  private async resolveLab(s: LcSessionFragment, cml: CmlClient, signal: AbortSignal): Promise<LcSessionFragment> {
    const workerId = s.worker?.id as string;
    const record = async (labId: string, how: Record<string, unknown>, action: string) => {
      await this.progress(s.id, 'instantiate', how);
      const { recordSessionLab } = await this.deps.client.request(LcRecordLabReadDocument, { id: s.id, cmlLabId: labId });
      this.record(action, 'ok');
      return recordSessionLab;
    };
    const chosen = await this.workerLocks.run(workerId, async () => {
      const held = new Set(
        ((await this.deps.client.request(LcWorkerSessionsDocument, { workerId })).worker?.sessions ?? [])
          .filter((x) => x.id !== s.id && x.cmlLabId && LAB_HOLDERS.has(x.status))
          .map((x) => x.cmlLabId as string),
      );
      const choice = await this.labs.choose(workerId, cml, { sessionId: s.id, definitionId: s.definition.id, held, importing: this.importing }, signal);
      // A lab found is claimed (recorded) before the next choice on this worker; an import is not
      // needed to be: `importing` keeps its lab from being taken until it is recorded.
      if (choice?.how === 'reused') return record(choice.labId, { labId: choice.labId, reused: true }, 'lab:reuse');
      if (choice?.how === 'mine') return record(choice.labId, { labId: choice.labId, imported: true }, 'lab:adopt');
      this.importing.add(s.id);
      return undefined;
    });
    if (chosen) return chosen;
    try {
      const yaml = markedLabYaml(s.definition.labYaml, { definitionId: s.definition.id, sessionId: s.id });
      const labId = (await cml.importLab(yaml, { title: labTitle(s.definition.name, s.id), signal })).id;
      this.labs.remember(workerId, labId, { definitionId: s.definition.id, sessionId: s.id });
      return await record(labId, { labId, imported: true }, 'lab:import');
    } finally {
      this.importing.delete(s.id);
    }
  }

  private async provisionUser(s: LcSessionFragment, cml: CmlClient, signal: AbortSignal): Promise<void> {
    const lds = this.clients.lds;
    if (!lds) throw new Error('no LDS configured (LCM_LDS_URL)');
    const address = s.worker?.ipAddress as string;
    const nodes = await cml.listNodes(s.cmlLabId as string, signal);
    const devices = devicesOf(nodes);
    const { session: user } = await lds.ensureSession(
      {
        labletSessionId: s.id,
        owner: s.owner,
        formQualifiedName: `${s.definition.name}@${s.definition.version}`,
        workerAddress: address,
        devices: devices.map((d) => ({ label: d.label, protocol: d.protocol, host: address, ...(d.port !== undefined ? { port: d.port } : {}) })),
      },
      signal,
    );
    await this.deps.client.request(LcUpsertUserSessionDocument, {
      sessionId: s.id,
      input: {
        status: user.status,
        loginUrl: user.loginUrl ?? null,
        externalId: user.id,
        devices: user.devices.map((d) => ({ name: d.label, protocol: d.protocol, host: d.host ?? address, port: d.port ?? null })),
      },
    });
  }

  // ---- READY / RUNNING -------------------------------------------------------------------------

  /**
   * The lab is still there and booted; the LDS session's state (the level-triggered fallback for a
   * missed started/ended event). A lab gone from the worker ends the session.
   */
  private async health(s: LcSessionFragment, signal: AbortSignal): Promise<void> {
    this.healthChecks.set(s.id, this.deps.clock());
    if (s.cmlLabId && s.worker?.ipAddress) {
      try {
        const nodes = await this.cmlFor(s).listNodes(s.cmlLabId, signal);
        const down = nodes.filter((n) => n.state !== 'BOOTED');
        if (down.length > 0) this.deps.logger.warn({ session: s.id, nodes: down.map((n) => `${n.label}:${n.state}`) }, 'lab not healthy');
      } catch (e) {
        if (e instanceof CmlApiError && e.isNotFound) {
          await this.deps.client.request(LcTerminateDocument, { id: s.id, reason: `lab ${s.cmlLabId} is gone from worker ${s.worker.id}` });
          return;
        }
        this.deps.logger.warn({ err: e, session: s.id }, 'health check of the lab failed');
      }
    }
    const lds = this.clients.lds;
    const externalId = s.userSession?.externalId;
    if (lds && externalId) {
      try {
        const user = await lds.get(externalId, signal);
        if (user && user.status !== s.userSession?.status && ['ACTIVE', 'PAUSED', 'ENDED', 'EXPIRED'].includes(user.status)) {
          await this.deps.client.request(LcUpsertUserSessionDocument, { sessionId: s.id, input: { status: user.status } });
        }
      } catch (e) {
        if (e instanceof GraphQLRequestError) throw e;
        this.deps.logger.warn({ err: e, session: s.id }, 'LDS check failed');
      }
    }
    this.record('health', 'ok');
  }

  // ---- COLLECTING / GRADING --------------------------------------------------------------------

  /**
   * Evidence: each node's running configuration (extracted through CML, then read back) and the lab's
   * topology; then the grading request with the pod (devices, their access and configurations).
   */
  private async collect(s: LcSessionFragment, o: Observation, signal: AbortSignal): Promise<void> {
    const grading = this.clients.grading;
    if (!grading) throw new Error('no grading engine configured (LCM_GRADING_URL)');
    const address = s.worker?.ipAddress as string;
    const labId = s.cmlLabId;
    const configs = new Map<string, string | null>();
    let nodes: CmlNode[] = [];
    let topology = '';
    if (labId) {
      const cml = this.cmlFor(s);
      nodes = await cml.listNodes(labId, signal);
      for (const node of nodes) {
        try {
          await cml.extractConfiguration(labId, node.id, signal);
        } catch (e) {
          // A node that is not running, or has no configuration (connectors, switches): nothing to extract.
          if (!(e instanceof CmlApiError && e.isBadRequest)) throw e;
        }
        configs.set(node.id, await cml.nodeConfiguration(labId, node.id, signal));
      }
      topology = await cml.downloadLab(labId, signal);
    }
    const devices = devicesOf(nodes);
    const pod = {
      id: s.id,
      devices: nodes.map((node) => {
        const mine = devices.filter((d) => d.label === node.label);
        const config = configs.get(node.id);
        return {
          label: node.label,
          hostname: node.label,
          collector: 'lcm',
          interfaces: mine.map((d, i) => ({
            name: `${d.protocol}-${i}`,
            protocol: d.protocol,
            host: address,
            ...(d.port !== undefined ? { port: d.port } : {}),
            ...(i === 0 && config ? { configuration: { runningConfig: config } } : {}),
          })),
        };
      }),
    };
    const { grading: view } = await grading.ensureGrading(
      {
        labletSessionId: s.id,
        ruleset: s.definition.name.length >= 3 ? s.definition.name : 'default',
        candidateId: s.owner.length >= 3 ? s.owner : `candidate-${s.owner}`,
        ...(s.userSession?.externalId ? { ldsSessionId: s.userSession.externalId } : {}),
        pod,
      },
      signal,
    );
    await this.progress(s.id, 'collect', {
      collectedAt: o.now.toISOString(),
      nodes: nodes.length,
      configurations: [...configs.values()].filter(Boolean).length,
      topologyBytes: Buffer.byteLength(topology),
      topologySha256: createHash('sha256').update(topology).digest('hex'),
    });
    await this.progress(s.id, 'grading', { requestedAt: o.now.toISOString(), attempts: 1, ...(view.partId ? { partId: view.partId } : {}) });
    await this.deps.client.request(LcUpsertGradingSessionDocument, { sessionId: s.id, input: { status: view.status, externalId: view.id } });
  }

  /** Poll the grading engine: publish a finished report, record a fault; else look again later. */
  private async pollGrading(s: LcSessionFragment, signal: AbortSignal): Promise<StepResult> {
    const wait = { requeueAfterMs: this.options.settings.gradingPollMs };
    const grading = this.clients.grading;
    const externalId = s.gradingSession?.externalId;
    if (!grading || !externalId) return wait;
    let view: GradingView | undefined;
    try {
      view = await grading.get(externalId, signal);
    } catch (e) {
      this.deps.logger.warn({ err: e, session: s.id }, 'grading engine poll failed');
      return wait;
    }
    if (!view) return wait;
    if (view.status === 'SUBMITTED' && view.scoreReport) {
      await publishReport(this.deps, s, view.id, view.scoreReport);
      this.record('publishReport', 'ok');
      return 'continue';
    }
    if (view.status === 'FAULTED' && s.gradingSession?.status !== 'FAULTED') {
      await this.deps.client.request(LcUpsertGradingSessionDocument, {
        sessionId: s.id,
        input: { status: 'FAULTED', faultReason: view.statusReason ?? 'grading failed' },
      });
      return 'continue';
    }
    if (view.status !== s.gradingSession?.status && view.status !== 'FAULTED') {
      await this.deps.client.request(LcUpsertGradingSessionDocument, { sessionId: s.id, input: { status: view.status } });
    }
    return wait;
  }

  private async regrade(s: LcSessionFragment, o: Observation, attempt: number, signal: AbortSignal): Promise<void> {
    const grading = this.clients.grading;
    const externalId = s.gradingSession?.externalId;
    const partId = o.progress.grading.partId;
    if (!grading || !externalId || !partId) {
      await this.deps.client.request(LcTerminateDocument, { id: s.id, reason: `grading failed: ${s.gradingSession?.faultReason ?? 'no reason given'}` });
      return;
    }
    await grading.regrade(externalId, partId, signal);
    await this.progress(s.id, 'grading', { attempts: attempt, requestedAt: o.now.toISOString() });
    await this.deps.client.request(LcUpsertGradingSessionDocument, { sessionId: s.id, input: { status: 'GRADING', faultReason: null } });
    this.record('regrade', 'ok');
  }

  // ---- teardown --------------------------------------------------------------------------------

  private async labTeardown(step: 'stop' | 'wipe' | 'delete', s: LcSessionFragment, o: Observation, signal: AbortSignal): Promise<void> {
    const labId = s.cmlLabId as string;
    if (!s.worker?.ipAddress || s.worker.status === 'TERMINATED' || s.worker.status === 'TERMINATING') {
      await this.progress(s.id, 'teardown', { labDone: true, labAbandoned: `worker ${s.worker?.id ?? '?'} is gone (${s.worker?.status ?? 'no address'})` });
      return;
    }
    const cml = this.cmlFor(s);
    const wait = { timeoutMs: this.options.labActionTimeoutMs, signal };
    /**
     * A lab another session took meanwhile (reused once wiped — e.g. a session ended long ago and torn
     * down late, after the scan found it) is that session's now: leave it alone.
     */
    const takenBy = async (): Promise<string | undefined> => {
      const sessions = (await this.deps.client.request(LcWorkerSessionsDocument, { workerId: s.worker?.id as string })).worker?.sessions ?? [];
      return sessions.find((x) => x.id !== s.id && x.cmlLabId === labId && LAB_HOLDERS.has(x.status))?.id;
    };
    const leave = async (holder: string) => {
      await this.progress(s.id, 'teardown', { labDone: true, labAbandoned: `lab ${labId} is held by session ${holder} now` });
      this.record('teardown:lab-taken', 'skipped');
    };
    try {
      if (step === 'stop') {
        const holder = await takenBy();
        if (holder) return await leave(holder);
        await cml.stopLab(labId, signal);
        await cml.waitForConverged(labId, wait);
        await this.progress(s.id, 'teardown', { stopped: true });
        return;
      }
      // Wipe (and delete) under the worker's lock: a wiped lab is reusable at once.
      await this.workerLocks.run(s.worker.id, async () => {
        const holder = await takenBy();
        if (holder) return leave(holder);
        if (step === 'wipe') {
          await cml.wipeLab(labId, signal);
          await cml.waitForConverged(labId, wait);
          const deleteLab = o.progress.teardown.deleteLab === true;
          if (deleteLab) await cml.deleteLab(labId, signal);
          await this.progress(s.id, 'teardown', { wiped: true, ...(deleteLab ? { deleted: true } : {}), labDone: true });
        } else {
          await cml.deleteLab(labId, signal);
          await this.progress(s.id, 'teardown', { deleted: true, labDone: true });
        }
      });
    } catch (e) {
      if (e instanceof CmlApiError && e.isNotFound) {
        await this.progress(s.id, 'teardown', { labDone: true, labAbandoned: `lab ${labId} no longer exists` });
        return;
      }
      throw e;
    }
  }

  private async finalizeLds(s: LcSessionFragment, signal: AbortSignal): Promise<void> {
    const externalId = s.userSession?.externalId as string;
    if (this.clients.lds) await this.clients.lds.finalize(externalId, signal);
    const status = s.userSession?.status ?? '';
    if (!['ENDED', 'EXPIRED', 'FAULTED'].includes(status)) {
      await this.deps.client.request(LcUpsertUserSessionDocument, { sessionId: s.id, input: { status: 'ENDED' } });
    }
    await this.progress(s.id, 'teardown', { ldsFinalized: true });
    this.record('finalizeLds', 'ok');
  }

  private async release(s: LcSessionFragment): Promise<void> {
    try {
      await this.deps.client.request(LcReleaseCapacityDocument, { workerId: s.worker?.id as string, sessionId: s.id });
    } catch (e) {
      // A worker that is gone holds nothing any more.
      if (!isCode(e, ErrorCode.NOT_FOUND)) throw e;
    }
    await this.progress(s.id, 'teardown', { released: true });
    this.record('releaseCapacity', 'ok');
  }
}

/** Publish the session's score report (idempotent per session: a second publish returns the first). */
export async function publishReport(
  deps: Pick<ControllerDeps, 'client'>,
  s: { id: string; owner: string; definition: { id: string } },
  gradingSessionId: string,
  report: { score: number; maxScore: number; cutScore?: number | null; sections: Array<{ name: string; score: number; maxScore: number; weight?: number }>; submittedAt?: string | null },
): Promise<void> {
  await deps.client.request(LcPublishReportDocument, {
    input: {
      sessionId: s.id,
      definitionId: s.definition.id,
      owner: s.owner,
      gradingSessionId,
      score: report.score,
      maxScore: report.maxScore,
      cutScore: report.cutScore ?? null,
      sections: report.sections.map((x) => ({ name: x.name, score: x.score, maxScore: x.maxScore, ...(x.weight !== undefined ? { weight: x.weight } : {}) })),
      ...(report.submittedAt ? { submittedAt: report.submittedAt } : {}),
    },
  });
  await deps.client.request(LcUpsertGradingSessionDocument, { sessionId: s.id, input: { status: 'SUBMITTED', externalId: gradingSessionId } });
}
