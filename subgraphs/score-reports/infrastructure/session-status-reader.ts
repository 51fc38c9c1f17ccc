import type { LabletSessionStatus } from '../../../core/domain/enums.ts';
import { CoordinationKeys, type CoordinationStore } from '../../../core/ports/coordination.ts';

/** What the score-reports subgraph may know of a session: the status projection the sessions subgraph publishes. */
export interface SessionStatusView {
  status: LabletSessionStatus;
  definitionId: string;
}

export interface SessionStatusReader {
  /** The session's current status, or undefined when no session of that id is known. */
  get(sessionId: string): Promise<SessionStatusView | undefined>;
}

/**
 * Reads `/lcm/sessions/<id>/status`, which the sessions subgraph writes after every saved change
 * (before its mutation answers): the published read model, not the sessions subgraph's collection.
 * Without a coordination store (a lone `lcm subgraph score-reports` without etcd) no session is known.
 */
export class CoordinationSessionStatusReader implements SessionStatusReader {
  constructor(private readonly store: CoordinationStore | undefined) {}

  async get(sessionId: string): Promise<SessionStatusView | undefined> {
    const kv = await this.store?.get(CoordinationKeys.sessionStatus(sessionId));
    if (!kv) return undefined;
    try {
      const p = JSON.parse(kv.value) as Partial<SessionStatusView>;
      return typeof p.status === 'string' && typeof p.definitionId === 'string' ? { status: p.status, definitionId: p.definitionId } : undefined;
    } catch {
      return undefined;
    }
  }
}
