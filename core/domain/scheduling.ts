/**
 * The resource-scheduler's placement engine (DESIGN.md §4): pure, no I/O. Given the PENDING sessions
 * (with what their definitions require), the workers and the worker templates, it decides
 *   - which eligible sessions go on which RUNNING worker (filter with the workers' own reservation
 *     rules + the CML requirements, score for bin-packing: fuller workers first), placing the sessions
 *     one by one on a local copy of the workers so that one cycle packs many sessions;
 *   - which sessions will fit on capacity already being provisioned (workers PENDING, PROVISIONING,
 *     STARTING, and RUNNING ones whose CML is not observed yet), first-fit-decreasing, so nothing is
 *     asked twice;
 *   - which new workers to ask for the rest: first-fit-decreasing onto new bins, each bin of the
 *     template with the lowest cost per session it would hold (for one session: the cheapest template
 *     that fits; on a tie, the template holding more), so a burst of N sessions asks for what N
 *     needs, not N workers;
 *   - which sessions fit no enabled template at all, which are not yet within their boot lead time
 *     (and when they will be), and which saw their timeslot end while still PENDING.
 * `explainPlacement` is the same engine for one session, with every worker's verdict (placementPlan).
 */
import { addCapacity, allocatedCapacity, CAPACITY_DIMENSIONS, describeAmount, exceededDimension, type Capacity, type CapacityDimension } from './capacity.ts';
import { WorkerStatus, type LicenseType } from './enums.ts';
import {
  cmlRefusal,
  hostsOneSessionOnly,
  licenseSatisfies,
  placementRefusal,
  type CapacityRequest,
  type CmlRequirements,
  type PlacementRefusal,
  type PlacementWorker,
} from './placement.ts';
import { DEFAULT_PORT_RANGE, heldPorts, lowestFreePorts, portRangeSize, type PortRange } from './tcp-ports.ts';
import { WORKER_ACCEPTS_SESSIONS, WORKER_COMING_UP } from './worker-state-machine.ts';

/** A PENDING session and what its definition asks of a worker. */
export interface SessionDemand {
  sessionId: string;
  createdAt?: Date | null;
  timeslotStart: Date | null;
  timeslotEnd: Date | null;
  /** Placed no earlier than this many minutes before `timeslotStart`. */
  bootLeadTimeMinutes: number;
  /** `maxNodes` = the definition's node count. */
  capacity: Capacity;
  portNames: readonly string[];
  licenseAffinity: readonly LicenseType[];
  cmlRequirements: CmlRequirements | null;
}

/** A worker as the scheduler sees it. */
export interface SchedulingWorker extends PlacementWorker {
  templateName: string;
}

/** A template new workers can be provisioned from. */
export interface TemplateOffer {
  name: string;
  capacity: Capacity;
  licenseType: LicenseType;
  costPerHour: number;
  enabled: boolean;
}

export interface SchedulingInput {
  now: Date;
  sessions: readonly SessionDemand[];
  workers: readonly SchedulingWorker[];
  templates: readonly TemplateOffer[];
  portRange?: PortRange;
}

export interface Placement {
  sessionId: string;
  workerId: string;
  score: number;
}

export interface ScaleUpRequest {
  templateName: string;
  /** The sessions this new worker is for (first-fit-decreasing). */
  sessionIds: string[];
}

export interface SchedulingPlan {
  /** Eligible sessions and the RUNNING worker each goes on, in placement order. */
  placements: Placement[];
  /** Eligible sessions that will fit on a worker already coming up: nothing to ask. */
  awaitingCapacity: Array<{ sessionId: string; workerId: string }>;
  /** New workers to request. */
  scaleUp: ScaleUpRequest[];
  /** Eligible sessions that fit no enabled template: they stay PENDING, with this reason. */
  unplaceable: Array<{ sessionId: string; reason: string }>;
  /** Sessions whose timeslot starts later than their boot lead time from now. */
  notYetEligible: Array<{ sessionId: string; eligibleAt: Date }>;
  /** PENDING sessions whose timeslot has ended: nothing can be placed any more. */
  expired: Array<{ sessionId: string; reason: string }>;
  /** When the next not-yet-eligible session becomes eligible. */
  nextWakeAt: Date | undefined;
}

