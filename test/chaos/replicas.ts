/**
 * Several replicas on one machine (issue 14): two gateways and two processes of every subgraph, each
 * role behind a round-robin balancer, two of each controller (each on its own gateway replica), one
 * etcd and one FerretDB (the subgraph replicas with `LCM_MONGODB_WRITE_LOCKS`). The chaos run drives the
 * sessions through the gateways' balancer and checks its invariants (no port clash, so no double
 * placement; no capacity leak; no duplicate EC2 instance; every session ended); beside it a subscriber
 * on EACH gateway replica follows `sessionUpdated` for every session, and at the end must have seen
 * every revision of every session (no lost event on any replica's subscribers). Each replica's
 * /metrics tells whether the load was spread: operations answered by each gateway, mutations by each
 * subgraph replica.
 *
 *   npx tsx test/chaos/replicas.ts   (LCM_CHAOS_SESSIONS, LCM_CHAOS_SECONDS, LCM_CHAOS_KILL_EVERY_MS…
 *                                     as test/chaos/run.ts; kills spare the gateways, see below)
 */
import { subscribe, type Subscription } from '../support/gateway-client.ts';
import { formatReport, runChaos, type ChaosOptions, type ChaosReport } from './chaos.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { chaosOptionsFromEnv } from './run.ts';

type Update = { sessionUpdated: { id: string; status: string; revision: number } };

