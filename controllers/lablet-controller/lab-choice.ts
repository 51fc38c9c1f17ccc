/**
 * Which lab on a worker a session takes (lab reuse), reading CML as little as possible. Choosing used
 * to fetch in full every lab on the worker that no session holds (wiped labs of every definition,
 * labs being imported), one session at a time per worker, each time.
 *
 * What makes it cheap: a lab's markers (`lcm-definition=… lcm-session=…` in its description, see
 * lab.ts) are written once, at import, so they are remembered by lab id: a lab is fetched the first
 * time it is seen (not even then when this process imported it), and after that only when it could
 * be taken (same definition, not held), its state (wiped or not) read fresh. A lab no longer listed
 * is forgotten.
 */
import { CmlApiError, type CmlClient } from '../../core/clients/cml/index.ts';
import { parseLabMarkers, type LabMarkers } from './lab.ts';

export interface LabChoiceRequest {
  sessionId: string;
  definitionId: string;
  /** Labs that sessions holding a lab on the worker have recorded (never taken). */
  held: ReadonlySet<string>;
  /**
   * Sessions importing a lab right now (in this process, not recorded yet): a lab marked with one of
   * them is theirs even though no session records it yet, so it is never reused.
   */
  importing: ReadonlySet<string>;
}

export type LabChoice = { labId: string; how: 'mine' | 'reused' } | undefined;

/** The labs one process has seen on its workers: lab markers by worker and lab id. */
export class LabDirectory {
  private readonly workers = new Map<string, Map<string, LabMarkers | null>>();

  /**
   * The lab this session imported before (found by its marker, e.g. after a restart between import
   * and record), else a wiped lab (DEFINED_ON_CORE) of its definition that no session holds, else
   * undefined (import a fresh one). The caller serialises choices per worker and records the choice
   * before the next one is made.
   */
  async choose(worker: string, cml: CmlClient, request: LabChoiceRequest, signal?: AbortSignal): Promise<LabChoice> {
    const ids = await cml.listLabs(signal);
    const known = this.known(worker, ids);
    const states = new Map<string, string>();
    const fetch = async (labId: string): Promise<boolean> => {
      try {
        const lab = await cml.getLab(labId, signal);
        known.set(labId, parseLabMarkers(lab.lab_description) ?? null);
        states.set(labId, lab.state);
        return true;
      } catch (e) {
        if (!(e instanceof CmlApiError && e.isNotFound)) throw e;
        known.delete(labId);
        return false;
      }
    };
    const free = ids.filter((id) => !request.held.has(id));
    for (const labId of free) if (!known.has(labId)) await fetch(labId);
    const markersOf = (labId: string) => known.get(labId) ?? undefined;
    const mine = free.find((labId) => markersOf(labId)?.sessionId === request.sessionId);
    if (mine) return { labId: mine, how: 'mine' };
    for (const labId of free) {
      const m = markersOf(labId);
      if (m?.definitionId !== request.definitionId || request.importing.has(m.sessionId)) continue;
      if (!states.has(labId) && !(await fetch(labId))) continue;
      if (states.get(labId) === 'DEFINED_ON_CORE') return { labId, how: 'reused' };
    }
    return undefined;
  }

  /** A lab this process imported: its markers are known, no need to fetch it to learn them. */
  remember(worker: string, labId: string, markers: LabMarkers): void {
    this.markersOf(worker).set(labId, markers);
  }

  private markersOf(worker: string): Map<string, LabMarkers | null> {
    let known = this.workers.get(worker);
    if (!known) {
      known = new Map();
      this.workers.set(worker, known);
    }
    return known;
  }

  /** This worker's remembered markers, forgetting labs no longer listed. */
  private known(worker: string, listed: readonly string[]): Map<string, LabMarkers | null> {
    const known = this.markersOf(worker);
    const present = new Set(listed);
    for (const labId of known.keys()) if (!present.has(labId)) known.delete(labId);
    return known;
  }
}