/** When a session may be placed: `bootLeadTimeMinutes` before its timeslot, or now without one. */
export function eligibleAt(session: Pick<SessionDemand, 'timeslotStart' | 'bootLeadTimeMinutes'>): Date | undefined {
  if (!session.timeslotStart) return undefined;
  return new Date(session.timeslotStart.getTime() - session.bootLeadTimeMinutes * 60_000);
}

/** The reservation request a session makes (what `reserveCapacity` is sent, plus its CML needs). */
export function capacityRequestOf(session: SessionDemand): CapacityRequest {
  return {
    sessionId: session.sessionId,
    capacity: session.capacity,
    portNames: session.portNames,
    licenseAffinity: session.licenseAffinity,
    cmlRequirements: session.cmlRequirements,
  };
}

/** Whether the worker takes new sessions now (RUNNING, and meant to stay so). */
export const acceptsSessions = (w: Pick<PlacementWorker, 'status' | 'desiredStatus'>): boolean =>
  WORKER_ACCEPTS_SESSIONS.has(w.status) && w.desiredStatus === WorkerStatus.RUNNING;

/** Whether the worker is being provisioned to take sessions soon. */
export const comingUp = (w: Pick<PlacementWorker, 'status' | 'desiredStatus'>): boolean =>
  WORKER_COMING_UP.has(w.status) && w.desiredStatus === WorkerStatus.RUNNING;

/**
 * Bin-packing score in [0, 1] of putting `capacity` on `worker`: the mean fill over the declared
 * dimensions after the placement (Kubernetes' MostAllocated), so the fullest worker that still fits
 * wins and emptier workers stay free to be scaled down. A PERSONAL worker is full with one session.
 */
export function placementScore(worker: PlacementWorker, capacity: Capacity, used: Capacity = allocatedCapacity(worker)): number {
  if (worker.licenseType === 'PERSONAL') return 1;
  let sum = 0;
  let dims = 0;
  for (const d of CAPACITY_DIMENSIONS) {
    const declared = worker.declaredCapacity[d];
    if (declared <= 0) continue;
    sum += Math.min(1, (used[d] + capacity[d]) / declared);
    dims += 1;
  }
  return dims === 0 ? 0 : Math.round((sum / dims) * 1e6) / 1e6;
}

/** One worker's verdict on one session. */
export interface WorkerVerdict {
  workerId: string;
  fits: boolean;
  score: number | null;
  refusal: PlacementRefusal | null;
}

/**
 * Every worker's verdict on `session`: the ones that fit, best score first (ties: by id), then the
 * others with the reason they refuse it.
 */
export function rankWorkers(session: SessionDemand, workers: readonly PlacementWorker[], portRange: PortRange = DEFAULT_PORT_RANGE): WorkerVerdict[] {
  const request = capacityRequestOf(session);
  const verdicts = workers.map((w): WorkerVerdict => {
    const refusal = placementRefusal(w, request, portRange);
    return refusal
      ? { workerId: w.id, fits: false, score: null, refusal }
      : { workerId: w.id, fits: true, score: placementScore(w, session.capacity), refusal: null };
  });
  return verdicts.sort((a, b) => {
    if (a.fits !== b.fits) return a.fits ? -1 : 1;
    if (a.fits && a.score !== b.score) return (b.score ?? 0) - (a.score ?? 0);
    return a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0;
  });
}

/** The order sessions are placed in: earliest timeslot (or creation, without one) first. */
function placementOrder(a: SessionDemand, b: SessionDemand): number {
  const at = (s: SessionDemand) => (s.timeslotStart ?? s.createdAt ?? new Date(0)).getTime();
  return at(a) - at(b) || (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0);
}

/** Decreasing size for first-fit-decreasing: CPU, then memory, nodes, storage. */
function decreasingSize(a: SessionDemand, b: SessionDemand): number {
  for (const d of ['cpuCores', 'memoryGb', 'maxNodes', 'storageGb'] as const) {
    if (a.capacity[d] !== b.capacity[d]) return b.capacity[d] - a.capacity[d];
  }
  return placementOrder(a, b);
}

/** A mutable copy of a worker for one planning pass. */
type Reservation = PlacementWorker['reservations'][number];
type WorkingCopy = Omit<SchedulingWorker, 'reservations'> & { reservations: Reservation[] };
interface Bin {
  worker: WorkingCopy;
  /** For a bin that is a new worker: its template. */
  template?: TemplateOffer;
}

const copyWorker = (w: SchedulingWorker): WorkingCopy => ({ ...w, reservations: [...w.reservations] });

