import { z } from 'zod';
import { actorOf, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import { LabletSessionStatus, LicenseType, WorkerStatus, values } from '../../../core/domain/enums.ts';
import { explainPlacement, type PlacementDecision, type SessionDemand } from '../../../core/domain/scheduling.ts';
import { EventTopic } from '../../../core/events/cloudevent.ts';
import { badInput, ErrorCode, isLcmError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { encodeCursor, type Page, type PageRequest } from '../../../core/persistence/document-store.ts';
import { subscribeIterator, type EventBus } from '../../../core/ports/event-bus.ts';
import type { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { reviveWorker, type Reservation, type Worker } from '../domain/model.ts';
import type { CapacityRequest } from '../../../core/domain/placement.ts';
import { DEFAULT_PORT_RANGE, type PortRange } from '../../../core/domain/tcp-ports.ts';
import {
  createWorker,
  normaliseWorkerRequest,
  recordInstance,
  recordObservation,
  releaseCapacity,
  reserveCapacity,
  setDesiredStatus,
  transitionWorker,
  type WorkerInstanceFacts,
  type WorkerObservation,
  type WorkerRequest,
} from '../domain/worker.ts';
import type { WorkerFilter, WorkerRepository } from '../infrastructure/worker-repository.ts';
import type { WorkerTemplateRepository } from '../infrastructure/worker-template-repository.ts';
import { AggregateChanges, type Decision } from '../../../core/subgraph/aggregate-changes.ts';
import { WorkerEventType, workerProjections } from './worker-events.ts';

export interface WorkerServiceOptions {
  /** Ports handed out on every worker (default 2000–9999). */
  portRange?: PortRange;
  /** Attempts of a change that keeps losing its conditional write to other replicas (default 16). */
  maxAttempts?: number;
}

/**
 * What the gateway hands over for `LabletSession.placementPlan` (the `@requires` fields, fetched from the
 * sessions and definitions subgraphs). Representations are raw JSON: dates arrive as strings.
 */
const SessionPlacementRef = z.object({
  id: z.string(),
  status: z.enum(values(LabletSessionStatus) as [LabletSessionStatus, ...LabletSessionStatus[]]),
  timeslotStart: z.coerce.date().nullish(),
  timeslotEnd: z.coerce.date().nullish(),
  definition: z.object({
    resourceRequirements: z.object({ cpuCores: z.number(), memoryGb: z.number(), storageGb: z.number(), nodeCount: z.number().int() }),
    licenseAffinity: z.array(z.enum(values(LicenseType) as [LicenseType, ...LicenseType[]])),
    portTemplate: z.array(z.object({ name: z.string() })),
    cmlRequirements: z.object({ minVersion: z.string().nullish(), maxVersion: z.string().nullish(), nodeDefinitions: z.array(z.string()) }),
    bootLeadTimeMinutes: z.number().int(),
  }),
});

/** The resource-scheduler's decision for one session, with the workers it names (PlacementPlan). */
export interface PlacementPlanView {
  decision: PlacementDecision | 'NOT_PENDING';
  summary: string;
  worker: Worker | null;
  templateName: string | null;
  eligibleAt: Date | null;
  candidates: Array<{ worker: Worker; fits: boolean; score: number | null; reason: string | null; message: string | null }>;
}


/**
 * Use cases of the workers subgraph: authorise → load → aggregate → one conditional write → publish
 * (coordination projections + CloudEvent), every change through `AggregateChanges` (a lost race is
 * decided again on the fresh state: the reservation may still fit).
 */
export class WorkerService {
  private readonly portRange: PortRange;
  private readonly changes: AggregateChanges<Worker>;

  constructor(
    private readonly workers: WorkerRepository,
    private readonly templates: WorkerTemplateRepository,
    private readonly publisher: ChangePublisher,
    private readonly bus: EventBus,
    private readonly clock: () => Date,
    options: WorkerServiceOptions = {},
  ) {
    this.portRange = options.portRange ?? DEFAULT_PORT_RANGE;
    this.changes = new AggregateChanges<Worker>({
      entity: 'CmlWorker',
      load: (id) => this.workers.get(id),
      save: (next) => this.workers.save(next),
      publish: (next, eventType, actor) => this.publish(next, eventType, actor),
      ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Queries (scope `read`)

  async get(identity: Identity | undefined, id: string): Promise<Worker | undefined> {
    requireScope(identity, Scope.READ);
    return this.workers.get(id);
  }

  async page(identity: Identity | undefined, filter: WorkerFilter, page: PageRequest): Promise<Page<Worker>> {
    requireScope(identity, Scope.READ);
    return this.workers.page(filter, page);
  }

  /** Workers by id in one round trip, for entity references (scope `read`, like every read). */
  async getMany(identity: Identity | undefined, ids: readonly string[]): Promise<Worker[]> {
    requireScope(identity, Scope.READ);
    return this.workers.getMany(ids);
  }

  /**
   * Every change of a worker (optionally only of `ids`), as the worker after the change; from now on,
   * or after `after` (an event cursor; see `EventBus`).
   */
  updates(identity: Identity | undefined, ids: readonly string[] | null | undefined, after?: string | null): AsyncIterableIterator<Worker> {
    requireScope(identity, Scope.READ);
    const only = ids && ids.length > 0 ? new Set(ids) : undefined;
    return subscribeIterator(this.bus, EventTopic.worker, (event) => {
      if (only && (event.subject === undefined || !only.has(event.subject))) return undefined;
      try {
        return reviveWorker(event.data);
      } catch {
        return undefined;
      }
    }, { after });
  }

  /**
   * What the resource-scheduler would do with a session now (a dry run of the same engine on the
   * current workers and templates), given the session's `@requires` representation.
   */
  async placementPlan(identity: Identity | undefined, representation: unknown): Promise<PlacementPlanView> {
    requireScope(identity, Scope.READ);
    const parsed = SessionPlacementRef.safeParse(representation);
    if (!parsed.success) throw badInput('LabletSession', `placement plan: incomplete session representation (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    const ref = parsed.data;
    const workers = await this.allWorkers();
    const byId = new Map(workers.map((w) => [w.id, w]));
    if (ref.status !== LabletSessionStatus.PENDING) {
      const holder = workers.find((w) => w.reservations.some((r) => r.sessionId === ref.id));
      return {
        decision: 'NOT_PENDING',
        summary: `the session is ${ref.status}; there is nothing to place${holder ? ` (it holds a reservation on worker ${holder.id})` : ''}`,
        worker: holder ?? null,
        templateName: null,
        eligibleAt: null,
        candidates: [],
      };
    }
    const d = ref.definition;
    const cml = d.cmlRequirements;
    const demand: SessionDemand = {
      sessionId: ref.id,
      timeslotStart: ref.timeslotStart ?? null,
      timeslotEnd: ref.timeslotEnd ?? null,
      bootLeadTimeMinutes: d.bootLeadTimeMinutes,
      capacity: { cpuCores: d.resourceRequirements.cpuCores, memoryGb: d.resourceRequirements.memoryGb, storageGb: d.resourceRequirements.storageGb, maxNodes: d.resourceRequirements.nodeCount },
      portNames: d.portTemplate.map((p) => p.name),
      licenseAffinity: d.licenseAffinity,
      cmlRequirements: cml.minVersion || cml.maxVersion || cml.nodeDefinitions.length > 0 ? cml : null,
    };
    const templates = await this.templates.list();
    const e = explainPlacement(demand, workers, templates, this.clock(), this.portRange);
    const holder = workers.find((w) => w.reservations.some((r) => r.sessionId === ref.id));
    return {
      decision: e.decision,
      summary: holder ? `${e.summary}; it already holds a reservation on worker ${holder.id} (an interrupted bind the scheduler resumes or releases)` : e.summary,
      worker: e.workerId ? (byId.get(e.workerId) ?? null) : null,
      templateName: e.templateName,
      eligibleAt: e.eligibleAt,
      candidates: e.workers.flatMap((v) => {
        const worker = byId.get(v.workerId);
        return worker ? [{ worker, fits: v.fits, score: v.score, reason: v.refusal?.reason ?? null, message: v.refusal?.message ?? null }] : [];
      }),
    };
  }

  /** Every worker that is not TERMINATED. */
  private async allWorkers(): Promise<Worker[]> {
    const statuses = values(WorkerStatus).filter((st) => st !== WorkerStatus.TERMINATED);
    const out: Worker[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.workers.page({ statuses }, { first: 500, ...(after ? { after } : {}) });
      out.push(...page.items);
      const last = page.items.at(-1);
      if (!page.hasNextPage || !last) return out;
      after = encodeCursor(last.id);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Commands (scope `internal`)

  /**
   * A new PENDING worker from a template. Idempotent on `requestKey`: a second request with the same
   * key (even a concurrent one) returns the first worker and publishes nothing.
   */
  async request(identity: Identity | undefined, input: WorkerRequest): Promise<Worker> {
    const who = requireScope(identity, Scope.INTERNAL);
    const request = normaliseWorkerRequest(input);
    if (request.requestKey !== null) {
      const existing = await this.workers.findByRequestKey(request.requestKey);
      if (existing) return existing;
    }
    const template = await this.templates.findByName(request.templateName);
    if (!template) throw badInput('input.templateName', `unknown worker template "${request.templateName}"`);
    const now = this.clock();
    const worker = createWorker(template, request, newId('wkr', now.getTime()), now);
    try {
      await this.workers.insert(worker);
    } catch (e) {
      if (request.requestKey !== null && isLcmError(e) && e.code === ErrorCode.CONFLICT) {
        const winner = await this.workers.findByRequestKey(request.requestKey);
        if (winner) return winner;
      }
      throw e;
    }
    await this.publish(worker, WorkerEventType.requested, actorOf(who));
    return worker;
  }

  transition(
    identity: Identity | undefined,
    id: string,
    to: WorkerStatus,
    reason: string | null | undefined,
    expectedRevision: number | null | undefined,
  ): Promise<Worker> {
    const who = requireScope(identity, Scope.INTERNAL);
    return this.change(id, actorOf(who), (current, now) => {
      const next = transitionWorker(current, to, reason, now, expectedRevision);
      return { changed: true, next, eventType: WorkerEventType.statusChanged, result: next };
    });
  }

  setDesiredStatus(identity: Identity | undefined, id: string, desired: WorkerStatus, reason: string | null | undefined): Promise<Worker> {
    const who = requireScope(identity, Scope.INTERNAL);
    return this.change(id, actorOf(who), (current, now) => {
      const { worker, changed } = setDesiredStatus(current, desired, reason, now);
      return changed ? { changed, next: worker, eventType: WorkerEventType.desiredStatusChanged, result: worker } : { changed, result: worker };
    });
  }

  recordInstance(identity: Identity | undefined, id: string, facts: WorkerInstanceFacts): Promise<Worker> {
    const who = requireScope(identity, Scope.INTERNAL);
    return this.change(id, actorOf(who), (current, now) => {
      const { worker, changed } = recordInstance(current, facts, now);
      return changed ? { changed, next: worker, eventType: WorkerEventType.updated, result: worker } : { changed, result: worker };
    });
  }

  recordObservation(identity: Identity | undefined, id: string, observation: WorkerObservation): Promise<Worker> {
    const who = requireScope(identity, Scope.INTERNAL);
    return this.change(id, actorOf(who), (current, now) => {
      const { worker, changed } = recordObservation(current, observation, now);
      return changed ? { changed, next: worker, eventType: WorkerEventType.updated, result: worker } : { changed, result: worker };
    });
  }

  /**
   * Reserve capacity and ports for a session on a worker: one conditional write of the worker
   * document. Reserving again for the same session returns the first reservation.
   */
  reserve(identity: Identity | undefined, workerId: string, request: CapacityRequest): Promise<Reservation> {
    const who = requireScope(identity, Scope.INTERNAL);
    return this.change(workerId, actorOf(who), (current, now) => {
      const { worker, reservation, changed } = reserveCapacity(current, request, now, this.portRange);
      return changed
        ? { changed, next: worker, eventType: WorkerEventType.capacityReserved, result: reservation }
        : { changed, result: reservation };
    });
  }

  /** Release a session's reservation; releasing what is not held returns the worker unchanged. */
  release(identity: Identity | undefined, workerId: string, sessionId: string): Promise<Worker> {
    const who = requireScope(identity, Scope.INTERNAL);
    return this.change(workerId, actorOf(who), (current, now) => {
      const { worker, changed } = releaseCapacity(current, sessionId, now);
      return changed ? { changed, next: worker, eventType: WorkerEventType.capacityReleased, result: worker } : { changed, result: worker };
    });
  }

  // -------------------------------------------------------------------------------------------------

  /** Every change of an existing worker: decided on the current state with the time of the attempt. */
  private change<R>(id: string, actor: string, decide: (current: Worker, now: Date) => Decision<Worker, R>): Promise<R> {
    return this.changes.run(id, actor, null, (current) => decide(current, this.clock()));
  }

  private publish(worker: Worker, type: string, actor: string): Promise<void> {
    return this.publisher.publish({
      topic: EventTopic.worker,
      type,
      subject: worker.id,
      data: worker,
      revision: worker.revision,
      actor,
      projections: workerProjections(worker),
    });
  }
}