export interface ReplicasReport {
  chaos: ChaosReport;
  runDir: string;
  /** Per gateway replica: events received, and the revisions it missed (`<session> r<revision>`). */
  subscribers: Array<{ gateway: string; events: number; missed: string[]; errors: number }>;
  /** Operations answered over HTTP by each gateway replica (its /metrics). */
  gatewayOperations: Record<string, number>;
  /** Mutations executed by each subgraph replica (its /metrics). */
  subgraphMutations: Record<string, number>;
  /** Connections each balancer forwarded to each replica. */
  balanced: Record<string, number[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sum of a metric's samples whose labels match, from Prometheus text. */
export function metricSum(text: string | undefined, name: string, labels: RegExp = /.*/): number {
  let sum = 0;
  for (const line of (text ?? '').split('\n')) {
    const m = line.match(/^(\w+)(\{[^}]*\})? (\S+)$/);
    if (m && m[1] === name && labels.test(m[2] ?? '')) sum += Number(m[3]);
  }
  return sum;
}

const SESSIONS = `query($after: String) { sessions(first: 100, after: $after) {
  edges { node { id revision } } pageInfo { hasNextPage endCursor } } }`;

async function finalRevisions(c: Cluster): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let after: string | null = null;
  for (;;) {
    const res = await fetch(`${c.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` },
      body: JSON.stringify({ query: SESSIONS, variables: { after } }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as {
      data?: { sessions: { edges: Array<{ node: { id: string; revision: number } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
    };
    if (!body.data) throw new Error(`sessions: ${JSON.stringify(body)}`);
    for (const e of body.data.sessions.edges) out.set(e.node.id, e.node.revision);
    if (!body.data.sessions.pageInfo.hasNextPage) return out;
    after = body.data.sessions.pageInfo.endCursor;
  }
}

/** The revisions of each session a subscriber has not received. */
function missed(sub: Subscription<Update>, revisions: Map<string, number>): string[] {
  const seen = new Map<string, Set<number>>();
  for (const e of sub.events) {
    const u = e.data?.sessionUpdated;
    if (!u) continue;
    let set = seen.get(u.id);
    if (!set) seen.set(u.id, (set = new Set()));
    set.add(u.revision);
  }
  const out: string[] = [];
  for (const [id, last] of revisions) for (let r = 1; r <= last; r++) if (!seen.get(id)?.has(r)) out.push(`${id} r${r}`);
  return out;
}

/**
 * Start the replicated cluster, subscribe on every gateway replica, run the chaos (kills, when asked,
 * only of subgraph and controller replicas: a killed gateway closes its subscribers' sockets, and
 * resuming them is another test's subject), check every subscriber, read the replicas' metrics.
 */
export async function replicasRun(options: Omit<ChaosOptions, 'log'>, log: (line: string) => void, replicas = 2): Promise<ReplicasReport> {
  const cluster = await startCluster({ replicas });
  log(`cluster up: ${cluster.processes.length} processes (${replicas} gateways, ${replicas} of each subgraph), logs in ${cluster.runDir}`);
  const subs: Array<Subscription<Update>> = [];
  try {
    for (const url of cluster.gatewayUrls) {
      subs.push(subscribe<Update>(`${url.replace(/^http/, 'ws')}/graphql`, cluster.adminToken, `subscription { sessionUpdated { id status revision } }`));
    }
    await Promise.all(subs.map((s) => s.connected));
    // The upstream subscription (gateway → a sessions replica) is open before any session exists.
    for (const [i, name] of cluster.gatewayUrls.map((_, i) => [i, replicas > 1 ? `gateway-${i + 1}` : 'gateway'] as const)) {
      const deadline = Date.now() + 30_000;
      while (metricSum(await cluster.metrics(name), 'lcm_gateway_upstream_subscriptions_open') < 1) {
        if (Date.now() > deadline) throw new Error(`subscriber ${i + 1}: no upstream subscription on ${name}`);
        await sleep(200);
      }
    }
    await sleep(1000);
    for (const p of cluster.processes) if (p.role === 'gateway') p.killable = false;
    const chaos = await runChaos(cluster, { ...options, log });

    const revisions = await finalRevisions(cluster);
    // Events are delivered asynchronously: give the subscribers a few seconds to catch up.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && subs.some((s) => missed(s, revisions).length > 0)) await sleep(500);

    const gatewayOperations: Record<string, number> = {};
    const subgraphMutations: Record<string, number> = {};
    for (const p of cluster.processes) {
      if (p.role === 'gateway') gatewayOperations[p.name] = metricSum(await cluster.metrics(p.name), 'lcm_gateway_operation_duration_seconds_count');
      else if (['definitions', 'workers', 'sessions', 'score-reports'].includes(p.role)) {
        subgraphMutations[p.name] = metricSum(await cluster.metrics(p.name), 'lcm_subgraph_operation_seconds_count', /type="mutation"/);
      }
    }
    return {
      chaos,
      runDir: cluster.runDir,
      subscribers: subs.map((s, i) => ({
        gateway: replicas > 1 ? `gateway-${i + 1}` : 'gateway',
        events: s.events.filter((e) => e.data).length,
        missed: missed(s, revisions),
        errors: s.events.filter((e) => e.errors?.length).length,
      })),
      gatewayOperations,
      subgraphMutations,
      balanced: Object.fromEntries(await Promise.all(Object.entries(cluster.balancers).map(async ([k, b]) => [k, await b.forwarded()] as const))),
    };
  } finally {
    await Promise.all(subs.map((s) => s.close().catch(() => {})));
    await cluster.stop();
  }
}

export function formatReplicasReport(r: ReplicasReport): string {
  return [
    formatReport(r.chaos),
    `  subscribers: ${r.subscribers.map((s) => `${s.gateway} ${s.events} events, ${s.missed.length} revisions missed, ${s.errors} errors`).join('; ')}`,
    ...r.subscribers.flatMap((s) => s.missed.slice(0, 10).map((m) => `  missed on ${s.gateway}: ${m}`)),
    `  operations per gateway: ${JSON.stringify(r.gatewayOperations)}`,
    `  mutations per subgraph replica: ${JSON.stringify(r.subgraphMutations)}`,
    `  connections per replica through each balancer: ${JSON.stringify(r.balanced)}`,
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const options = chaosOptionsFromEnv({ sessions: 16, chaosSeconds: 0, killEveryMs: 0, settleSeconds: 150, graceSeconds: 30 });
  const started = Date.now();
  const report = await replicasRun(options, (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`));
  console.log(formatReplicasReport(report));
}