/**
 * What a working copy's reservations hold, kept up to date by `take` (the only writer of a working
 * copy's reservations), so that the placement loop does not re-sum every reservation of every worker
 * for every session. Same arithmetic, same order as `allocatedCapacity` / `heldPorts`.
 */
interface Held {
  capacity: Capacity;
  ports: Set<number>;
  /** How many of `ports` are in the cycle's port range. */
  inRange: number;
}
const heldByCopy = new WeakMap<WorkingCopy, Held>();
function held(worker: WorkingCopy, portRange: PortRange): Held {
  let h = heldByCopy.get(worker);
  if (!h) {
    const ports = heldPorts(worker);
    let inRange = 0;
    for (const p of ports) if (p >= portRange.min && p <= portRange.max) inRange += 1;
    heldByCopy.set(worker, (h = { capacity: allocatedCapacity(worker), ports, inRange }));
  }
  return h;
}

/** Record a session on a bin, with ports as the worker would hand them out (lowest free first). */
function take(bin: Bin, session: SessionDemand, portRange: PortRange): void {
  const h = held(bin.worker, portRange);
  const ports = lowestFreePorts(h.ports, session.portNames.length, portRange) ?? [];
  const reservation = {
    sessionId: session.sessionId,
    capacity: session.capacity,
    ports: session.portNames.map((name, i) => ({ name, port: ports[i] ?? 0 })),
  };
  bin.worker.reservations.push(reservation);
  h.capacity = addCapacity(h.capacity, reservation.capacity);
  for (const { port } of reservation.ports) {
    if (h.ports.has(port)) continue;
    h.ports.add(port);
    if (port >= portRange.min && port <= portRange.max) h.inRange += 1;
  }
}

/**
 * A necessary condition for `placementRefusal(worker, request) === undefined`, from the kept totals:
 * the PERSONAL rule, capacity on every dimension, free ports, as `placementRefusal` computes them.
 * Workers that fail it are skipped without the full check (which re-sums every reservation).
 */
const micro = (v: number): number => Math.round(v * 1e6) / 1e6;

function mayFit(worker: WorkingCopy, session: SessionDemand, portRange: PortRange): boolean {
  if (hostsOneSessionOnly(worker) && worker.reservations.length > 0) return false;
  const h = held(worker, portRange);
  // availableCapacity + exceededDimension (capacity.ts), without allocating: rounded to micro-units.
  for (const d of CAPACITY_DIMENSIONS) {
    const left = d === 'maxNodes' ? worker.declaredCapacity[d] - h.capacity[d] : micro(worker.declaredCapacity[d] - h.capacity[d]);
    if (micro(session.capacity[d] - Math.max(0, left)) > 0) return false;
  }
  return portRangeSize(portRange) - h.inRange >= session.portNames.length;
}

/**
 * Templates whose workers cannot run the session's CML: some of their workers reported a CML version
 * and none of those meets the requirements. Asking for another worker of such a template would loop.
 */
function cmlExcludedTemplates(session: SessionDemand, workers: readonly SchedulingWorker[]): Set<string> {
  const verdicts = new Map<string, boolean>();
  if (!session.cmlRequirements) return new Set();
  for (const w of workers) {
    if (!w.cmlVersion) continue;
    const ok = cmlRefusal(w, session.cmlRequirements) === undefined;
    verdicts.set(w.templateName, (verdicts.get(w.templateName) ?? false) || ok);
  }
  return new Set([...verdicts].filter(([, ok]) => !ok).map(([name]) => name));
}

/** Whether a bin that is not RUNNING yet (coming up, or new) can take the session. */
function binAccepts(bin: Bin, session: SessionDemand, excluded: ReadonlySet<string>, portRange: PortRange): boolean {
  if (excluded.has(bin.worker.templateName)) return false;
  const asRunning: PlacementWorker = { ...bin.worker, status: WorkerStatus.RUNNING, desiredStatus: WorkerStatus.RUNNING };
  // The CML version of a worker not yet running is unknown: its template is trusted unless excluded.
  const request = { ...capacityRequestOf(session), cmlRequirements: bin.worker.cmlVersion ? session.cmlRequirements : null };
  return placementRefusal(asRunning, request, portRange) === undefined;
}

const newWorkerOf = (template: TemplateOffer, index: number): WorkingCopy => ({
  id: `new-${index}`,
  templateName: template.name,
  status: WorkerStatus.PENDING,
  desiredStatus: WorkerStatus.RUNNING,
  licenseType: template.licenseType,
  cmlVersion: null,
  nodeDefinitions: [],
  declaredCapacity: { ...template.capacity },
  reservations: [],
});

