/**
 * External faults under the chaos run's load (issue 12): the outside world misbehaving while sessions
 * flow — EC2 throttling, internal errors, insufficient capacity and an instance lost; CML answering 502
 * while it "warms up", expiring every token, and labs whose nodes never boot; LDS and grading events
 * sent twice, out of order, or lost. Each fault is a `Disruption` of the chaos loop (test/chaos/chaos.ts)
 * that arms the fault in the simulator over its `POST /_sim/faults` and, for those that last, clears it
 * a few seconds later. The run then checks the chaos invariants (every session ARCHIVED, or TERMINATED
 * with a reason; no port clash, capacity leak or duplicate instance) plus three of its own:
 *
 *   backwards        no session went through a status twice (a duplicated or late event moved nothing
 *                    back; the subgraph refuses what the transition table forbids, this catches a
 *                    table that would allow it)
 *   reports          at most one score report per session (a duplicated grading event applied once)
 *   reasons          every TERMINATED session says why
 *   unexplained      a TERMINATED session's reason is one of the faults that may end a session: its lab
 *                    never booted (`cml-never-boot`) or its worker's instance was lost (`ec2-instance-lost`:
 *                    the worker-controller's "lost", or a CML step that could no longer connect to it).
 *                    Throttling, 5xx, expired tokens and events duplicated, reordered or lost must
 *                    cost no session: they are retried, re-logged in, deduplicated or polled for.
 *
 * and counts, per fault, how often it was armed, what the simulator says it did (calls refused, events
 * duplicated/held/dropped), and the outcome of the sessions alive while it was armed.
 *
 * The LDS simulator plays the student by itself here (start after `autoStartMs`, finish after
 * `autoFinishMs`), so LDS events move the sessions; the chaos driver's manual moves still run beside it
 * (whichever comes first wins; the other is refused or ignored), and the report says how many sessions
 * LDS moved.
 */
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from './cluster.ts';
import { formatReport, runChaos, type ChaosReport, type Disruption } from './chaos.ts';

/** In the order their first rounds come: one simulator's event faults far apart, so their windows do not overlap. */
export const FAULTS = [
  'ec2-insufficient-capacity',
  'lds-duplicate',
  'grading-duplicate',
  'ec2-throttle',
  'cml-5xx',
  'lds-reorder',
  'grading-reorder',
  'ec2-internal-error',
  'cml-expired-tokens',
  'lds-drop',
  'grading-drop',
  'ec2-instance-lost',
  'cml-never-boot',
] as const;
export type FaultName = (typeof FAULTS)[number];

export interface ExternalOptions {
  sessions: number;
  chaosSeconds: number;
  /** kill -9 of a random LCM process every N ms beside the faults; 0 = none. */
  killEveryMs: number;
  settleSeconds: number;
  graceSeconds?: number;
  /** The lablet-controller's boot timeout (`cml-never-boot` sessions end after it). */
  bootTimeoutSeconds: number;
  /** Which faults to arm (default all). */
  faults?: readonly FaultName[];
  /** Pause between two rounds of one fault (each fault's first round is staggered within it). */
  everyMs: number;
  /** How long a lasting fault (throttling, 5xx, never boot) stays armed in one round. */
  holdMs: number;
  /**
   * One more session every this many ms while the chaos lasts (default 5000; 0: none), so that a fault
   * armed late still finds sessions in flight: on a quiet machine the first ones all end within a
   * minute, and a CI run on one left `ec2-instance-lost` with no worker to take.
   */
  trickleEveryMs?: number;
}

interface Window {
  from: number;
  to: number;
}

export interface FaultFigures {
  /** Rounds in which the fault was armed. */
  armed: number;
  /** What the simulator reports it did (calls refused, events duplicated…), when it says. */
  effect: string;
  /** Sessions alive at some moment while the fault was armed, by final status. */
  sessionsExposed: Record<string, number>;
  /** `ec2-instance-lost`: the sessions live on the lost worker, by final status. */
  victims?: Record<string, number>;
}

