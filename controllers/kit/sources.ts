/**
 * Informer sources the three controllers share (DESIGN.md §4): the authoritative list comes through
 * GraphQL on /internal/graphql, the wake-ups from the status projections the subgraphs write to the
 * coordination store (`/lcm/sessions/<id>/status`, `/lcm/workers/<id>/status`). The cached object is
 * a summary: enough to route a change to the right key; every reconcile reads the current state.
 */
import type { LabletSessionStatus, WorkerStatus } from '../../core/domain/enums.ts';
import type { GraphQLClient } from '../../core/graphql/client.ts';
import { CoordinationKeys, type CoordinationStore, type WatchEvent } from '../../core/ports/coordination.ts';
import type { InformerSource } from '../../core/runtime/index.ts';
import { KitListSessionsDocument, KitListWorkersDocument } from './__generated__/operations.ts';

export interface SessionSummary {
  id: string;
  status: LabletSessionStatus;
  revision: number;
  workerId: string | null;
  timeslotStart: string | null;
  timeslotEnd: string | null;
}

export interface WorkerSummary {
  id: string;
  status: WorkerStatus;
  desiredStatus: WorkerStatus;
  revision: number;
}

const PAGE = 500;

/** Every page of a connection, in order. */
export async function listAll<N>(fetchPage: (after: string | undefined) => Promise<{ nodes: N[]; hasNextPage: boolean; endCursor: string | null | undefined }>): Promise<N[]> {
  const out: N[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await fetchPage(after);
    out.push(...page.nodes);
    if (!page.hasNextPage || !page.endCursor) return out;
    after = page.endCursor;
  }
}

const toIso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString());

/** The id in `/lcm/<kind>/<id>/status`, or undefined for any other key under the prefix. */
function statusKeyId(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix) || !key.endsWith('/status')) return undefined;
  const id = key.slice(prefix.length, -'/status'.length);
  return id && !id.includes('/') ? id : undefined;
}

function parseJson(value: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(value);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sessions in `statuses` (all when absent). A session that leaves those statuses drops out of the
 * cache (reported as a delete, with its new state as `left`), so its key is reconciled once more and
 * then forgotten. A change of a session outside the statuses is reported the same way (a delete of
 * a session the informer never held): a controller that only cares about its set ignores those
 * (see `ObjectChange`).
 */
export function sessionSource(client: GraphQLClient, statuses?: readonly LabletSessionStatus[]): InformerSource<SessionSummary> {
  const wanted = statuses ? new Set(statuses) : undefined;
  return {
    name: statuses ? `sessions(${statuses.join(',')})` : 'sessions',
    prefix: CoordinationKeys.sessions,
    keyOf: (s) => s.id,
    versionOf: (s) => s.revision,
    list: () =>
      listAll(async (after) => {
        const d = await client.request(KitListSessionsDocument, {
          first: PAGE,
          ...(after ? { after } : {}),
          ...(statuses ? { filter: { statuses: [...statuses] } } : {}),
        });
        return {
          nodes: d.sessions.edges.map(({ node: n }) => ({
            id: n.id,
            status: n.status,
            revision: n.revision,
            workerId: n.worker?.id ?? null,
            timeslotStart: toIso(n.timeslotStart),
            timeslotEnd: toIso(n.timeslotEnd),
          })),
          hasNextPage: d.sessions.pageInfo.hasNextPage,
          endCursor: d.sessions.pageInfo.endCursor,
        };
      }),
    decode(event: WatchEvent) {
      const id = statusKeyId(CoordinationKeys.sessions, event.key);
      if (!id) return undefined;
      if (event.type === 'delete') return { key: id, object: null };
      const p = parseJson(event.kv.value);
      if (!p || typeof p.status !== 'string' || typeof p.revision !== 'number') return undefined;
      const summary: SessionSummary = {
        id,
        status: p.status as LabletSessionStatus,
        revision: p.revision,
        workerId: typeof p.workerId === 'string' ? p.workerId : null,
        timeslotStart: toIso(p.timeslotStart),
        timeslotEnd: toIso(p.timeslotEnd),
      };
      return wanted && !wanted.has(summary.status) ? { key: id, object: null, left: summary } : { key: id, object: summary };
    },
  };
}

/** Workers in `statuses` (all when absent); as for sessions, one leaving them drops out of the cache (`left`: its new state). */
export function workerSource(client: GraphQLClient, statuses?: readonly WorkerStatus[]): InformerSource<WorkerSummary> {
  const wanted = statuses ? new Set(statuses) : undefined;
  return {
    name: statuses ? `workers(${statuses.join(',')})` : 'workers',
    prefix: CoordinationKeys.workers,
    keyOf: (w) => w.id,
    versionOf: (w) => w.revision,
    list: () =>
      listAll(async (after) => {
        const d = await client.request(KitListWorkersDocument, {
          first: PAGE,
          ...(after ? { after } : {}),
          ...(statuses ? { filter: { statuses: [...statuses] } } : {}),
        });
        return {
          nodes: d.workers.edges.map(({ node: n }) => ({ id: n.id, status: n.status, desiredStatus: n.desiredStatus, revision: n.revision })),
          hasNextPage: d.workers.pageInfo.hasNextPage,
          endCursor: d.workers.pageInfo.endCursor,
        };
      }),
    decode(event: WatchEvent) {
      const id = statusKeyId(CoordinationKeys.workers, event.key);
      if (!id) return undefined;
      if (event.type === 'delete') return { key: id, object: null };
      const p = parseJson(event.kv.value);
      if (!p || typeof p.status !== 'string' || typeof p.revision !== 'number') return undefined;
      const summary: WorkerSummary = {
        id,
        status: p.status as WorkerStatus,
        desiredStatus: (typeof p.desiredStatus === 'string' ? p.desiredStatus : p.status) as WorkerStatus,
        revision: p.revision,
      };
      return wanted && !wanted.has(summary.status) ? { key: id, object: null, left: summary } : { key: id, object: summary };
    },
  };
}

const STATUS_PREFIXES: ReadonlySet<string> = new Set([CoordinationKeys.sessions, CoordinationKeys.workers]);

/**
 * The store as the controllers see it with LCM_CONTROLLER_WATCH=false: watches on the session and
 * worker prefixes stay open (and report connected) but deliver no change, so a controller learns of
 * one only when it re-lists (LCM_CONTROLLER_RESYNC_SECONDS) or a requeue of its own comes due: the
 * original system's polling, kept so that the difference can be measured (bench/control-loop).
 * A compaction reset still re-lists; leases, elections and every other prefix are untouched.
 */
export function withoutWatchWakeups(store: CoordinationStore): CoordinationStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'watchPrefix') {
        const watchPrefix: CoordinationStore['watchPrefix'] = (prefix, handlers, options) =>
          target.watchPrefix(prefix, STATUS_PREFIXES.has(prefix) ? { ...handlers, onEvent: () => {} } : handlers, options);
        return watchPrefix;
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
