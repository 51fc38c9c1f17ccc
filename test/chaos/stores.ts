/**
 * The stores under chaos (issue 12): leader failover measured against the election lease's TTL, etcd
 * restarted and its history compacted behind the watches, and the database (FerretDB) killed with
 * SIGKILL and started again — while sessions flow — on the chaos harness (cluster.ts, chaos.ts), without
 * changing it: the faults are one scripted `Disruption`, the rest are probes that run beside it.
 *
 * - Failover: the leader of a controller is killed with SIGKILL; from the moment its exit is seen, the
 *   other replica's `/metrics` is polled every 100 ms until it reports `lcm_controller_leader 1`. The
 *   lease's TTL is `LEADER_LEASE_TTL_SECONDS` (core/runtime/leader-elector.ts: 15 s, renewed every 2 s,
 *   a leader that could not renew for 10 s steps down by its own clock). A killed leader's key stays in
 *   etcd until etcd expires its lease: TTL after the last renewal etcd received, i.e. 13–15 s after
 *   the kill. A successor earlier than that would be a bug (two leaders); much later, a slow handover.
 * - Two leaders at once: every 250 ms both replicas of every controller are asked for their `/metrics`
 *   (in parallel); a round in which both say 1 is a finding. A round spans the two answers (up to the
 *   2 s timeout), so a sample proves overlap only within that window; with kill -9 the dead leader
 *   answers nothing, and an etcd outage shorter than the renew deadline (10 s) keeps the leader leading.
 * - Double placement: every second every worker's reservations are read; one session holding two
 *   reservations (on one worker or on two) is a finding; at the end no session entered SCHEDULED twice.
 * - etcd: the etcd connection of every LCM process goes through one TCP proxy (the cluster's `link`).
 *   A restart kills etcd with SIGKILL, waits, starts it on the same data directory. A compaction cuts
 *   the proxy, writes a few keys straight to etcd and compacts its history at the head, then restores
 *   the proxy: every watch in every process must resume from a revision etcd no longer has, so each
 *   one is cancelled by etcd and must re-list (`lcm_informer_resets_total` counts the controllers'
 *   re-lists). A subscriber on the gateway (`sessionUpdated`) must either keep receiving events or end
 *   with `SUBSCRIPTION_CURSOR_EXPIRED`, never hang.
 * - Database: FerretDB is killed with SIGKILL and started on the same SQLite directory while a writer
 *   creates and terminates sessions every 500 ms. Every mutation that got an answer (the session id of
 *   a create, the TERMINATED of a terminate) must be there afterwards.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { EtcdCoordinationStore } from '../../core/adapters/etcd/etcd-coordination.ts';
import type { Disruption } from './chaos.ts';
import { startCluster, type Cluster, type RoleProcess } from './cluster.ts';

/**
 * The leader-election lease TTL the controllers run with: `LeaderElector`'s default (Kubernetes'
 * LeaseDuration), which `lcm controller` does not override; there is no variable for it.
 */
export const LEADER_LEASE_TTL_SECONDS = 15;
/** The leader's renew interval (LeaderElector's default): the last renewal is at most this old at a kill. */
export const LEADER_RENEW_INTERVAL_SECONDS = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LEADER_LINE = /^lcm_controller_leader\{[^}]*\} 1$/m;

export interface FailoverSample {
  controller: string;
  from: string;
  to: string;
  /** From the killed leader's exit to the other replica reporting leadership. */
  ms: number;
}

export interface StepRecord {
  name: string;
  startedAt: number;
  endedAt: number;
  detail: string;
}

export interface StoresProbes {
  cluster: Cluster;
  proxy: EtcdProxy;
  failovers: FailoverSample[];
  steps: StepRecord[];
  /** Rounds in which two replicas of one controller both reported leadership. */
  dualLeaders: string[];
  dualLeaderSamples: number;
  /** A session holding more than one reservation at once, or entering SCHEDULED twice. */
  doublePlacements: string[];
  placementSamples: number;
  acked: { creates: Array<{ id: string; at: number }>; terminates: Array<{ id: string; at: number }>; failed: number };
  subscription: SubscriptionProbe;
  /** Controllers' informer re-lists (`lcm_informer_resets_total`) added by each compaction. */
  resetsByCompaction: number[];
  stop(): Promise<void>;
}