/** Why a template cannot host the session alone, or undefined when it can. */
export function templateRefusal(template: TemplateOffer, session: SessionDemand, excluded: ReadonlySet<string>, portRange: PortRange): string | undefined {
  if (!template.enabled) return `template ${template.name} is disabled`;
  if (!licenseSatisfies(template.licenseType, session.licenseAffinity)) {
    return `template ${template.name} runs a ${template.licenseType} licence, not one of [${session.licenseAffinity.join(', ')}]`;
  }
  if (excluded.has(template.name)) return `template ${template.name}: its workers run a CML version or node definitions the session cannot use`;
  const d: CapacityDimension | undefined = exceededDimension(session.capacity, template.capacity);
  if (d) return `template ${template.name} offers ${describeAmount(d, template.capacity[d])}; the session needs ${describeAmount(d, session.capacity[d])}`;
  if (portRangeSize(portRange) < session.portNames.length) return `a worker has ${portRangeSize(portRange)} ports; the session needs ${session.portNames.length}`;
  return undefined;
}

/** How many of `sessions` (in order, first fit) one new worker of `template` would hold. */
function sessionsPerBin(template: TemplateOffer, sessions: readonly SessionDemand[], excludedBySession: Map<string, Set<string>>, portRange: PortRange): number {
  const bin: Bin = { worker: newWorkerOf(template, -1), template };
  let count = 0;
  for (const s of sessions) {
    if (binAccepts(bin, s, excludedBySession.get(s.sessionId) ?? new Set(), portRange)) {
      take(bin, s, portRange);
      count += 1;
    }
  }
  return count;
}

/**
 * The RUNNING worker `session` goes on: `rankWorkers(session, workers)[0]` when it fits (best score,
 * ties by id), found in one pass without building and sorting every verdict. A worker's CML verdict
 * depends only on its version, its node definitions and the requirements, none of which a cycle
 * changes, so it is computed once per worker and distinct requirements (`cmlVerdicts`, per cycle)
 * instead of parsing versions for every session × worker pair. The rest of the filter is
 * `placementRefusal` itself, unchanged. (At 10,000 sessions × 1,000 workers this took the engine from
 * ~0.3k to thousands of placements per second: bench/scheduler.)
 */
function bestWorker(
  session: SessionDemand,
  workers: readonly WorkingCopy[],
  portRange: PortRange,
  cmlVerdicts: Map<string, Map<string, boolean>>,
): { worker: WorkingCopy; score: number } | undefined {
  const required = session.cmlRequirements;
  let verdicts: Map<string, boolean> | undefined;
  if (required) {
    const key = JSON.stringify([required.minVersion ?? null, required.maxVersion ?? null, required.nodeDefinitions ?? []]);
    verdicts = cmlVerdicts.get(key);
    if (!verdicts) cmlVerdicts.set(key, (verdicts = new Map()));
  }
  const request = { ...capacityRequestOf(session), cmlRequirements: null };
  let best: WorkingCopy | undefined;
  let bestScore = 0;
  for (const w of workers) {
    if (required && verdicts) {
      let ok = verdicts.get(w.id);
      if (ok === undefined) verdicts.set(w.id, (ok = cmlRefusal(w, required) === undefined));
      if (!ok) continue;
    }
    if (!mayFit(w, session, portRange) || placementRefusal(w, request, portRange)) continue;
    const score = placementScore(w, session.capacity, held(w, portRange).capacity);
    if (!best || score > bestScore || (score === bestScore && w.id < best.id)) {
      best = w;
      bestScore = score;
    }
  }
  return best && { worker: best, score: bestScore };
}

/** How far ahead the template choice looks when sizing a new worker for a burst. */
const LOOKAHEAD = 256;

