import type { FormattedExecutionResult } from 'graphql-ws';
import { LabletSessionStatus, values } from '../../core/domain/enums.ts';
import {
  CliCreateSessionDocument,
  CliSessionDocument,
  CliSessionsDocument,
  CliTerminateSessionDocument,
  CliTransitionSessionDocument,
  CliWatchSessionDocument,
  type CliSessionFragment,
  type CliWatchSessionSubscription,
  type CliWatchSessionSubscriptionVariables,
  type SessionFilter,
} from '../__generated__/operations.ts';
import type { OperatorClient } from './client.ts';
import { CliError, ExitCode, notFound, usage } from './errors.ts';
import { resolveDefinition } from './definitions.ts';
import { json, table, when, type Output } from './output.ts';
import { allPages } from './pages.ts';

type Session = CliSessionFragment;
const STATUSES = values(LabletSessionStatus) as string[];

/**
 * Statuses at which `lcm sessions watch` stops: the session's life is over. ARCHIVED (torn down and
 * archived; only an explicit terminate follows) and TERMINATED (final). EXPIRED and STOPPED are not:
 * the lablet-controller still tears the lab down and archives the session.
 */
export const WATCH_FINAL: ReadonlySet<string> = new Set([LabletSessionStatus.ARCHIVED, LabletSessionStatus.TERMINATED]);

export function parseStatus(value: string, what = 'status'): LabletSessionStatus {
  const s = value.trim().toUpperCase();
  if (!STATUSES.includes(s)) throw usage(`unknown ${what} "${value}"; one of: ${STATUSES.join(', ')}`);
  return s as LabletSessionStatus;
}

export function parseInstant(value: string, what: string): string {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t)) throw usage(`${what}: expected an ISO-8601 date-time like 2026-11-22T10:00:00Z, got "${value}"`);
  return new Date(t).toISOString();
}

export async function getSession(client: OperatorClient, id: string): Promise<Session> {
  const s = (await client.request(CliSessionDocument, { id })).session;
  if (!s) throw notFound(`session ${id} not found`);
  return s;
}

export async function createSession(
  client: OperatorClient,
  opts: { definition: string; owner: string; start?: string; end?: string },
  out: Output,
  asJson: boolean,
): Promise<void> {
  const start = opts.start !== undefined ? parseInstant(opts.start, '--start') : undefined;
  const end = opts.end !== undefined ? parseInstant(opts.end, '--end') : undefined;
  if (start && end && end <= start) throw usage('--end must be after --start');
  const definition = await resolveDefinition(client, opts.definition);
  const input = {
    definitionId: definition.id,
    owner: opts.owner,
    ...(start ? { timeslotStart: start } : {}),
    ...(end ? { timeslotEnd: end } : {}),
  };
  const s = (await client.request(CliCreateSessionDocument, { input })).createSession;
  await out.line(asJson ? json(s) : s.id);
}

export async function listSessions(client: OperatorClient, filter: SessionFilter, out: Output, asJson: boolean): Promise<void> {
  const sessions: Session[] = [];
  for await (const s of allPages((first, after) => client.request(CliSessionsDocument, { first, after, filter }).then((r) => r.sessions))) sessions.push(s);
  if (asJson) return out.line(json(sessions));
  await out.line(
    table(
      ['ID', 'STATUS', 'OWNER', 'DEFINITION', 'WORKER', 'TIMESLOT START', 'CREATED'],
      sessions.map((s) => [s.id, s.status, s.owner, `${s.definition.name}@${s.definition.version}`, s.worker?.name, when(s.timeslotStart), when(s.createdAt)]),
      'no sessions',
    ),
  );
}