/** The TCP proxy every process reaches etcd through, in a child process (test/chaos/proxy-process.ts). */
export interface EtcdProxy {
  url: string;
  /** Reset every connection and refuse new ones. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

const PROXY = fileURLToPath(new URL('./proxy-process.ts', import.meta.url));

async function startProxyProcess(port: number): Promise<EtcdProxy> {
  const child: ChildProcess = fork(PROXY, [String(port)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`etcd proxy exited (${code}) before listening`)));
  });
  const command = (what: 'cut' | 'restore') =>
    new Promise<void>((resolve) => {
      const onMessage = (m: unknown) => {
        if ((m as { done?: string }).done !== what) return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send(what);
    });
  return {
    url,
    cut: () => command('cut'),
    restore: () => command('restore'),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts the cluster with every process's etcd connection through one TCP proxy (for the compaction). */
export async function startStoresCluster(controllerEnv?: Record<string, string>): Promise<{ cluster: Cluster; proxy: EtcdProxy }> {
  let proxy: Promise<EtcdProxy> | undefined;
  const cluster = await startCluster({
    ...(controllerEnv ? { controllerEnv } : {}),
    link: async (_from, to, url) => {
      if (to !== 'etcd') return url;
      proxy ??= startProxyProcess(Number(new URL(url).port));
      return (await proxy).url;
    },
  });
  if (!proxy) {
    await cluster.stop();
    throw new Error('no process was linked to etcd');
  }
  return { cluster, proxy: await proxy };
}

async function metricsOf(p: RoleProcess, timeoutMs = 2000): Promise<string | undefined> {
  if (!p.up()) return undefined;
  try {
    return await (await fetch(`http://127.0.0.1:${p.port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text();
  } catch {
    return undefined;
  }
}

const replicasOf = (c: Cluster, controller: string) => c.processes.filter((p) => p.controller === controller);
const controllersOf = (c: Cluster) => [...new Set(c.processes.flatMap((p) => (p.controller ? [p.controller] : [])))];

async function gql<T>(c: Cluster, query: string, variables: Record<string, unknown> = {}, path = 'graphql'): Promise<T> {
  const res = await fetch(`${c.gatewayUrl}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  if (body.errors?.length || !body.data) throw new Error(`${res.status} ${body.errors?.map((e) => `${e.extensions?.code ?? ''} ${e.message}`).join('; ') ?? 'no data'}`);
  return body.data;
}

// ---- failover ---------------------------------------------------------------------------------------

/** The process leading `controller` now (polled until one does, up to `timeoutMs`). */
async function leaderOf(c: Cluster, controller: string, timeoutMs: number): Promise<RoleProcess> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const p of replicasOf(c, controller)) if (LEADER_LINE.test((await metricsOf(p)) ?? '')) return p;
    if (Date.now() > deadline) throw new Error(`no leader of ${controller} within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/**
 * Kill -9 the leader of `controller`, time the takeover by the other replica (polled every 100 ms),
 * then start the killed process again.
 */
export async function killLeader(c: Cluster, controller: string): Promise<FailoverSample> {
  const leader = await leaderOf(c, controller, 60_000);
  const others = replicasOf(c, controller).filter((p) => p !== leader);
  for (const p of others) if (!p.up()) await p.start();
  await leader.kill9();
  const killedAt = performance.now();
  const deadline = killedAt + (LEADER_LEASE_TTL_SECONDS + 60) * 1000;
  let successor: RoleProcess | undefined;
  while (!successor && performance.now() < deadline) {
    const texts = await Promise.all(others.map((p) => metricsOf(p, 1000)));
    successor = others.find((_, i) => LEADER_LINE.test(texts[i] ?? ''));
    if (!successor) await sleep(100);
  }
  const ms = Math.round(performance.now() - killedAt);
  await leader.start();
  if (!successor) throw new Error(`${controller}: no replica took over within ${Math.round(ms / 1000)} s of killing ${leader.name}`);
  return { controller, from: leader.name, to: successor.name, ms };
}

/** Samples every controller's replicas every `everyMs`; two reporting leadership in one round is a finding. */
function watchDualLeaders(c: Cluster, out: string[], everyMs = 250): { samples: () => number; stop: () => Promise<void> } {
  let on = true;
  let samples = 0;
  const loop = (async () => {
    while (on) {
      const started = Date.now();
      await Promise.all(
        controllersOf(c).map(async (controller) => {
          const replicas = replicasOf(c, controller);
          const texts = await Promise.all(replicas.map((p) => metricsOf(p)));
          const leading = replicas.filter((_, i) => LEADER_LINE.test(texts[i] ?? ''));
          if (leading.length > 1) out.push(`${new Date(started).toISOString()} ${controller}: ${leading.map((p) => p.name).join(' and ')} both report leadership (sample of ${Date.now() - started} ms)`);
        }),
      );
      samples++;
      await sleep(Math.max(0, everyMs - (Date.now() - started)));
    }
  })();
  return {
    samples: () => samples,
    async stop() {
      on = false;
      await loop;
    },
  };
}

// ---- double placement -------------------------------------------------------------------------------

const RESERVATIONS = `query($after: String) { workers(first: 100, after: $after) {
  edges { node { id name reservations { sessionId } } } pageInfo { hasNextPage endCursor } } }`;

function watchPlacements(c: Cluster, out: string[], everyMs = 1000): { samples: () => number; stop: () => Promise<void> } {
  let on = true;
  let samples = 0;
  const seen = new Set<string>();
  const loop = (async () => {
    while (on) {
      try {
        const holders = new Map<string, string[]>();
        let after: string | null = null;
        for (;;) {
          type Page = { workers: { edges: Array<{ node: { id: string; name: string; reservations: Array<{ sessionId: string }> } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
          const page: Page = await gql<Page>(c, RESERVATIONS, { after });
          for (const { node } of page.workers.edges) for (const r of node.reservations) holders.set(r.sessionId, [...(holders.get(r.sessionId) ?? []), node.name]);
          if (!page.workers.pageInfo.hasNextPage) break;
          after = page.workers.pageInfo.endCursor;
        }
        samples++;
        for (const [session, on] of holders) {
          if (on.length > 1 && !seen.has(session)) {
            seen.add(session);
            out.push(`session ${session} holds ${on.length} reservations at once (workers ${on.join(', ')})`);
          }
        }
      } catch {
        // the gateway or a subgraph is down for a moment: next round
      }
      await sleep(everyMs);
    }
  })();
  return {
    samples: () => samples,
    async stop() {
      on = false;
      await loop;
    },
  };
}

/** At the end: no session entered SCHEDULED twice (it was placed once). */
export async function placedTwice(c: Cluster): Promise<string[]> {
  const out: string[] = [];
  let after: string | null = null;
  for (;;) {
    type Page = { sessions: { edges: Array<{ node: { id: string; statusHistory: Array<{ to: string }> } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
    const page: Page = await gql<Page>(c, `query($after: String) { sessions(first: 100, after: $after) { edges { node { id statusHistory { to } } } pageInfo { hasNextPage endCursor } } }`, { after });
    for (const { node } of page.sessions.edges) {
      const n = node.statusHistory.filter((h) => h.to === 'SCHEDULED').length;
      if (n > 1) out.push(`session ${node.id} entered SCHEDULED ${n} times (${node.statusHistory.map((h) => h.to).join('>')})`);
    }
    if (!page.sessions.pageInfo.hasNextPage) return out;
    after = page.sessions.pageInfo.endCursor;
  }
}

// ---- acknowledged writes ----------------------------------------------------------------------------

async function definitionId(c: Cluster): Promise<string> {
  for (;;) {
    try {
      const d = await gql<{ definitions: { edges: Array<{ node: { id: string } }> } }>(c, `{ definitions(first: 1) { edges { node { id } } } }`);
      const id = d.definitions.edges[0]?.node.id;
      if (id) return id;
    } catch {
      // not yet
    }
    await sleep(500);
  }
}

/** One create (and, if asked, a terminate of it), each recorded only when answered without error. */
async function ackedWrite(c: Cluster, acked: StoresProbes['acked'], definition: string, owner: string, terminate: boolean): Promise<void> {
  let id: string;
  try {
    id = (await gql<{ createSession: { id: string } }>(c, `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`, { input: { definitionId: definition, owner } })).createSession.id;
    acked.creates.push({ id, at: Date.now() });
  } catch {
    acked.failed++;
    return;
  }
  if (!terminate) return;
  try {
    const r = await gql<{ terminateSession: { id: string; status: string } }>(c, `mutation($id: ID!) { terminateSession(id: $id, reason: "stores test: acknowledged terminate") { id status } }`, { id });
    if (r.terminateSession.status === 'TERMINATED') acked.terminates.push({ id, at: Date.now() });
  } catch {
    acked.failed++;
  }
}

/** Every acknowledged create exists, every acknowledged terminate is in its session's history. */
export async function lostWrites(c: Cluster, acked: StoresProbes['acked']): Promise<string[]> {
  const out: string[] = [];
  const terminated = new Set(acked.terminates.map((t) => t.id));
  for (const { id } of acked.creates) {
    const r = await gql<{ session: { id: string; statusHistory: Array<{ to: string }> } | null }>(c, `query($id: ID!) { session(id: $id) { id statusHistory { to } } }`, { id });
    if (!r.session) out.push(`acknowledged create of session ${id} is gone`);
    else if (terminated.has(id) && !r.session.statusHistory.some((h) => h.to === 'TERMINATED')) out.push(`acknowledged terminate of session ${id} is not in its history`);
  }
  return out;
}

// ---- a subscriber ---------------------------------------------------------------------------------------

export interface SubscriptionProbe {
  /** Arrival times (ms since epoch) of the events. */
  events: number[];
  duplicates: number;
  /** Each end of the subscription: the error code (or `closed`) and whether it resumed with `after`. */
  ends: Array<{ at: number; code: string; resumedWithCursor: boolean }>;
  stop(): void;
}

/**
 * `sessionUpdated` through the gateway, kept open: on any end it subscribes again from its last cursor,
 * except after `SUBSCRIPTION_CURSOR_EXPIRED`, when it starts afresh (as a client re-lists).
 */
function subscriber(c: Cluster): SubscriptionProbe {
  const probe: SubscriptionProbe = { events: [], duplicates: 0, ends: [], stop: () => undefined };
  const cursors = new Set<string>();
  let cursor: string | undefined;
  let client: Client | undefined;
  let stopped = false;
  const open = () => {
    if (stopped) return;
    client = createClient({ url: `${c.gatewayUrl.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${c.adminToken}` }, retryAttempts: 0 });
    const resumed = cursor !== undefined;
    const ended = (code: string) => {
      if (stopped) return;
      probe.ends.push({ at: Date.now(), code, resumedWithCursor: resumed });
      if (code === 'SUBSCRIPTION_CURSOR_EXPIRED') cursor = undefined;
      void client?.dispose();
      setTimeout(open, 1000);
    };
    client.subscribe(
      { query: `subscription($after: String) { sessionUpdated(after: $after) { id status } }`, variables: { after: cursor ?? null } },
      {
        next: (e) => {
          const at = (e.extensions as { cursor?: string } | undefined)?.cursor;
          if (at !== undefined) {
            if (cursors.has(at)) probe.duplicates++;
            cursors.add(at);
            cursor = at;
          }
          probe.events.push(Date.now());
        },
        error: (e: unknown) => {
          const errors = Array.isArray(e) ? (e as Array<{ extensions?: { code?: string } }>) : [];
          ended(errors[0]?.extensions?.code ?? (e instanceof Error ? 'error' : 'closed'));
        },
        complete: () => ended('complete'),
      },
    );
  };
  open();
  probe.stop = () => {
    stopped = true;
    void client?.dispose();
  };
  return probe;
}

// ---- the faults ---------------------------------------------------------------------------------------

async function controllerResets(c: Cluster): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    c.processes
      .filter((p) => p.controller)
      .map(async (p) => {
        const text = await metricsOf(p);
        let sum = 0;
        for (const m of text?.matchAll(/^lcm_informer_resets_total\{[^}]*\} (\S+)$/gm) ?? []) sum += Number(m[1]);
        out.set(p.name, sum);
      }),
  );
  return out;
}

/** SIGKILL etcd, leave it down `downMs`, start it again on the same data directory. */
async function restartEtcd(c: Cluster, downMs: number): Promise<string> {
  const leadersBefore = await c.leaders();
  await c.etcd.kill('SIGKILL');
  await sleep(downMs);
  const t = performance.now();
  await c.etcd.restart();
  const listening = Math.round(performance.now() - t);
  await sleep(3000);
  const leadersAfter = await c.leaders();
  return `etcd killed, down ${downMs} ms, listening again ${listening} ms after its start; leaders before ${JSON.stringify(leadersBefore)} after ${JSON.stringify(leadersAfter)}`;
}

/**
 * Compact etcd's history behind every watch: cut every process off etcd, write a few keys straight to
 * it, compact at the head, restore. Returns the controllers' informer re-lists it caused (measured
 * `settleMs` after the restore).
 */
async function compactBehindWatches(c: Cluster, proxy: EtcdProxy, cutMs: number, settleMs = 8000): Promise<{ line: string; resets: number }> {
  const before = await controllerResets(c);
  const direct = new EtcdCoordinationStore({ endpoints: [c.etcd.url] });
  try {
    // First while every watch is connected (history goes, nothing is behind), then behind them.
    await direct.compact(await direct.revision());
    await proxy.cut();
    const cutAt = performance.now();
    for (let i = 0; i < 5; i++) await direct.put(`/lcm-chaos/compaction-marker-${i}`, String(Date.now()));
    const revision = await direct.revision();
    await direct.compact(revision);
    await sleep(Math.max(0, cutMs - (performance.now() - cutAt)));
    await proxy.restore();
    await sleep(settleMs);
    const after = await controllerResets(c);
    let resets = 0;
    for (const [name, n] of after) resets += Math.max(0, n - (before.get(name) ?? 0));
    return { line: `compacted at revision ${revision} with every process cut off for ${cutMs} ms; controllers' informer re-lists: ${resets}`, resets };
  } finally {
    await direct.close();
  }
}

/** SIGKILL FerretDB while a writer creates and terminates a session every 500 ms; start it again after `downMs`. */
async function restartDatabase(c: Cluster, acked: StoresProbes['acked'], downMs: number): Promise<string> {
  const definition = await definitionId(c);
  let writing = true;
  let n = 0;
  const before = { creates: acked.creates.length, failed: acked.failed };
  const writer = (async () => {
    const inFlight: Array<Promise<void>> = [];
    while (writing) {
      inFlight.push(ackedWrite(c, acked, definition, `stores-db-writer-${n++}`, true));
      await sleep(500);
    }
    await Promise.all(inFlight);
  })();
  await sleep(2000);
  await c.mongo.kill('SIGKILL');
  await sleep(downMs);
  const t = performance.now();
  await c.mongo.restart();
  const listening = Math.round(performance.now() - t);
  await sleep(5000);
  writing = false;
  await writer;
  return `FerretDB killed, down ${downMs} ms, listening ${listening} ms after its start; writer: ${n} create+terminate pairs, ${acked.creates.length - before.creates} creates acknowledged, ${acked.failed - before.failed} calls failed`;
}

export type StepKind = 'leader' | 'etcd-restart' | 'compaction' | 'db-restart';

/**
 * The probes and the scripted faults: one `Disruption` whose every round runs the next step of
 * `script` (leader kills rotate over the controllers), plus a writer creating a session every
 * `writeEveryMs` until `writeUntil` (so sessions keep flowing through every fault).
 */
export function storesProbes(
  cluster: Cluster,
  proxy: EtcdProxy,
  o: { script: StepKind[]; everyMs: number; writeEveryMs: number; writeUntil: number; etcdDownMs?: number; dbDownMs?: number; cutMs?: number },
): { probes: StoresProbes; disruption: Disruption } {
  const failovers: FailoverSample[] = [];
  const steps: StepRecord[] = [];
  const dualLeaders: string[] = [];
  const doublePlacements: string[] = [];
  const acked: StoresProbes['acked'] = { creates: [], terminates: [], failed: 0 };
  const resetsByCompaction: number[] = [];
  const dual = watchDualLeaders(cluster, dualLeaders);
  const placements = watchPlacements(cluster, doublePlacements);
  const subscription = subscriber(cluster);
  let writing = true;
  const writer = (async () => {
    const definition = await definitionId(cluster);
    let n = 0;
    const inFlight: Array<Promise<void>> = [];
    while (writing && Date.now() < o.writeUntil) {
      inFlight.push(ackedWrite(cluster, acked, definition, `stores-writer-${n++}`, false));
      await sleep(o.writeEveryMs);
    }
    await Promise.all(inFlight);
  })();
  const controllers = controllersOf(cluster);
  let next = 0;
  let leaderKills = 0;
  const disruption: Disruption = {
    name: 'stores',
    everyMs: o.everyMs,
    async act(c) {
      const kind = o.script[next++];
      if (!kind) return 'script done';
      const startedAt = Date.now();
      let detail: string;
      if (kind === 'leader') {
        const s = await killLeader(c, controllers[leaderKills++ % controllers.length] as string);
        failovers.push(s);
        detail = `kill -9 ${s.from} (leader of ${s.controller}): ${s.to} leads ${s.ms} ms later`;
      } else if (kind === 'etcd-restart') {
        detail = await restartEtcd(c, o.etcdDownMs ?? 4000);
      } else if (kind === 'compaction') {
        const r = await compactBehindWatches(c, proxy, o.cutMs ?? 3000);
        resetsByCompaction.push(r.resets);
        detail = r.line;
      } else {
        detail = await restartDatabase(c, acked, o.dbDownMs ?? 3000);
      }
      steps.push({ name: kind, startedAt, endedAt: Date.now(), detail });
      return `${kind}: ${detail}`;
    },
    async heal() {
      await proxy.restore();
      if (!(await portOpen(cluster.etcd.url))) await cluster.etcd.restart();
      if (!(await portOpen(cluster.mongo.url))) await cluster.mongo.restart();
    },
  };
  const probes: StoresProbes = {
    cluster,
    proxy,
    failovers,
    steps,
    dualLeaders,
    get dualLeaderSamples() {
      return dual.samples();
    },
    doublePlacements,
    get placementSamples() {
      return placements.samples();
    },
    acked,
    subscription,
    resetsByCompaction,
    async stop() {
      writing = false;
      subscription.stop();
      await Promise.all([writer, dual.stop(), placements.stop()]);
    },
  };
  return { probes, disruption };
}

async function portOpen(url: string): Promise<boolean> {
  const { port } = new URL(url);
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ---- the figures ----------------------------------------------------------------------------------------

export function distribution(ms: number[]): { n: number; min: number; median: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const median = s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
  return { n: s.length, min: s[0] ?? NaN, median, max: s.at(-1) ?? NaN };
}

/**
 * After each etcd or database step: how long until the subscriber received its next event (null: none
 * by the end), and the subscription's ends meanwhile.
 */
export function subscriptionAfterSteps(p: StoresProbes): Array<{ step: string; nextEventMs: number | null }> {
  return p.steps
    .filter((s) => s.name !== 'leader')
    .map((s) => {
      const next = p.subscription.events.find((t) => t >= s.endedAt);
      return { step: s.name, nextEventMs: next === undefined ? null : next - s.endedAt };
    });
}

export function formatStores(p: StoresProbes): string {
  const lines = [`stores: lease TTL ${LEADER_LEASE_TTL_SECONDS} s (renewed every ${LEADER_RENEW_INTERVAL_SECONDS} s)`];
  const by = new Map<string, number[]>();
  for (const f of p.failovers) by.set(f.controller, [...(by.get(f.controller) ?? []), f.ms]);
  for (const [controller, ms] of by) {
    const d = distribution(ms);
    lines.push(`  failover ${controller}: n=${d.n} min ${(d.min / 1000).toFixed(2)} s, median ${(d.median / 1000).toFixed(2)} s, max ${(d.max / 1000).toFixed(2)} s (${ms.map((x) => (x / 1000).toFixed(2)).join(', ')})`);
  }
  for (const s of p.steps) lines.push(`  ${s.name} (${Math.round((s.endedAt - s.startedAt) / 1000)} s): ${s.detail}`);
  lines.push(`  two leaders at once: ${p.dualLeaders.length} in ${p.dualLeaderSamples} rounds; double placements: ${p.doublePlacements.length} (${p.placementSamples} reservation samples)`);
  lines.push(`  acknowledged: ${p.acked.creates.length} creates, ${p.acked.terminates.length} terminates; ${p.acked.failed} calls failed (not acknowledged)`);
  lines.push(`  subscription: ${p.subscription.events.length} events, ${p.subscription.duplicates} duplicates, ends ${JSON.stringify(p.subscription.ends.map((e) => `${e.code}${e.resumedWithCursor ? ' (resumed)' : ''}`))}`);
  lines.push(`  next event after each store step: ${JSON.stringify(subscriptionAfterSteps(p))}`);
  for (const f of [...p.dualLeaders, ...p.doublePlacements]) lines.push(`  finding: ${f}`);
  return lines.join('\n');
}