/** Decide one scheduling cycle. See the module comment. */
export function planScheduling(input: SchedulingInput): SchedulingPlan {
  const portRange = input.portRange ?? DEFAULT_PORT_RANGE;
  const now = input.now.getTime();
  const plan: SchedulingPlan = { placements: [], awaitingCapacity: [], scaleUp: [], unplaceable: [], notYetEligible: [], expired: [], nextWakeAt: undefined };

  const eligible: SessionDemand[] = [];
  for (const s of input.sessions) {
    if (s.timeslotEnd && s.timeslotEnd.getTime() <= now) {
      plan.expired.push({ sessionId: s.sessionId, reason: `timeslot ended at ${s.timeslotEnd.toISOString()} before the session could be placed` });
      continue;
    }
    const at = eligibleAt(s);
    if (at && at.getTime() > now) {
      plan.notYetEligible.push({ sessionId: s.sessionId, eligibleAt: at });
      if (!plan.nextWakeAt || at < plan.nextWakeAt) plan.nextWakeAt = at;
      continue;
    }
    eligible.push(s);
  }
  eligible.sort(placementOrder);

  // 1. Place on RUNNING workers, best score first, on a local copy.
  const running = input.workers.filter(acceptsSessions).map(copyWorker);
  const unplaced: SessionDemand[] = [];
  const cmlVerdicts = new Map<string, Map<string, boolean>>();
  for (const s of eligible) {
    const best = bestWorker(s, running, portRange, cmlVerdicts);
    if (!best) {
      unplaced.push(s);
      continue;
    }
    take({ worker: best.worker }, s, portRange);
    plan.placements.push({ sessionId: s.sessionId, workerId: best.worker.id, score: best.score });
  }
  if (unplaced.length === 0) return plan;

  // 2. First-fit onto the workers coming up, then onto new workers: in decreasing size (first-fit-
  // decreasing) and in placement order, keeping the packing that needs fewer new workers (then the
  // cheaper one). With several dimensions neither order always wins: sorting by CPU puts sessions of
  // one kind together and can fill a worker's memory with CPU to spare, while arrival order mixes
  // kinds; bench/scheduler measures both.
  const excludedBySession = new Map(unplaced.map((s) => [s.sessionId, cmlExcludedTemplates(s, input.workers)]));
  const pack = (order: SessionDemand[]) => packNewCapacity(order, input, running, excludedBySession, portRange);
  const decreasing = pack([...unplaced].sort(decreasingSize));
  const arrival = pack(unplaced);
  const cost = (p: Packing) => p.fresh.reduce((sum, b) => sum + (b.template?.costPerHour ?? 0), 0);
  const best = arrival.fresh.length < decreasing.fresh.length || (arrival.fresh.length === decreasing.fresh.length && cost(arrival) < cost(decreasing) - 1e-9) ? arrival : decreasing;
  plan.awaitingCapacity.push(...best.awaitingCapacity);
  plan.unplaceable.push(...best.unplaceable);
  const fresh = best.fresh;
  plan.scaleUp = fresh.map((b) => ({ templateName: b.worker.templateName, sessionIds: b.sessionIds }));
  return plan;
}

interface Packing {
  awaitingCapacity: SchedulingPlan['awaitingCapacity'];
  unplaceable: SchedulingPlan['unplaceable'];
  fresh: Array<Bin & { sessionIds: string[] }>;
}

/** First-fit of `order` onto the capacity coming up, then onto new workers from the templates. */
function packNewCapacity(
  order: SessionDemand[],
  input: SchedulingInput,
  running: WorkingCopy[],
  excludedBySession: Map<string, Set<string>>,
  portRange: PortRange,
): Packing {
  const out: Packing = { awaitingCapacity: [], unplaceable: [], fresh: [] };
  // Capacity coming: workers being provisioned, and RUNNING workers whose CML has not been observed
  // yet (a session with CML requirements waits for the observation rather than for a new worker).
  const coming: Bin[] = [
    ...input.workers.filter(comingUp).map((w) => ({ worker: copyWorker(w) })),
    ...running.filter((w) => w.cmlVersion === null).map((w) => ({ worker: copyWorker(w) })),
  ];
  const fresh = out.fresh;
  const templates = input.templates.filter((t) => t.enabled);
  for (let i = 0; i < order.length; i++) {
    const s = order[i] as SessionDemand;
    const excluded = excludedBySession.get(s.sessionId) ?? new Set<string>();
    const soon = coming.find((b) => binAccepts(b, s, excluded, portRange));
    if (soon) {
      take(soon, s, portRange);
      out.awaitingCapacity.push({ sessionId: s.sessionId, workerId: soon.worker.id });
      continue;
    }
    const opened = fresh.find((b) => binAccepts(b, s, excluded, portRange));
    if (opened) {
      take(opened, s, portRange);
      opened.sessionIds.push(s.sessionId);
      continue;
    }
    const fitting = templates.filter((t) => templateRefusal(t, s, excluded, portRange) === undefined);
    if (fitting.length === 0) {
      const why = input.templates.length === 0 ? 'there are no worker templates' : input.templates.map((t) => templateRefusal(t, s, excluded, portRange)).join('; ');
      out.unplaceable.push({ sessionId: s.sessionId, reason: `fits no enabled worker template: ${why}` });
      continue;
    }
    const ahead = order.slice(i, i + LOOKAHEAD);
    // The lowest cost per session it would hold; on a tie the one holding more (fewer workers to run),
    // then the cheaper, then by name.
    let choice: { template: TemplateOffer; perSession: number; n: number } | undefined;
    for (const t of fitting) {
      const n = Math.max(1, sessionsPerBin(t, ahead, excludedBySession, portRange));
      const perSession = t.costPerHour / n;
      const better =
        !choice ||
        perSession < choice.perSession - 1e-12 ||
        (Math.abs(perSession - choice.perSession) <= 1e-12 &&
          (n > choice.n || (n === choice.n && (t.costPerHour < choice.template.costPerHour || (t.costPerHour === choice.template.costPerHour && t.name < choice.template.name)))));
      if (better) choice = { template: t, perSession, n };
    }
    const template = (choice as { template: TemplateOffer }).template;
    const bin = { worker: newWorkerOf(template, fresh.length), template, sessionIds: [s.sessionId] };
    take(bin, s, portRange);
    fresh.push(bin);
  }
  return out;
}