export interface ExternalReport {
  chaos: ChaosReport;
  faults: Partial<Record<FaultName, FaultFigures>>;
  /** Sessions LDS moved (READY → RUNNING or RUNNING → COLLECTING by an LDS event or its poll). */
  movedByLds: number;
  /** TERMINATED sessions by the fault their reason names. */
  terminatedBy: Record<string, number>;
  findings: { backwards: string[]; reports: string[]; reasons: string[]; unexplained: string[] };
  runDir: string;
}

interface SessionRow {
  id: string;
  status: string;
  createdAt: string;
  statusHistory: Array<{ from: string | null; to: string; reason: string | null; at: string }>;
  scoreReport: { id: string } | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}
async function get<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return (await res.json()) as T;
}

interface Ec2Instance {
  instanceId: string;
  state: string;
  privateIp: string;
  tags: Record<string, string>;
}
const ec2Instances = async (c: Cluster) => (await get<{ instances: Ec2Instance[] }>(`${c.ec2Url}/_sim/state`)).instances;
const running = async (c: Cluster) => (await ec2Instances(c)).filter((i) => i.state === 'running' && i.tags['lcm:worker-id']);

/** Every running worker's CML simulator, at the instance's address on the cluster's CML port. */
async function cmlUrls(c: Cluster): Promise<string[]> {
  const port = new URL(c.cmlUrl).port;
  return (await running(c)).map((i) => `http://${i.privateIp}:${port}`);
}
async function armCml(c: Cluster, body: unknown): Promise<number> {
  const urls = await cmlUrls(c);
  const done = await Promise.allSettled(urls.map((u) => post(`${u}/_sim/faults`, body)));
  return done.filter((d) => d.status === 'fulfilled').length;
}

/** The lab's node labels (examples/labs/two-routers.yaml). */
const NODE_LABELS = ['r1', 'r2'];

interface Tally {
  windows: Window[];
  effects: string[];
  /** Sessions the fault hit directly (the lost worker's). */
  victims: string[];
}