export function describeSession(s: Session): string {
  const rows: Array<[string, string]> = [
    ['id', s.id],
    ['status', s.status],
    ['owner', s.owner],
    ['definition', `${s.definition.name}@${s.definition.version} (${s.definition.id})`],
    ['worker', s.worker ? `${s.worker.name} (${s.worker.id}${s.worker.ipAddress ? `, ${s.worker.ipAddress}` : ''})` : '-'],
    ['timeslot', `${when(s.timeslotStart)} – ${when(s.timeslotEnd)}`],
    ['ports', s.allocatedPorts.map((p) => `${p.name}=${p.port}`).join(', ') || '-'],
    ['cml lab', s.cmlLabId ?? '-'],
    ['login', s.userSession ? `${s.userSession.loginUrl ?? '-'} (${s.userSession.status})` : '-'],
    ['grading', s.gradingSession?.status ?? '-'],
    ['score', s.scoreReport ? `${s.scoreReport.score}/${s.scoreReport.maxScore}${s.scoreReport.passed === null ? '' : s.scoreReport.passed ? ' passed' : ' failed'}` : '-'],
    ['created', when(s.createdAt)],
    ['updated', when(s.updatedAt)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const history = table(
    ['AT', 'FROM', 'TO', 'ACTOR', 'REASON'],
    s.statusHistory.map((h) => [when(h.at), h.from, h.to, h.actor, h.reason]),
  );
  return [...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`), '', 'status history:', history.replace(/^/gm, '  ')].join('\n');
}

export async function showSession(client: OperatorClient, id: string, out: Output, asJson: boolean): Promise<void> {
  const s = await getSession(client, id);
  await out.line(asJson ? json(s) : describeSession(s));
}

export async function moveSession(
  client: OperatorClient,
  id: string,
  to: 'TERMINATED' | LabletSessionStatus,
  reason: string | undefined,
  terminate: boolean,
  out: Output,
  asJson: boolean,
): Promise<void> {
  const s = terminate
    ? (await client.request(CliTerminateSessionDocument, { id, reason: reason ?? null })).terminateSession
    : (await client.request(CliTransitionSessionDocument, { id, to, reason: reason ?? null })).transitionSession;
  await out.line(asJson ? json(s) : `${s.id} ${s.status}`);
}

/** One line for a state of a watched session: time, status and what is new about it. */
export function watchLine(s: Session): string {
  const last = s.statusHistory.at(-1);
  const parts = [when(s.updatedAt), s.status.padEnd(13)];
  if (s.worker) parts.push(`worker=${s.worker.name}`);
  if (s.userSession?.loginUrl) parts.push(`login=${s.userSession.loginUrl}`);
  if (s.gradingSession) parts.push(`grading=${s.gradingSession.status}`);
  if (s.scoreReport) parts.push(`score=${s.scoreReport.score}/${s.scoreReport.maxScore}`);
  if (last && last.to === s.status) {
    const by = last.actor ? `by ${last.actor}` : '';
    const why = last.reason ? `: ${last.reason}` : '';
    if (by || why) parts.push(`(${by}${why})`.replace('(: ', '('));
  }
  return parts.join('  ').trimEnd();
}

export interface WatchOptions {
  /**
   * Re-read the session this often while no event has been received yet (default 10 s): until then
   * there is no cursor to resume from, so a change made before the subscription was active would be
   * missed. Once an event arrived, the subscription resumes after its cursor instead.
   */
  resyncMs?: number;
}

/** What `lcm sessions watch` says on stderr when the server no longer holds the events it missed. */
export const HISTORY_EXPIRED_WARNING = 'warning: missed events: history expired; showing the current state';

/**
 * Follow a session live: its current state first, then one line per change from `sessionUpdated(ids:
 * [id])` until it reaches ARCHIVED or TERMINATED (WATCH_FINAL). Changes are ordered and deduplicated by
 * the session's revision.
 *
 * Nothing is missed across a reconnection: the watch keeps the cursor of the last event
 * (`extensions.cursor`) and, when the WebSocket comes back (graphql-ws reconnects by itself and sends
 * the subscription again), subscribes with `after: <cursor>`, so the gateway first replays every change
 * made meanwhile, in order. Reading the session instead would jump over them, so it is read only while
 * no cursor is known (the first moments of the watch). If the server no longer holds the events after
 * the cursor (SUBSCRIPTION_CURSOR_EXPIRED), the watch says so on stderr, prints the current state and
 * goes on from there.
 */
export async function watchSession(client: OperatorClient, id: string, out: Output, asJson: boolean, options: WatchOptions = {}): Promise<void> {
  let lastRevision = -1;
  let printing: Promise<void> = Promise.resolve();
  const show = (s: Session): Promise<void> => {
    printing = printing.then(async () => {
      if (s.id !== id || s.revision <= lastRevision) return;
      lastRevision = s.revision;
      await out.line(asJson ? JSON.stringify(s) : watchLine(s));
    });
    return printing;
  };

  const first = await getSession(client, id);
  await show(first);
  if (WATCH_FINAL.has(first.status)) return;

  await new Promise<void>((resolve, reject) => {
    let done = false;
    /** The cursor of the last event received: where a resubscription resumes. */
    let cursor: string | undefined;
    const timers = new Set<NodeJS.Timeout>();
    let unsubscribe: (() => void) | undefined;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      clearInterval(resync);
      unsubscribe?.();
      void ws.dispose();
      void printing.then(() => (error ? reject(error) : resolve()), reject);
    };
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };
    const consider = (s: Session) => {
      if (done) return;
      void show(s);
      if (WATCH_FINAL.has(s.status)) finish();
    };
    const reread = () => {
      if (done) return;
      getSession(client, id).then(consider, (e: unknown) => {
        // The gateway being away is expected while it restarts; a definite answer ends the watch.
        if (e instanceof CliError && e.exitCode !== ExitCode.OTHER) finish(e);
      });
    };
    const ws = client.wsClient({
      onConnected: (wasRetry) => {
        // With a cursor the (re)subscription resumes after it: the replay brings every change in order.
        if (cursor !== undefined) return;
        // Without one, changes between the read above (or the connection loss) and the subscription
        // being active would be missed: read again now and once more shortly after.
        if (wasRetry) reread();
        later(wasRetry ? 1_000 : 500, reread);
      },
      onFatal: (e) => finish(e),
    });
    // graphql-ws sends this same payload again on every reconnection (and a new subscription sends it
    // first): `variables` is a getter so each of those asks for the events after the latest cursor.
    const request = {
      query: client.subscriptionText(CliWatchSessionDocument),
      get variables(): CliWatchSessionSubscriptionVariables {
        return cursor === undefined ? { ids: [id] } : { ids: [id], after: cursor };
      },
    };
    const EXPIRED = 'SUBSCRIPTION_CURSOR_EXPIRED';
    const codeOf = (errors: unknown): string | undefined =>
      Array.isArray(errors) ? (errors[0] as { extensions?: { code?: unknown } } | undefined)?.extensions?.code?.toString() : undefined;
    const subscribe = () => {
      if (done) return;
      /** This subscription was replaced (its cursor expired): what it says next is not heard. */
      let replaced = false;
      const expired = () => {
        // The events after our cursor are gone: say so, show where the session is now, and follow it
        // from here (a fresh subscription, then a read to cover its first moments).
        replaced = true;
        out.note(HISTORY_EXPIRED_WARNING);
        cursor = undefined;
        subscribe();
        reread();
        later(500, reread);
      };
      unsubscribe = ws.subscribe<CliWatchSessionSubscription>(request, {
        next: (r: FormattedExecutionResult<CliWatchSessionSubscription>) => {
          if (done || replaced) return;
          // The gateway reports a refused cursor as an event with that error, then completes.
          if (codeOf(r.errors) === EXPIRED) return expired();
          const c = r.extensions?.['cursor'];
          if (typeof c === 'string') cursor = c;
          if (r.data?.sessionUpdated) consider(r.data.sessionUpdated);
        },
        error: (e: unknown) => {
          if (done || replaced) return;
          if (Array.isArray(e)) {
            if (codeOf(e) === EXPIRED) return expired();
            const g = e[0] as { message?: string; extensions?: { code?: string } } | undefined;
            finish(new CliError(`subscription refused: ${g?.message ?? 'error'} (${g?.extensions?.code ?? 'UNKNOWN'})`, ExitCode.OTHER));
          } else if (e instanceof Error) finish(new CliError(`watch failed: ${e.message}`, ExitCode.OTHER));
          // A CloseEvent: onFatal has reported it already.
        },
        complete: () => {
          // The server ended the stream (e.g. its upstream went away): subscribe again, after the
          // cursor when there is one (else read the session too).
          if (done || replaced) return;
          if (cursor === undefined) reread();
          later(500, subscribe);
        },
      });
    };
    const resync = setInterval(() => {
      if (cursor === undefined) reread();
    }, options.resyncMs ?? 10_000);
    subscribe();
  });
}
