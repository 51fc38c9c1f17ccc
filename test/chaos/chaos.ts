/**
 * The chaos run (issue 12): N sessions on the example definition, created through the gateway with the
 * admin token and driven through the student's manual transitions (READY → RUNNING → COLLECTING; the
 * controllers do the rest), while a chaos loop SIGKILLs a random LCM process (gateway, a subgraph or
 * either replica of a controller, leader or not) every few seconds and starts it again. Then it checks
 * the invariants and returns the figures.
 *
 * Invariants (each a list of findings; empty means it held):
 *   stuck           every session ends ARCHIVED, or TERMINATED with a reason, before the deadline (each
 *                   finding says whether the session still ended within a grace period after it, and
 *                   when it last moved: slow progress and a session no controller works on differ)
 *   portClashes     no two reservations on one worker hold one port, and no two live sessions on one
 *                   worker show one port (sampled all along the run; a clash is confirmed by re-reading)
 *   capacityLeaks   at the end, each worker's allocated capacity is the sum of its live sessions' and
 *                   it holds no reservation of an ended session
 *   duplicateEc2    one live EC2 instance per worker id, one instance per ClientToken
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Cluster, RoleProcess } from './cluster.ts';

const LCM = fileURLToPath(new URL('../../bin/lcm.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/two-routers.yaml', import.meta.url));
const ENDED = new Set(['ARCHIVED', 'TERMINATED']);
/** Statuses in which a session holds capacity and ports on its worker. */
const HOLDING = new Set(['SCHEDULED', 'INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING', 'EXPIRED']);

export interface ChaosOptions {
  sessions: number;
  /** How long the chaos loop kills processes. */
  chaosSeconds: number;
  /** Pause between one process being back and the next kill; 0: no kills (only `disruptions`). */
  killEveryMs: number;
  /**
   * Other faults acted while the chaos lasts, each on its own loop beside the kills: a TCP cut between
   * two roles, an etcd restart, an external fault armed in a simulator… (see `Disruption`).
   */
  disruptions?: Disruption[];
  /** After the chaos, how long every session has to end. */
  settleSeconds: number;
  /**
   * After that deadline, how long the sessions not ended are still watched (they stay findings; the
   * finding tells whether and when they ended). Default 60; 0 skips.
   */
  graceSeconds?: number;
  log?: (line: string) => void;
}

/**
 * A fault the chaos loop acts every `everyMs` while the chaos lasts, beside (or instead of) the kills.
 * `act` does one round (and may undo it before it returns, e.g. cut a link for a few seconds) and
 * returns a line for the log; `heal` is called once when the chaos ends and must leave nothing in force.
 */
export interface Disruption {
  name: string;
  everyMs: number;
  act(c: Cluster): Promise<string>;
  heal?(c: Cluster): Promise<void>;
}

export interface ChaosReport {
  sessions: number;
  statuses: Record<string, number>;
  terminatedReasons: Record<string, number>;
  kills: number;
  killsByRole: Record<string, number>;
  leaderKills: number;
  /** Rounds acted by each disruption, by name. */
  disruptions: Record<string, number>;
  failoversSeen: Record<string, number>;
  chaosSeconds: number;
  totalSeconds: number;
  /** Seconds from the first session created to the last one ended (or the deadline). */
  secondsToAllEnded: number;
  workersUsed: number;
  ec2Instances: number;
  samples: number;
  /** Sessions not ended by the deadline that ended within the grace period (slow, not lost). */
  endedLate: number;
  /** At the deadline: each controller leader's work queue (depth, longest reconcile running now). */
  queuesAtDeadline: Record<string, { leader: string; depth: number | null; longestRunningSeconds: number | null }>;
  /** The machine's 1-minute load average at the deadline (the run shares its cores with anything else running). */
  loadAverageAtDeadline: number;
  findings: { stuck: string[]; portClashes: string[]; capacityLeaks: string[]; duplicateEc2: string[] };
}

