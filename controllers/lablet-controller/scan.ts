/**
 * The teardown scan: finds the sessions whose teardown this controller still owes, from the durable
 * marker the system keeps of it — a reservation on a worker held by a session that is not open any
 * more (TERMINATED, ARCHIVED). The informer only watches open sessions and reconciles one once more
 * when it leaves them; a session that ended while no lablet-controller led (or before a new leader's
 * first list) is never announced to it. The scan lists who holds a reservation on each worker (workers
 * first), then the open sessions, and enqueues every holder that is not open: its reconcile tears the
 * lab down, finalizes the LDS session and ends with `releaseCapacity`, which removes the marker. A missed
 * moment therefore only delays a teardown until the next scan (every resync, at leadership start, and
 * on worker changes). Enqueueing a holder that needs nothing (a PENDING session's interrupted bind, a
 * session gone) is harmless: its reconcile reads it and does nothing.
 */
import { LabletSessionStatus as S, type LabletSessionStatus } from '../../core/domain/enums.ts';
import type { GraphQLClient } from '../../core/graphql/client.ts';
import { listAll } from '../kit/sources.ts';
import { LcReservationHoldersDocument, LcSessionIdsDocument } from './__generated__/operations.ts';

/** The key of the scan in the controller's queue (session ids never contain a colon). */
export const TEARDOWN_SCAN_KEY = 'scan:teardown';

/** Sessions that can still get somewhere on their own: the informer watches them (PENDING: the scheduler's). */
export const OPEN_STATUSES: readonly LabletSessionStatus[] = Object.values(S).filter((s) => s !== S.ARCHIVED && s !== S.TERMINATED);

const PAGE = 500;

/** Holders of reservations that are not open sessions, each once, in the order the workers list them. */
export function endedHolders(holders: readonly string[], open: ReadonlySet<string>): string[] {
  return [...new Set(holders)].filter((id) => !open.has(id));
}

/** One scan: the sessions (ids) whose reservation marks a teardown that is not finished. */
export async function scanForTeardowns(client: GraphQLClient): Promise<string[]> {
  // Workers first: a holder that is not open in the later list has ended (a session never reopens).
  const holders = await listAll(async (after) => {
    const d = await client.request(LcReservationHoldersDocument, { first: PAGE, ...(after ? { after } : {}) });
    return {
      nodes: d.workers.edges.flatMap((e) => e.node.reservations.map((r) => r.sessionId)),
      hasNextPage: d.workers.pageInfo.hasNextPage,
      endCursor: d.workers.pageInfo.endCursor,
    };
  });
  if (holders.length === 0) return [];
  const open = await listAll(async (after) => {
    const d = await client.request(LcSessionIdsDocument, { first: PAGE, statuses: [...OPEN_STATUSES], ...(after ? { after } : {}) });
    return { nodes: d.sessions.edges.map((e) => e.node.id), hasNextPage: d.sessions.pageInfo.hasNextPage, endCursor: d.sessions.pageInfo.endCursor };
  });
  return endedHolders(holders, new Set(open));
}
