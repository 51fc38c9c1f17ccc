/**
 * TCP cuts between roles (issue 12): a `Link` for `startCluster` that puts a TCP proxy
 * (test/support/tcp-proxy.ts) on every connection one process opens to another — gateway → each
 * subgraph, every LCM process → etcd and → the database, each controller replica → gateway and → each
 * simulator, the LDS and grading simulators → lablet-controller-1 (their event sink) — grouped by role
 * pair (`lablet-controller→gateway` holds both replicas' proxies), and a `Disruption` that cuts the
 * pairs one after another.
 *
 * Each round takes the next pair of a shuffled round-robin and either
 *   - cuts it: every connection reset, new ones refused, for `holdMs`; or
 *   - blackholes it: connections stay open and silent for `holdMs`; on restore the connections that lost
 *     bytes stay stranded for good (half-open, as when a peer vanishes without a FIN), so only a client
 *     with a timeout or a keepalive gets out of them: a missing timeout shows as a wedged process or a
 *     stuck session, and the proxy counts how long clients took to leave.
 * Modes alternate along the order and flip on each pass, so a pass covers every pair once and two
 * passes cover every pair in both modes.
 *
 * Per round it records what was observed: connections open when the round began, whether a process on
 * the cut side reported not ready during the cut, how long after the restore every process of that side
 * answered `/readyz` again and bytes crossed the pair again, and the warn/error lines those processes
 * logged meanwhile.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProxyStats } from '../support/tcp-proxy.ts';
import type { HubAnswer, HubRequest } from './link-hub.ts';
import { runChaos, type ChaosOptions, type ChaosReport, type Disruption } from './chaos.ts';
import { startCluster, type Cluster, type Link } from './cluster.ts';

export type CutMode = 'cut' | 'blackhole';

/** The proxies of one role pair, e.g. `lablet-controller→gateway` (one proxy per process). */
export interface RolePair {
  name: string;
  /** Role of the connecting side (controller replicas share it). */
  from: string;
  /** The target as cluster.ts names it (`etcd`, `mongo`, `gateway`, a subgraph, `sim-ec2`, …). */
  to: string;
  /** One proxy (its index in the hub) per connecting process. */
  proxies: Array<{ process: string; proxy: number }>;
}

export interface CutRound {
  pair: string;
  mode: CutMode;
  /** Lane (concurrent loop) that acted it. */
  lane: number;
  startedAt: number;
  /** How long the pair was cut or blackholed. */
  heldMs: number;
  /** Client connections open through the pair's proxies when the round began. */
  openConnections: number;
  /** A process of the connecting side answered `/readyz` 503 (or not at all) during the cut. */
  notReadySeen: boolean;
  /** From the restore to every connecting process answering `/readyz` 200 (undefined: not within the watch). */
  readyAfterMs?: number;
  /** From the restore to the first byte forwarded across the pair (undefined: none within the watch). */
  trafficAfterMs?: number;
  /** Warn and error log lines the connecting processes wrote from the cut to the end of the round. */
  warnLines: number;
  /** Connections left stranded by a blackhole round. */
  stranded: number;
}

export interface PairFigures {
  pair: string;
  rounds: number;
  cut: number;
  blackhole: number;
  secondsCut: number;
  maxReadyAfterMs: number | null;
  maxTrafficAfterMs: number | null;
  notReadyRounds: number;
  warnLines: number;
  /** Connections the proxies accepted on this pair over the run (0: the role never uses this target). */
  connections: number;
  stranded: number;
  /** Stranded connections their clients closed, and the longest time they took. */
  strandedClosed: number;
  strandedClosedMaxMs: number | null;
  /** Stranded connections still open at the end (a client that never noticed: idle pool or a hang). */
  strandedOpen: number;
}

export interface Links {
  link: Link;
  pairs(): RolePair[];
  rounds(): CutRound[];
  figures(): Promise<PairFigures[]>;
  /** Adds a round to `rounds()` (what `linkCuts` calls). */
  record(round: CutRound): void;
  /** Acts on the proxies of a pair. */
  set(pair: RolePair, mode: CutMode | 'restore', strand?: boolean): Promise<void>;
  stats(pair: RolePair): Promise<Array<ProxyStats & { connections: number }>>;
  /** Close the proxies and their process. */
  close(): Promise<void>;
}