/** What the scheduler would do with one session now, and why (the `placementPlan` dry run). */
export type PlacementDecision = 'PLACE' | 'WAIT_FOR_TIMESLOT' | 'WAIT_FOR_CAPACITY' | 'SCALE_UP' | 'UNPLACEABLE' | 'EXPIRED';

export interface PlacementExplanation {
  decision: PlacementDecision;
  summary: string;
  /** The chosen RUNNING worker (PLACE) or the worker coming up it waits for (WAIT_FOR_CAPACITY). */
  workerId: string | null;
  /** The template a new worker would be requested from (SCALE_UP). */
  templateName: string | null;
  eligibleAt: Date | null;
  /** Every worker's verdict, fitting ones first by score. */
  workers: WorkerVerdict[];
}

/**
 * The engine's decision for one session considered alone, with every worker's verdict. In a cycle the
 * scheduler places sessions in timeslot order, so sessions ahead of this one may take what it would
 * get here.
 */
export function explainPlacement(
  session: SessionDemand,
  workers: readonly SchedulingWorker[],
  templates: readonly TemplateOffer[],
  now: Date,
  portRange: PortRange = DEFAULT_PORT_RANGE,
): PlacementExplanation {
  const verdicts = rankWorkers(session, workers, portRange);
  const plan = planScheduling({ now, sessions: [session], workers, templates, portRange });
  const at = eligibleAt(session) ?? null;
  const base = { workers: verdicts, eligibleAt: at, workerId: null, templateName: null };
  const placed = plan.placements[0];
  if (plan.expired[0]) return { ...base, decision: 'EXPIRED', summary: plan.expired[0].reason };
  if (plan.notYetEligible[0]) {
    return { ...base, decision: 'WAIT_FOR_TIMESLOT', summary: `placed from ${plan.notYetEligible[0].eligibleAt.toISOString()} (${session.bootLeadTimeMinutes} min boot lead time before the timeslot)` };
  }
  if (placed) {
    return { ...base, decision: 'PLACE', workerId: placed.workerId, summary: `goes on worker ${placed.workerId} (score ${placed.score.toFixed(3)}, the fullest worker that fits)` };
  }
  const waiting = plan.awaitingCapacity[0];
  const rejected = verdicts.length === 0 ? 'no worker accepts sessions' : `no RUNNING worker fits (${verdicts.length} considered)`;
  if (waiting) {
    return { ...base, decision: 'WAIT_FOR_CAPACITY', workerId: waiting.workerId, summary: `${rejected}; waits for worker ${waiting.workerId}, being provisioned` };
  }
  const up = plan.scaleUp[0];
  if (up) return { ...base, decision: 'SCALE_UP', templateName: up.templateName, summary: `${rejected}; a new worker from template ${up.templateName} is requested` };
  const stuck = plan.unplaceable[0];
  return { ...base, decision: 'UNPLACEABLE', summary: `${rejected}; ${stuck?.reason ?? 'no template fits'}` };
}