interface Capacity {
  cpuCores: number;
  memoryGb: number;
  storageGb: number;
  maxNodes: number;
}
interface SessionRow {
  id: string;
  status: string;
  worker: { id: string } | null;
  allocatedPorts: Array<{ name: string; port: number }>;
  statusHistory: Array<{ to: string; reason: string | null; at: string }>;
}
interface WorkerRow {
  id: string;
  name: string;
  status: string;
  ec2InstanceId: string | null;
  allocatedCapacity: Capacity;
  reservations: Array<{ sessionId: string; capacity: Capacity; ports: Array<{ name: string; port: number }> }>;
}

class GatewayDown extends Error {}

async function gql<T>(c: Cluster, path: 'graphql' | 'internal/graphql', query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${c.gatewayUrl}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    throw new GatewayDown(`gateway unreachable: ${(e as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  if (body.errors?.length || !body.data) {
    throw new Error(`${res.status} ${body.errors?.map((e) => `${e.extensions?.code ?? ''} ${e.message}`).join('; ') ?? 'no data'}`);
  }
  return body.data;
}

/** Retries a call through the gateway while processes die under it. */
async function retrying<T>(what: string, fn: () => Promise<T>, deadlineMs = 120_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(e as Error).message}`);
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SESSIONS = `query($after: String) { sessions(first: 100, after: $after) {
  edges { node { id status worker { id } allocatedPorts { name port } statusHistory { to reason at } } }
  pageInfo { hasNextPage endCursor } } }`;
const WORKERS = `query($after: String) { workers(first: 100, after: $after) {
  edges { node { id name status ec2InstanceId allocatedCapacity { cpuCores memoryGb storageGb maxNodes }
    reservations { sessionId capacity { cpuCores memoryGb storageGb maxNodes } ports { name port } } } }
  pageInfo { hasNextPage endCursor } } }`;

async function all<T>(c: Cluster, query: string, field: 'sessions' | 'workers'): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  for (;;) {
    const page: Record<string, { edges: Array<{ node: T }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } }> = await gql(c, 'graphql', query, { after });
    const conn = page[field];
    if (!conn) return out;
    out.push(...conn.edges.map((e) => e.node));
    if (!conn.pageInfo.hasNextPage) return out;
    after = conn.pageInfo.endCursor;
  }
}