/** The disruption of one fault; `tally` records when it was armed and what the simulator said. */
function disruption(name: FaultName, o: ExternalOptions, offsetMs: number, tally: Tally): Disruption {
  let first = true;
  const window = async (arm: () => Promise<string>, clear?: () => Promise<void>): Promise<string> => {
    const from = Date.now();
    const said = await arm();
    if (clear) {
      await sleep(o.holdMs);
      await clear().catch(() => undefined);
    }
    tally.windows.push({ from, to: clear ? Date.now() : from + o.holdMs });
    tally.effects.push(said);
    return said;
  };
  const ec2 = (c: Cluster, body: unknown) => post(`${c.ec2Url}/_sim/faults`, body);
  // Every event emitted during the window (the counts are read from the simulator at the end).
  const eventFault = (sim: 'lds' | 'grading', fault: 'duplicate' | 'reorder' | 'drop'): Disruption['act'] => async (c) => {
    const url = `${sim === 'lds' ? c.ldsUrl : c.gradingUrl}/_sim/faults`;
    return window(
      async () => (await post(url, { [fault]: true }), `${sim} ${fault}: every event for ${o.holdMs} ms`),
      async () => void (await post(url, { [fault]: false })),
    );
  };
  const acts: Record<FaultName, Disruption['act']> = {
    'ec2-throttle': (c) => window(async () => (await ec2(c, { throttle: { count: 8 } }), 'EC2 RequestLimitExceeded for the next 8 calls')),
    'ec2-internal-error': (c) => window(async () => (await ec2(c, { internalError: { count: 4 } }), 'EC2 InternalError for the next 4 calls')),
    'ec2-insufficient-capacity': (c) =>
      // One instance type, 8 answers: more than the SDK's 4 attempts of one call (concurrent launches
      // of several types would otherwise absorb them in the SDK's retries), so the worker-controller
      // itself sees the error and launches another type.
      window(
        async () => (
          await ec2(c, { insufficientCapacity: { count: 8, instanceTypes: ['t3.medium'] } }), 'EC2 InsufficientInstanceCapacity for the next 8 RunInstances of t3.medium'
        ),
      ),
    'ec2-instance-lost': async (c) => {
      if (!first) return 'once per run: already done';
      // The worker with the fewest live sessions, but at least one: the fault costs a few sessions.
      const live = new Map<string, string[]>();
      for (const s of await sessionsOf(c)) {
        if (!['ARCHIVED', 'TERMINATED', 'PENDING'].includes(s.status)) live.set(s.workerId ?? '', [...(live.get(s.workerId ?? '') ?? []), s.id]);
      }
      const candidates = (await running(c))
        .map((i) => ({ i, ids: live.get(i.tags['lcm:worker-id'] ?? '') ?? [], n: live.get(i.tags['lcm:worker-id'] ?? '')?.length ?? 0 }))
        .filter((x) => x.n > 0)
        .sort((a, b) => a.n - b.n);
      const victim = candidates[0];
      if (!victim) return 'no running worker with a live session yet';
      first = false;
      tally.victims.push(...victim.ids);
      return window(async () => {
        await post(`${c.ec2Url}/_sim/instances/${victim.i.instanceId}/interrupt`, {});
        return `instance ${victim.i.instanceId} (worker ${victim.i.tags['lcm:worker-id']}, ${victim.n} live sessions) interrupted`;
      });
    },
    // Bounded in time too: a request-only warm-up never ends on a CML still STARTING, whose only
    // client polls /system_information (not counted) until it is ready.
    'cml-5xx': (c) => window(async () => `CML 502 for the next 6 requests (at most 5 s) on ${await armCml(c, { warmUp: { requests: 6, ms: 5000 } })} workers`),
    'cml-expired-tokens': (c) => window(async () => `every CML token expired on ${await armCml(c, { expireTokens: true })} workers`),
    'cml-never-boot': (c) =>
      window(
        async () => `nodes ${NODE_LABELS.join(', ')} never boot on ${await armCml(c, { neverBoot: { labels: NODE_LABELS } })} workers`,
        async () => void (await armCml(c, { neverBoot: null })),
      ),
    'lds-duplicate': eventFault('lds', 'duplicate'),
    'lds-reorder': eventFault('lds', 'reorder'),
    'lds-drop': eventFault('lds', 'drop'),
    'grading-duplicate': eventFault('grading', 'duplicate'),
    'grading-reorder': eventFault('grading', 'reorder'),
    'grading-drop': eventFault('grading', 'drop'),
  };
  let slept = false;
  return {
    name,
    // The first round waits `offsetMs` (staggered), the next ones `everyMs`.
    get everyMs() {
      if (slept) return o.everyMs;
      slept = true;
      return offsetMs;
    },
    act: acts[name],
    async heal(c) {
      // Counted faults may be left unused: take them all back.
      if (name.startsWith('lds-') || name.startsWith('grading-')) {
        const [sim, fault] = name.split('-') as ['lds' | 'grading', string];
        await post(`${sim === 'lds' ? c.ldsUrl : c.gradingUrl}/_sim/faults`, { [fault]: false }).catch(() => undefined);
      }
      if (name === 'cml-never-boot') await armCml(c, { neverBoot: null }).catch(() => undefined);
      // EC2's counted faults left unused (DELETE clears them all; every chaos loop has ended by now).
      const kind = ({ 'ec2-throttle': 'throttle', 'ec2-internal-error': 'internalError', 'ec2-insufficient-capacity': 'insufficientCapacity' } as Record<string, string>)[name];
      if (kind) {
        const left = await get<Record<string, Array<{ remaining?: number }>>>(`${c.ec2Url}/_sim/faults`).catch(() => undefined);
        if (left) tally.effects.push(`left unused when the chaos ended: ${(left[kind] ?? []).reduce((n, r) => n + (r.remaining ?? 0), 0)}`);
      }
      if (name.startsWith('ec2-')) await fetch(`${c.ec2Url}/_sim/faults`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    },
  };
}

/** Creates one session per round (see `ExternalOptions.trickleEveryMs`). */
function trickle(everyMs: number): Disruption {
  let definitionId: string | undefined;
  let n = 0;
  const gql = async <T>(c: Cluster, query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await fetch(`${c.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(20_000),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown };
    if (!body.data) throw new Error(JSON.stringify(body.errors).slice(0, 300));
    return body.data;
  };
  return {
    name: 'new-session',
    everyMs,
    async act(c) {
      definitionId ??= (await gql<{ definitions: { edges: Array<{ node: { id: string } }> } }>(c, '{ definitions(first: 1) { edges { node { id } } } }')).definitions.edges[0]?.node.id;
      if (!definitionId) return 'no definition yet';
      const input = { definitionId, owner: `external-trickle-${n++}` };
      const created = await gql<{ createSession: { id: string } }>(c, 'mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }', { input });
      return `session ${created.createSession.id} created`;
    },
  };
}

async function sessionsOf(c: Cluster): Promise<Array<{ id: string; status: string; workerId: string | null }>> {
  const rows = await gqlAll<{ id: string; status: string; worker: { id: string } | null }>(c, 'sessions', 'id status worker { id }');
  return rows.map((r) => ({ id: r.id, status: r.status, workerId: r.worker?.id ?? null }));
}

async function gqlAll<T>(c: Cluster, field: 'sessions' | 'scoreReports', selection: string): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  for (;;) {
    const res = await fetch(`${c.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` },
      body: JSON.stringify({ query: `query($after: String) { ${field}(first: 100, after: $after) { edges { node { ${selection} } } pageInfo { hasNextPage endCursor } } }`, variables: { after } }),
      signal: AbortSignal.timeout(20_000),
    });
    const body = (await res.json()) as { data?: Record<string, { edges: Array<{ node: T }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>; errors?: unknown };
    const conn = body.data?.[field];
    if (!conn) throw new Error(`${field}: ${JSON.stringify(body.errors).slice(0, 300)}`);
    out.push(...conn.edges.map((e) => e.node));
    if (!conn.pageInfo.hasNextPage) return out;
    after = conn.pageInfo.endCursor;
  }
}

/** What each simulator says its faults did (read at the end). */
async function effects(c: Cluster): Promise<Partial<Record<FaultName, string>>> {
  const out: Partial<Record<FaultName, string>> = {};
  for (const sim of ['lds', 'grading'] as const) {
    const state = await get<{ delivery: { stats: Record<string, number>; held: number } }>(`${sim === 'lds' ? c.ldsUrl : c.gradingUrl}/_sim/state`).catch(() => undefined);
    if (!state) continue;
    const st = state.delivery.stats;
    out[`${sim}-duplicate`] = `${st.duplicated} events sent twice`;
    out[`${sim}-reorder`] = `${st.reordered} events held back (${state.delivery.held} still held at the end)`;
    out[`${sim}-drop`] = `${st.dropped} events lost`;
  }
  return out;
}

const ENDED = new Set(['ARCHIVED', 'TERMINATED']);

/** The checks of this run (see the file's comment). */
/** The fault a TERMINATED session's reason names, or undefined. */
export function causeOf(reason: string): FaultName | undefined {
  if (/did not boot within/.test(reason)) return 'cml-never-boot';
  if (/\blost\b|ECONNREFUSED|is gone from worker|worker \S+ is TERMINATED|worker \S+ terminated/.test(reason)) return 'ec2-instance-lost';
  return undefined;
}

export function checkSessions(sessions: SessionRow[], reports: Array<{ session: { id: string } }>, armed: ReadonlySet<FaultName>): ExternalReport['findings'] {
  const findings: ExternalReport['findings'] = { backwards: [], reports: [], reasons: [], unexplained: [] };
  for (const s of sessions) {
    const seen = new Set<string>();
    for (const h of s.statusHistory) {
      if (seen.has(h.to)) findings.backwards.push(`${s.id} entered ${h.to} twice (${s.statusHistory.map((x) => x.to).join('>')})`);
      seen.add(h.to);
    }
    const last = s.statusHistory.at(-1);
    if (s.status === 'TERMINATED' && !last?.reason?.trim()) findings.reasons.push(`${s.id} TERMINATED without a reason`);
    else if (s.status === 'TERMINATED') {
      const cause = causeOf(last?.reason ?? '');
      if (!cause || !armed.has(cause)) findings.unexplained.push(`${s.id} TERMINATED: ${last?.reason}`);
    }
  }
  const perSession = new Map<string, number>();
  for (const r of reports) perSession.set(r.session.id, (perSession.get(r.session.id) ?? 0) + 1);
  for (const [id, n] of perSession) if (n > 1) findings.reports.push(`${id} has ${n} score reports`);
  return findings;
}

/** Sessions alive (created, not yet ended) at some moment of one of the windows, by final status. */
export function exposure(sessions: SessionRow[], windows: Window[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of sessions) {
    const born = Date.parse(s.createdAt);
    const endedAt = ENDED.has(s.status) ? Date.parse(s.statusHistory.at(-1)?.at ?? '') : Infinity;
    if (windows.some((w) => born <= w.to && endedAt >= w.from)) out[s.status] = (out[s.status] ?? 0) + 1;
  }
  return out;
}

export async function externalRun(o: ExternalOptions, log: (line: string) => void): Promise<ExternalReport> {
  const cluster = await startCluster({ controllerEnv: { LCM_LAB_BOOT_TIMEOUT_SECONDS: String(o.bootTimeoutSeconds) } });
  log(`cluster up: ${cluster.processes.length} processes, logs in ${cluster.runDir}`);
  try {
    // The simulated student acts by itself through LDS: its events move the sessions.
    await post(`${cluster.ldsUrl}/_sim/config`, { autoStartMs: 500, autoFinishMs: 1500 });
    const names = o.faults ?? FAULTS;
    const tallies = new Map<FaultName, Tally>(names.map((n) => [n, { windows: [], effects: [], victims: [] }]));
    // Staggered first rounds across the first 60 % of the chaos, so every fault is armed at least once
    // while sessions are in flight.
    const span = Math.max(1000, o.chaosSeconds * 1000 * 0.6);
    // Insufficient capacity bites only RunInstances: its first round is armed before the first session.
    const offset = (n: FaultName, i: number) => (n === 'ec2-insufficient-capacity' ? 1 : 1000 + Math.round((span * i) / names.length));
    const disruptions = names.map((n, i) => disruption(n, o, offset(n, i), tallies.get(n) as Tally));
    if ((o.trickleEveryMs ?? 5000) > 0) disruptions.push(trickle(o.trickleEveryMs ?? 5000));
    const chaos = await runChaos(cluster, { sessions: o.sessions, chaosSeconds: o.chaosSeconds, killEveryMs: o.killEveryMs, settleSeconds: o.settleSeconds, graceSeconds: o.graceSeconds, disruptions, log });
    const sessions = await gqlAll<SessionRow>(cluster, 'sessions', 'id status createdAt statusHistory { from to reason at } scoreReport { id }');
    const reports = await gqlAll<{ session: { id: string } }>(cluster, 'scoreReports', 'session { id }');
    const said = await effects(cluster);
    const faults: ExternalReport['faults'] = {};
    for (const [name, t] of tallies) {
      faults[name] = { armed: t.windows.length, effect: said[name] ?? t.effects.join('; '), sessionsExposed: exposure(sessions, t.windows) };
      if (t.victims.length > 0) {
        const victims: Record<string, number> = {};
        for (const id of t.victims) {
          const status = sessions.find((s) => s.id === id)?.status ?? 'unknown';
          victims[status] = (victims[status] ?? 0) + 1;
        }
        (faults[name] as FaultFigures).victims = victims;
      }
    }
    const movedByLds = sessions.filter((s) => s.statusHistory.some((h) => /\(LDS/.test(h.reason ?? ''))).length;
    const terminatedBy: Record<string, number> = {};
    for (const s of sessions) {
      if (s.status !== 'TERMINATED') continue;
      const cause = causeOf(s.statusHistory.at(-1)?.reason ?? '') ?? 'other';
      terminatedBy[cause] = (terminatedBy[cause] ?? 0) + 1;
    }
    const armed = new Set([...tallies].filter(([, t]) => t.windows.length > 0).map(([n]) => n));
    return { chaos, faults, movedByLds, terminatedBy, findings: checkSessions(sessions, reports, armed), runDir: cluster.runDir };
  } finally {
    await cluster.stop();
  }
}

export function formatExternal(r: ExternalReport): string {
  const lines = [
    formatReport(r.chaos),
    `  sessions moved by LDS events or its poll: ${r.movedByLds}; TERMINATED by the fault their reason names: ${JSON.stringify(r.terminatedBy)}`, '  per fault (armed rounds; what the simulator did; sessions alive meanwhile, by final status):'];
  for (const [name, f] of Object.entries(r.faults)) {
    lines.push(`    ${name.padEnd(26)} ${f.armed}×  ${f.effect}  ${JSON.stringify(f.sessionsExposed)}${f.victims ? `; the lost worker's sessions: ${JSON.stringify(f.victims)}` : ''}`);
  }
  lines.push(
    `  backwards moves: ${r.findings.backwards.length}  sessions with several score reports: ${r.findings.reports.length}  TERMINATED without a reason: ${r.findings.reasons.length}  TERMINATED for a fault that should cost none: ${r.findings.unexplained.length}`,
  );
  for (const [name, list] of Object.entries(r.findings)) for (const f of list.slice(0, 20)) lines.push(`  ${name}: ${f}`);
  return lines.join('\n');
}

/** Environment of the command-line and long forms: LCM_EXTERNAL_* over the given defaults. */
export function externalOptionsFromEnv(defaults: ExternalOptions): ExternalOptions {
  const n = (name: string, fallback: number) => {
    const v = process.env[name];
    return v === undefined || v === '' ? fallback : Number(v);
  };
  const only = process.env.LCM_EXTERNAL_FAULTS?.split(',').map((x) => x.trim()).filter(Boolean) as FaultName[] | undefined;
  for (const f of only ?? []) if (!FAULTS.includes(f)) throw new Error(`LCM_EXTERNAL_FAULTS: unknown fault ${f} (one of ${FAULTS.join(', ')})`);
  return {
    ...defaults,
    sessions: n('LCM_EXTERNAL_SESSIONS', defaults.sessions),
    chaosSeconds: n('LCM_EXTERNAL_SECONDS', defaults.chaosSeconds),
    killEveryMs: n('LCM_EXTERNAL_KILL_EVERY_MS', defaults.killEveryMs),
    settleSeconds: n('LCM_EXTERNAL_SETTLE_SECONDS', defaults.settleSeconds),
    everyMs: n('LCM_EXTERNAL_EVERY_MS', defaults.everyMs),
    ...(only?.length ? { faults: only } : {}),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const options = externalOptionsFromEnv({ sessions: 12, chaosSeconds: 60, killEveryMs: 0, settleSeconds: 180, bootTimeoutSeconds: 20, everyMs: 20_000, holdMs: 6_000 });
  const started = Date.now();
  const report = await externalRun(options, (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`));
  console.log(formatExternal(report));
  console.log(JSON.stringify(report));
}