type Request = HubRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** The proxies' process (link-hub.ts) and a call to it. */
function startHub(): { call<T>(r: Request): Promise<T>; stop(): Promise<void> } {
  const child: ChildProcess = fork(fileURLToPath(new URL('./link-hub.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 0;
  child.on('message', (a: HubAnswer) => {
    const w = waiting.get(a.id);
    waiting.delete(a.id);
    if (a.ok) w?.resolve(a.value);
    else w?.reject(new Error(`link hub: ${a.error}`));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`link hub exited (${code})`));
    waiting.clear();
  });
  return {
    call<T>(r: Request) {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ ...r, id });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.send({ id: next++, op: 'close' });
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `lablet-controller-2` → `lablet-controller`; other names are their role already. */
export const roleOf = (processName: string): string => processName.replace(/-\d+$/, '');

/**
 * A `Link` that proxies every process-to-target connection. Targets are URLs on 127.0.0.1 (http or
 * mongodb); the proxy's URL keeps the scheme and path and changes the port.
 */
export function createLinks(): Links {
  const hub = startHub();
  const pairs = new Map<string, RolePair>();
  const roundLog: CutRound[] = [];
  // CML answers on each instance's own address: its proxy follows the instances the EC2 simulator reports.
  let ec2Url: string | undefined;
  const link: Link = async (from, to, url) => {
    const target = new URL(url);
    const port = Number(target.port);
    if (!port) throw new Error(`link ${from}→${to}: no port in ${url}`);
    if (to === 'sim-ec2') ec2Url = url.replace(/\/$/, '');
    if (to === 'sim-cml' && !ec2Url) throw new Error(`link ${from}→sim-cml: the EC2 simulator's URL is not known yet`);
    const started = await hub.call<{ proxy: number; port: number }>({
      op: 'start',
      host: target.hostname,
      port,
      ...(to === 'sim-cml' ? { followEc2: ec2Url } : {}),
    });
    const name = `${roleOf(from)}→${to}`;
    const pair = pairs.get(name) ?? { name, from: roleOf(from), to, proxies: [] };
    pair.proxies.push({ process: from, proxy: started.proxy });
    pairs.set(name, pair);
    return url.replace(`${target.hostname}:${port}`, `127.0.0.1:${started.port}`);
  };
  const links: Links = {
    link,
    pairs: () => [...pairs.values()],
    rounds: () => [...roundLog],
    figures: async () => figures(await Promise.all([...pairs.values()].map(async (p) => ({ pair: p, stats: await links.stats(p) }))), roundLog),
    record: (r) => void roundLog.push(r),
    async set(pair, mode, strand) {
      const ids = pair.proxies.map((x) => x.proxy);
      await hub.call(mode === 'restore' ? { op: 'restore', proxies: ids, strand: strand ?? false } : { op: mode, proxies: ids });
    },
    stats: (pair) => hub.call({ op: 'stats', proxies: pair.proxies.map((x) => x.proxy) }),
    close: () => hub.stop(),
  };
  return links;
}

function figures(pairs: Array<{ pair: RolePair; stats: ProxyStats[] }>, rounds: CutRound[]): PairFigures[] {
  return pairs.map(({ pair: p, stats }) => {
    const mine = rounds.filter((r) => r.pair === p.name);
    const closed = stats.flatMap((s) => s.strandedClosedAfterMs);
    const max = (xs: Array<number | undefined>) => {
      const defined = xs.filter((x): x is number => x !== undefined);
      return defined.length ? Math.max(...defined) : null;
    };
    return {
      pair: p.name,
      rounds: mine.length,
      cut: mine.filter((r) => r.mode === 'cut').length,
      blackhole: mine.filter((r) => r.mode === 'blackhole').length,
      secondsCut: Math.round(mine.reduce((s, r) => s + r.heldMs, 0) / 100) / 10,
      maxReadyAfterMs: max(mine.map((r) => r.readyAfterMs)),
      maxTrafficAfterMs: max(mine.map((r) => r.trafficAfterMs)),
      notReadyRounds: mine.filter((r) => r.notReadySeen).length,
      warnLines: mine.reduce((s, r) => s + r.warnLines, 0),
      connections: stats.reduce((s, x) => s + x.accepted, 0),
      stranded: mine.reduce((s, r) => s + r.stranded, 0),
      strandedClosed: closed.length,
      strandedClosedMaxMs: closed.length ? Math.max(...closed) : null,
      strandedOpen: stats.reduce((s, x) => s + x.strandedOpen, 0),
    };
  });
}

export interface LinkCutOptions {
  /** How long each round holds the cut. */
  holdMs: number;
  /** Pause between one round's end and the next round on the same lane. */
  everyMs: number;
  /** Concurrent loops, each taking its share of the schedule (default 1). */
  lanes?: number;
  /** After the restore, how long to watch for readiness and traffic before the round ends (default 8000). */
  watchMs?: number;
  /** Modes used (default both, alternating). */
  modes?: CutMode[];
  /** Random source for the shuffle (default Math.random). */
  random?: () => number;
}

/**
 * The rounds as a schedule: pass after pass, each a fresh shuffle of every pair, the mode alternating
 * along the pass and flipped on the next, so pass 1 and 2 together cut every pair in both modes.
 */
export function* cutSchedule(pairNames: string[], modes: CutMode[], random: () => number = Math.random): Generator<{ pair: string; mode: CutMode }> {
  if (pairNames.length === 0) return;
  const shuffled = () => {
    const order = [...pairNames];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] as string, order[i] as string];
    }
    return order;
  };
  // Each pair's first mode is fixed by its place in the first pass; every later pass flips it.
  const first = new Map(shuffled().map((pair, i) => [pair, i]));
  for (let pass = 0; ; pass++) {
    for (const pair of shuffled()) yield { pair, mode: modes[((first.get(pair) ?? 0) + pass) % modes.length] as CutMode };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ready(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Warn (40) and error (50+) lines appended to a pino log since `from` bytes. */
function warnLinesSince(file: string, from: number): number {
  let text: string;
  try {
    text = readFileSync(file).subarray(from).toString('utf8');
  } catch {
    return 0;
  }
  return text.split('\n').filter((line) => {
    const m = line.match(/^\{"level":(\d+)/);
    return m !== null && Number(m[1]) >= 40;
  }).length;
}

/**
 * One `Disruption` per lane: each round cuts or blackholes the next pair of the shared schedule for
 * `holdMs`, restores it and watches the recovery; `heal` restores every pair.
 */
export function linkCuts(links: Links, o: LinkCutOptions): Disruption[] {
  const lanes = o.lanes ?? 1;
  const watchMs = o.watchMs ?? 8000;
  let schedule: Generator<{ pair: string; mode: CutMode }> | undefined;
  const next = () => {
    schedule ??= cutSchedule(
      links.pairs().map((p) => p.name).sort(),
      o.modes ?? ['cut', 'blackhole'],
      o.random,
    );
    return schedule.next().value as { pair: string; mode: CutMode } | undefined;
  };
  const healAll = async () => {
    for (const p of links.pairs()) await links.set(p, 'restore');
  };
  const sum = (xs: Array<ProxyStats & { connections: number }>, k: 'connections' | 'strandedOpen') => xs.reduce((s, x) => s + x[k], 0);
  return Array.from({ length: lanes }, (_, lane) => ({
    name: lanes === 1 ? 'link-cuts' : `link-cuts-${lane + 1}`,
    everyMs: o.everyMs,
    heal: healAll,
    async act(c: Cluster): Promise<string> {
      const step = next();
      if (!step) return 'no links to cut';
      const pair = links.pairs().find((p) => p.name === step.pair) as RolePair;
      // The processes on the connecting side (for a shared target, each replica).
      const procs = c.processes.filter((p) => pair.proxies.some((x) => x.process === p.name));
      const logs = procs.map((p) => ({ file: join(c.runDir, `${p.name}.log`), size: logSize(join(c.runDir, `${p.name}.log`)) }));
      const openConnections = sum(await links.stats(pair), 'connections');
      const startedAt = Date.now();
      await links.set(pair, step.mode);
      let notReadySeen = false;
      while (Date.now() - startedAt < o.holdMs) {
        const answers = await Promise.all(procs.map((p) => ready(p.port)));
        if (answers.some((a) => !a)) notReadySeen = true;
        await sleep(Math.min(500, Math.max(0, o.holdMs - (Date.now() - startedAt))));
      }
      const strandedBefore = sum(await links.stats(pair), 'strandedOpen');
      await links.set(pair, 'restore', step.mode === 'blackhole');
      const restoredAt = Date.now();
      const heldMs = restoredAt - startedAt;
      const stranded = sum(await links.stats(pair), 'strandedOpen') - strandedBefore;
      // The recovery: every connecting process ready again, and traffic across the pair again.
      let readyAfterMs: number | undefined;
      let trafficAfterMs: number | undefined;
      while (Date.now() - restoredAt < watchMs && (readyAfterMs === undefined || trafficAfterMs === undefined)) {
        if (trafficAfterMs === undefined) {
          const last = Math.max(...(await links.stats(pair)).map((x) => x.lastForwardAt));
          if (last >= restoredAt) trafficAfterMs = last - restoredAt;
        }
        if (readyAfterMs === undefined && (await Promise.all(procs.map((p) => ready(p.port)))).every(Boolean)) readyAfterMs = Date.now() - restoredAt;
        await sleep(100);
      }
      const warnLines = logs.reduce((s, l) => s + warnLinesSince(l.file, l.size), 0);
      const round: CutRound = { pair: pair.name, mode: step.mode, lane, startedAt, heldMs, openConnections, notReadySeen, warnLines, stranded };
      if (readyAfterMs !== undefined) round.readyAfterMs = readyAfterMs;
      if (trafficAfterMs !== undefined) round.trafficAfterMs = trafficAfterMs;
      links.record(round);
      const ms = (x: number | undefined) => (x === undefined ? `none in ${watchMs} ms` : `${x} ms`);
      return (
        `${step.mode} ${pair.name} for ${(heldMs / 1000).toFixed(1)} s (${openConnections} open, ${stranded} stranded)` +
        `${notReadySeen ? ', not ready during the cut' : ''}; ready again ${ms(readyAfterMs)}, traffic again ${ms(trafficAfterMs)}; ${warnLines} warn/error lines`
      );
    },
  }));
}

/** The per-pair table the tests print (and docs/reliability.md records). */
export function formatPairFigures(figs: PairFigures[]): string {
  const head = '| pair | rounds (cut/blackhole) | s cut | connections | not ready in | ready again ≤ ms | traffic again ≤ ms | warn/error lines | stranded: closed by client (max s) / still open |';
  const rows = [...figs]
    .sort((a, b) => a.pair.localeCompare(b.pair))
    .map((f) => {
      const closed = f.stranded ? `${f.strandedClosed}${f.strandedClosedMaxMs !== null ? ` (${(f.strandedClosedMaxMs / 1000).toFixed(1)})` : ''} / ${f.strandedOpen}` : '—';
      return `| ${f.pair} | ${f.rounds} (${f.cut}/${f.blackhole}) | ${f.secondsCut} | ${f.connections} | ${f.notReadyRounds} | ${f.maxReadyAfterMs ?? '—'} | ${f.maxTrafficAfterMs ?? '—'} | ${f.warnLines} | ${closed} |`;
    });
  return [head, '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

/**
 * A chaos run on a cluster whose every link is proxied, with `linkCuts` as its disruption (and kills
 * only if `killEveryMs` > 0); the report, the rounds and the per-pair figures.
 */
export async function linkChaosRun(
  options: Omit<ChaosOptions, 'log' | 'disruptions'>,
  cuts: LinkCutOptions,
  log: (line: string) => void,
): Promise<ChaosReport & { runDir: string; pairs: PairFigures[]; rounds: CutRound[]; sinkDelivery: Record<string, unknown> }> {
  const links = createLinks();
  try {
    const cluster = await startCluster({ link: links.link });
    log(`cluster up: ${cluster.processes.length} processes, ${links.pairs().length} role pairs proxied, logs in ${cluster.runDir}`);
    try {
      const report = await runChaos(cluster, { ...options, disruptions: linkCuts(links, cuts), log });
      // What the cuts of sim→sink did to the events: the simulators' own delivery counters.
      const sinkDelivery: Record<string, unknown> = {};
      for (const [name, url] of [['sim-lds', cluster.ldsUrl], ['sim-grading', cluster.gradingUrl]] as const) {
        try {
          const state = (await (await fetch(`${url}/_sim/state`, { signal: AbortSignal.timeout(5000) })).json()) as { delivery?: { stats?: unknown; deadLetters?: unknown[] } };
          sinkDelivery[name] = { ...(state.delivery?.stats as object), deadLetterReasons: (state.delivery?.deadLetters ?? []).map((d) => (d as { reason?: string }).reason) };
        } catch (e) {
          sinkDelivery[name] = `unreadable: ${(e as Error).message}`;
        }
      }
      return { ...report, runDir: cluster.runDir, pairs: await links.figures(), rounds: links.rounds(), sinkDelivery };
    } finally {
      await cluster.stop();
    }
  } finally {
    await links.close();
  }
}