function applyExample(c: Cluster): string {
  const r = spawnSync(process.execPath, [LCM, 'definitions', 'apply', EXAMPLE, '--json'], {
    env: { ...process.env, LCM_URL: c.gatewayUrl, LCM_TOKEN: c.adminToken, LCM_LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`lcm definitions apply failed (${r.status}): ${r.stderr}`);
  const [applied] = JSON.parse(r.stdout) as Array<{ id: string }>;
  if (!applied) throw new Error(`lcm definitions apply printed nothing: ${r.stdout}`);
  return applied.id;
}

const key = (cap: Capacity) => `${cap.cpuCores}/${cap.memoryGb}/${cap.storageGb}/${cap.maxNodes}`;
const add = (a: Capacity, b: Capacity): Capacity => ({
  cpuCores: a.cpuCores + b.cpuCores,
  memoryGb: a.memoryGb + b.memoryGb,
  storageGb: a.storageGb + b.storageGb,
  maxNodes: a.maxNodes + b.maxNodes,
});
const ZERO: Capacity = { cpuCores: 0, memoryGb: 0, storageGb: 0, maxNodes: 0 };

export async function runChaos(c: Cluster, o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  const findings: ChaosReport['findings'] = { stuck: [], portClashes: [], capacityLeaks: [], duplicateEc2: [] };
  const clashSeen = new Set<string>();

  const definitionId = await retrying('apply the example definition', async () => applyExample(c));
  log(`definition ${definitionId} applied; creating ${o.sessions} sessions`);

  // ---- the chaos loop: one process down at a time ---------------------------------------------------
  const killsByRole: Record<string, number> = {};
  let kills = 0;
  let leaderKills = 0;
  let chaosOn = true;
  const chaosEnds = Date.now() + o.chaosSeconds * 1000;
  const disruptionRounds: Record<string, number> = {};
  const disruptionLoops = (o.disruptions ?? []).map(async (d) => {
    disruptionRounds[d.name] = 0;
    while (chaosOn && Date.now() < chaosEnds) {
      await sleep(d.everyMs);
      if (!chaosOn || Date.now() >= chaosEnds) break;
      try {
        log(`${d.name}: ${await d.act(c)}`);
        disruptionRounds[d.name] = (disruptionRounds[d.name] ?? 0) + 1;
      } catch (e) {
        log(`${d.name} failed: ${(e as Error).message}`);
      }
    }
    await d.heal?.(c);
  });
  const chaos = (async () => {
    while (o.killEveryMs > 0 && chaosOn && Date.now() < chaosEnds) {
      await sleep(o.killEveryMs);
      if (!chaosOn || Date.now() >= chaosEnds) break;
      const candidates = c.processes.filter((p) => p.killable && p.up());
      const victim = candidates[Math.floor(Math.random() * candidates.length)] as RoleProcess | undefined;
      if (!victim) continue;
      const leaders = await c.leaders();
      const wasLeader = victim.controller !== undefined && leaders[victim.controller] === victim.name;
      await victim.kill9();
      kills++;
      if (wasLeader) leaderKills++;
      killsByRole[victim.role] = (killsByRole[victim.role] ?? 0) + 1;
      log(`kill -9 ${victim.name}${wasLeader ? ' (leader)' : ''}`);
      await sleep(300);
      try {
        await victim.start();
      } catch (e) {
        log(`restart of ${victim.name} failed: ${(e as Error).message}; trying again`);
        await victim.kill9();
        await victim.start();
      }
    }
  })();

  // ---- failovers: leadership changes seen, by polling every controller's /metrics -------------------
  const failoversSeen: Record<string, number> = {};
  const lastLeader: Record<string, string> = {};
  let watching = true;
  const leaderWatch = (async () => {
    while (watching) {
      const now = await c.leaders();
      for (const [controller, leader] of Object.entries(now)) {
        if (!leader) continue;
        if (lastLeader[controller] && lastLeader[controller] !== leader) failoversSeen[controller] = (failoversSeen[controller] ?? 0) + 1;
        lastLeader[controller] = leader;
      }
      await sleep(500);
    }
  })();

  // ---- create the sessions, a few at a time ---------------------------------------------------------
  const created: string[] = [];
  const firstCreated = Date.now();
  for (let i = 0; i < o.sessions; i += 5) {
    const batch = Array.from({ length: Math.min(5, o.sessions - i) }, (_, j) => i + j);
    created.push(
      ...(await Promise.all(
        batch.map((n) =>
          retrying(`create session ${n}`, async () =>
            (await gql<{ createSession: { id: string } }>(c, 'graphql', `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`, {
              input: { definitionId, owner: `chaos-student-${n}` },
            })).createSession.id,
          ),
        ),
      )),
    );
  }
  log(`${created.length} sessions created in ${((Date.now() - firstCreated) / 1000).toFixed(1)} s`);

  // ---- drive every session (all of them, in case a create was answered but the answer lost) ---------
  let samples = 0;
  const deadline = chaosEnds + o.settleSeconds * 1000;
  let sessions: SessionRow[] = [];
  let allEndedAt: number | undefined;
  while (Date.now() < deadline) {
    // The sample itself loads the system (every session and worker read through the gateway): at
    // hundreds of sessions on FerretDB one takes seconds, so the pause is at least as long as the sample
    // took, to keep the observer below half of the database's time.
    const sampleStarted = Date.now();
    try {
      sessions = await all<SessionRow>(c, SESSIONS, 'sessions');
      const workers = await all<WorkerRow>(c, WORKERS, 'workers');
      samples++;
      await checkPorts(c, sessions, workers, findings.portClashes, clashSeen);
      const moves = sessions.flatMap((s) => (s.status === 'READY' ? [[s.id, 'RUNNING']] : s.status === 'RUNNING' ? [[s.id, 'COLLECTING']] : []));
      await Promise.all(
        moves.map(([id, to]) =>
          gql(c, 'graphql', `mutation($id: ID!, $to: LabletSessionStatus!) { transitionSession(id: $id, to: $to) { id } }`, { id, to }).catch(() => undefined),
        ),
      );
      if (Date.now() >= chaosEnds && sessions.length >= created.length && sessions.every((s) => ENDED.has(s.status))) {
        allEndedAt = Date.now();
        break;
      }
    } catch (e) {
      if (!(e instanceof GatewayDown)) log(`drive: ${(e as Error).message.slice(0, 200)}`);
    }
    await sleep(Math.max(500, Date.now() - sampleStarted));
  }
  const queuesAtDeadline = await queueFigures(c);
  const loadAverageAtDeadline = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  chaosOn = false;
  await chaos;
  await Promise.all(disruptionLoops);
  // Everything back up before the final reads.
  for (const p of c.processes) if (!p.up()) await p.start();
  watching = false;
  await leaderWatch;

  sessions = await retrying('list sessions', () => all<SessionRow>(c, SESSIONS, 'sessions'));
  const notEnded = sessions.filter((s) => !ENDED.has(s.status));
  for (const s of sessions) {
    const last = s.statusHistory.at(-1);
    if (s.status === 'TERMINATED' && !last?.reason) findings.stuck.push(`${s.id} TERMINATED without a reason`);
  }
  // The sessions not ended: watched a while longer, to tell slow progress from a session left alone.
  const graceEnds = Date.now() + (o.graceSeconds ?? 60) * 1000;
  const endedAt = new Map<string, number>();
  let latest = new Map(notEnded.map((s) => [s.id, s]));
  while (notEnded.length > 0 && endedAt.size < notEnded.length && Date.now() < graceEnds) {
    await sleep(2000);
    try {
      latest = new Map((await all<SessionRow>(c, SESSIONS, 'sessions')).map((s) => [s.id, s]));
    } catch {
      continue;
    }
    for (const s of notEnded) if (!endedAt.has(s.id) && ENDED.has(latest.get(s.id)?.status ?? '')) endedAt.set(s.id, Date.now());
  }
  const secs = (ms: number) => `${Math.round(ms / 1000)} s`;
  for (const s of notEnded) {
    const history = `history ${s.statusHistory.map((h) => h.to).join('>')}`;
    const lastMove = Date.parse(s.statusHistory.at(-1)?.at ?? '');
    const moved = Number.isFinite(lastMove) ? `; in ${s.status} since ${secs(deadline - lastMove)} before the deadline` : '';
    const when = endedAt.get(s.id);
    const after =
      when !== undefined
        ? `; ended ${latest.get(s.id)?.status} ${secs(when - deadline)} after the deadline`
        : `; still ${latest.get(s.id)?.status ?? s.status} ${secs(Date.now() - deadline)} after the deadline`;
    findings.stuck.push(`${s.id} ${s.status} (${history}${moved}${after})`);
  }

  // Capacity: what the sweeper and teardown release may take a resync or two; give it until it holds.
  let workers: WorkerRow[] = [];
  const leakDeadline = Date.now() + 30_000;
  for (;;) {
    workers = await retrying('list workers', () => all<WorkerRow>(c, WORKERS, 'workers'));
    const leaks = capacityLeaks(sessions, workers);
    if (leaks.length === 0 || Date.now() > leakDeadline) {
      findings.capacityLeaks.push(...leaks);
      break;
    }
    await sleep(1000);
  }

  const ec2 = (await (await fetch(`${c.ec2Url}/_sim/state`)).json()) as {
    instances: Array<{ instanceId: string; state: string; clientToken?: string; tags: Record<string, string> }>;
  };
  const byWorker = new Map<string, string[]>();
  const byToken = new Map<string, string[]>();
  for (const i of ec2.instances) {
    const workerId = i.tags['lcm:worker-id'];
    if (workerId && !['terminated', 'shutting-down'].includes(i.state)) byWorker.set(workerId, [...(byWorker.get(workerId) ?? []), i.instanceId]);
    if (i.clientToken) byToken.set(i.clientToken, [...(byToken.get(i.clientToken) ?? []), i.instanceId]);
  }
  for (const [w, ids] of byWorker) if (ids.length > 1) findings.duplicateEc2.push(`worker ${w}: live instances ${ids.join(', ')}`);
  for (const [t, ids] of byToken) if (ids.length > 1) findings.duplicateEc2.push(`ClientToken ${t}: instances ${ids.join(', ')}`);

  const statuses: Record<string, number> = {};
  const terminatedReasons: Record<string, number> = {};
  for (const s of sessions) {
    statuses[s.status] = (statuses[s.status] ?? 0) + 1;
    if (s.status === 'TERMINATED') {
      const reason = s.statusHistory.at(-1)?.reason ?? '(none)';
      terminatedReasons[reason] = (terminatedReasons[reason] ?? 0) + 1;
    }
  }
  return {
    sessions: sessions.length,
    statuses,
    terminatedReasons,
    kills,
    killsByRole,
    leaderKills,
    disruptions: disruptionRounds,
    failoversSeen,
    chaosSeconds: o.chaosSeconds,
    totalSeconds: Math.round((Date.now() - started) / 1000),
    secondsToAllEnded: Math.round(((allEndedAt ?? Date.now()) - firstCreated) / 1000),
    workersUsed: new Set(sessions.flatMap((s) => (s.worker ? [s.worker.id] : []))).size,
    ec2Instances: ec2.instances.length,
    samples,
    endedLate: endedAt.size,
    queuesAtDeadline,
    loadAverageAtDeadline,
    findings,
  };
}

/** Each controller leader's work queue now, from its /metrics (null: the figure could not be read). */
async function queueFigures(c: Cluster): Promise<ChaosReport['queuesAtDeadline']> {
  const out: ChaosReport['queuesAtDeadline'] = {};
  const gauge = (text: string | undefined, name: string): number | null => {
    const m = text?.match(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : null;
  };
  for (const [controller, leader] of Object.entries(await c.leaders())) {
    if (!leader) continue;
    const text = await c.metrics(leader);
    out[controller] = {
      leader,
      depth: gauge(text, 'lcm_workqueue_depth'),
      longestRunningSeconds: gauge(text, 'lcm_workqueue_longest_running_processor_seconds'),
    };
  }
  return out;
}

async function checkPorts(c: Cluster, sessions: SessionRow[], workers: WorkerRow[], out: string[], seen: Set<string>): Promise<void> {
  // The worker document is the allocation's source of truth and one atomic read.
  for (const w of workers) {
    const holder = new Map<number, string>();
    for (const r of w.reservations) {
      for (const p of r.ports) {
        const other = holder.get(p.port);
        const k = `${w.id}:${p.port}:${[other, r.sessionId].sort().join(',')}`;
        if (other && other !== r.sessionId && !seen.has(k)) {
          seen.add(k);
          out.push(`worker ${w.name} (${w.id}) port ${p.port} reserved for ${other} and ${r.sessionId}`);
        }
        holder.set(p.port, r.sessionId);
      }
    }
  }
  // The sessions' view: a listing spans several reads, so a clash is confirmed by reading both again.
  const byWorkerPort = new Map<string, SessionRow[]>();
  for (const s of sessions) {
    if (!s.worker || !HOLDING.has(s.status)) continue;
    for (const p of s.allocatedPorts) {
      const k = `${s.worker.id}:${p.port}`;
      byWorkerPort.set(k, [...(byWorkerPort.get(k) ?? []), s]);
    }
  }
  for (const [k, list] of byWorkerPort) {
    if (list.length < 2) continue;
    const again = await Promise.all(
      list.map((s) =>
        gql<{ session: SessionRow | null }>(c, 'graphql', `query($id: ID!) { session(id: $id) { id status worker { id } allocatedPorts { name port } statusHistory { to reason } } }`, { id: s.id })
          .then((r) => r.session)
          .catch(() => null),
      ),
    );
    const port = Number(k.split(':')[1]);
    const still = again.filter((s): s is SessionRow => !!s && !!s.worker && HOLDING.has(s.status) && `${s.worker.id}:${port}` === k && s.allocatedPorts.some((p) => p.port === port));
    const sk = `sessions:${k}:${still.map((s) => s.id).sort().join(',')}`;
    if (still.length > 1 && !seen.has(sk)) {
      seen.add(sk);
      out.push(`live sessions ${still.map((s) => `${s.id} (${s.status})`).join(' and ')} share port ${port} on worker ${k.split(':')[0]}`);
    }
  }
}

function capacityLeaks(sessions: SessionRow[], workers: WorkerRow[]): string[] {
  const status = new Map(sessions.map((s) => [s.id, s.status]));
  const out: string[] = [];
  for (const w of workers) {
    const live = w.reservations.filter((r) => HOLDING.has(status.get(r.sessionId) ?? 'GONE'));
    const ended = w.reservations.filter((r) => !HOLDING.has(status.get(r.sessionId) ?? 'GONE'));
    const expected = live.reduce((sum, r) => add(sum, r.capacity), ZERO);
    if (key(expected) !== key(w.allocatedCapacity)) {
      out.push(`worker ${w.name} (${w.id}): allocated ${key(w.allocatedCapacity)}, live sessions hold ${key(expected)}`);
    }
    for (const r of ended) out.push(`worker ${w.name} (${w.id}): still holds a reservation of session ${r.sessionId} (${status.get(r.sessionId) ?? 'unknown'})`);
  }
  return out;
}

/** The report as the lines the tests print. */
export function formatReport(r: ChaosReport): string {
  const lines = [
    `chaos run: ${r.sessions} sessions, ${r.chaosSeconds} s of chaos, ${r.totalSeconds} s in all (${r.secondsToAllEnded} s from the first session created to the last one ended)`,
    `  final statuses: ${JSON.stringify(r.statuses)}`,
    `  terminated reasons: ${JSON.stringify(r.terminatedReasons)}`,
    `  kills: ${r.kills} (${r.leaderKills} of a leader) by role ${JSON.stringify(r.killsByRole)}`,
    ...(Object.keys(r.disruptions).length > 0 ? [`  disruptions: ${JSON.stringify(r.disruptions)}`] : []),
    `  leader failovers seen: ${JSON.stringify(r.failoversSeen)}`,
    `  workers used: ${r.workersUsed}; EC2 instances launched: ${r.ec2Instances}; invariant samples: ${r.samples}`,
    `  at the deadline: load average ${r.loadAverageAtDeadline}; work queues ${JSON.stringify(r.queuesAtDeadline)}`,
    `  stuck: ${r.findings.stuck.length} (${r.endedLate} of them ended within the grace period)  port clashes: ${r.findings.portClashes.length}  capacity leaks: ${r.findings.capacityLeaks.length}  duplicate EC2 instances: ${r.findings.duplicateEc2.length}`,
  ];
  for (const [name, list] of Object.entries(r.findings)) for (const f of list.slice(0, 20)) lines.push(`  ${name}: ${f}`);
  return lines.join('\n');
}
