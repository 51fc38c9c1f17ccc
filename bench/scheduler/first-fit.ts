/**
 * The baseline the scheduler benchmark compares the engine with: first-fit. Sessions in arrival
 * order (`createdAt`, then id); each goes on the first worker, in the fleet's order, that the same
 * filter accepts (`placementRefusal` with the CML requirements: status, licence, CML version and node
 * definitions, PERSONAL hosts one session, capacity, ports), with no scoring; the reservation is
 * recorded on a copy of the worker before the next session, ports lowest free first, as the engine
 * and the workers subgraph hand them out. For scale-up, first-fit opens a new worker of the template
 * when no worker opened so far takes the session.
 */
import { placementRefusal, type PlacementWorker } from '../../core/domain/placement.ts';
import { WorkerStatus } from '../../core/domain/enums.ts';
import type { Placement, SchedulingWorker, SessionDemand, TemplateOffer } from '../../core/domain/scheduling.ts';
import { DEFAULT_PORT_RANGE, heldPorts, lowestFreePorts, type PortRange } from '../../core/domain/tcp-ports.ts';

type Reservation = PlacementWorker['reservations'][number];
export type WorkerCopy = Omit<SchedulingWorker, 'reservations'> & { reservations: Reservation[] };

export interface FirstFitResult {
  placements: Placement[];
  /** Sessions no worker takes. */
  unplaced: string[];
  /** The workers after the placements (copies; the input is not changed). */
  workers: WorkerCopy[];
}

export const arrivalOrder = (a: SessionDemand, b: SessionDemand): number =>
  (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0);

/** Record `session` on `worker` with the lowest free ports. */
export function reserve(worker: WorkerCopy, session: SessionDemand, portRange: PortRange): void {
  const ports = lowestFreePorts(heldPorts(worker), session.portNames.length, portRange) ?? [];
  worker.reservations.push({ sessionId: session.sessionId, capacity: session.capacity, ports: session.portNames.map((name, i) => ({ name, port: ports[i] ?? 0 })) });
}

const request = (s: SessionDemand) => ({ sessionId: s.sessionId, capacity: s.capacity, portNames: s.portNames, licenseAffinity: s.licenseAffinity, cmlRequirements: s.cmlRequirements });

/** First-fit onto the given workers. */
export function firstFit(sessions: readonly SessionDemand[], workers: readonly SchedulingWorker[], portRange: PortRange = DEFAULT_PORT_RANGE): FirstFitResult {
  const copies: WorkerCopy[] = workers.map((w) => ({ ...w, reservations: [...w.reservations] }));
  const result: FirstFitResult = { placements: [], unplaced: [], workers: copies };
  for (const s of [...sessions].sort(arrivalOrder)) {
    const req = request(s);
    const worker = copies.find((w) => placementRefusal(w, req, portRange) === undefined);
    if (!worker) {
      result.unplaced.push(s.sessionId);
      continue;
    }
    reserve(worker, s, portRange);
    result.placements.push({ sessionId: s.sessionId, workerId: worker.id, score: 0 });
  }
  return result;
}

/**
 * First-fit scale-up from no workers: each session goes on the first new worker (of `template`) that
 * takes it, else on a new one. A worker not yet running has reported no CML version, so, as the
 * engine does for capacity coming up, the template is trusted for the CML requirements.
 * Returns the new workers with their sessions; sessions the template cannot hold even alone are
 * `unplaced`.
 */
export function firstFitScaleUp(sessions: readonly SessionDemand[], template: TemplateOffer, portRange: PortRange = DEFAULT_PORT_RANGE): FirstFitResult {
  const opened: WorkerCopy[] = [];
  const result: FirstFitResult = { placements: [], unplaced: [], workers: opened };
  const fresh = (i: number): WorkerCopy => ({
    id: `new-${i}`,
    templateName: template.name,
    status: WorkerStatus.RUNNING,
    desiredStatus: WorkerStatus.RUNNING,
    licenseType: template.licenseType,
    cmlVersion: null,
    nodeDefinitions: [],
    declaredCapacity: { ...template.capacity },
    reservations: [],
  });
  for (const s of [...sessions].sort(arrivalOrder)) {
    const req = { ...request(s), cmlRequirements: null };
    let worker = opened.find((w) => placementRefusal(w, req, portRange) === undefined);
    if (!worker) {
      const candidate = fresh(opened.length);
      if (placementRefusal(candidate, req, portRange) !== undefined) {
        result.unplaced.push(s.sessionId);
        continue;
      }
      opened.push((worker = candidate));
    }
    reserve(worker, s, portRange);
    result.placements.push({ sessionId: s.sessionId, workerId: worker.id, score: 0 });
  }
  return result;
}
