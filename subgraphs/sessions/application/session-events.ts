import type { LabletSessionStatus } from '../../../core/domain/enums.ts';
import { CoordinationKeys } from '../../../core/ports/coordination.ts';
import type { Projection } from '../../../core/subgraph/change-publisher.ts';
import type { Session } from '../domain/model.ts';

/** CloudEvent types the sessions subgraph publishes on the `session` topic (the original system's `lablet_session.<status>.v1`). */
export const SessionEventType = {
  created: 'lcm.session.created.v1',
  updated: 'lcm.session.updated.v1',
  /** A status change: `lcm.session.<status in lower case>.v1`. */
  transitioned: (status: LabletSessionStatus) => `lcm.session.${status.toLowerCase()}.v1`,
} as const;

/** What the controllers (and the score-reports subgraph) read under `/lcm/sessions/<id>/status`. */
export interface SessionStatusProjection {
  status: LabletSessionStatus;
  revision: number;
  workerId: string | null;
  definitionId: string;
  timeslotStart: Date | null;
  timeslotEnd: Date | null;
}

/** The coordination-store keys written after every saved change of a session. */
export function sessionProjections(session: Session): Projection[] {
  const status: SessionStatusProjection = {
    status: session.status,
    revision: session.revision,
    workerId: session.workerId,
    definitionId: session.definitionId,
    timeslotStart: session.timeslotStart,
    timeslotEnd: session.timeslotEnd,
  };
  return [{ key: CoordinationKeys.sessionStatus(session.id), value: status }];
}
