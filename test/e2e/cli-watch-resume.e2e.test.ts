/**
 * `lcm sessions watch` across a cut connection (issue 12: a client resumes a subscription from the last
 * event it saw). The real `bin/lcm.js` runs as a child process and reaches the gateway through a TCP
 * proxy (test/support/tcp-proxy.ts); the test cuts the proxy, moves the session while the watch is cut
 * off, restores the proxy, and checks that every change is printed exactly once, in order. Without
 * `after:` the watch would read the session after reconnecting and jump over the changes in between.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_EXPIRED_WARNING } from '../../cli/operator/sessions.ts';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { silentLogger } from '../../core/logging.ts';
import { eventually } from '../support/eventually.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { advance, createDefinition, createSession, runningWorker, schedule, transition, type Endpoints } from './fixtures.ts';

const LCM = fileURLToPath(new URL('../../bin/lcm.js', import.meta.url));
const ADMIN = 'cli-watch-resume-admin-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Watch {
  proc: ChildProcess;
  out(): string;
  err(): string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** The status of each line `lcm sessions watch` printed (`<time> <STATUS> …`). */
const statuses = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => /^\S+ \S+\s+([A-Z]+)/.exec(l)?.[1]);

describe('lcm sessions watch resumes after a cut connection', () => {
  let system: RunningSystem;
  let proxy: TcpProxy;
  let e: Endpoints;
  let dir: string;
  let workerId: string;
  let definitionId: string;
  const children: ChildProcess[] = [];

  function watch(id: string): Watch {
    const env: NodeJS.ProcessEnv = { ...process.env, LCM_URL: proxy.url, LCM_TOKEN: ADMIN, LCM_LOG_LEVEL: 'warn' };
    delete env.LCM_ADMIN_TOKEN;
    const proc = spawn(process.execPath, [LCM, 'sessions', 'watch', id], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
    return { proc, out: () => stdout, err: () => stderr, done };
  }

  /** A session watched from PENDING until its first live event (SCHEDULED): the watch holds a cursor. */
  async function watchedAndScheduled(owner: string): Promise<{ id: string; w: Watch }> {
    const id = await createSession(e, definitionId, owner);
    const w = watch(id);
    await eventually('the current state', () => w.out().includes('PENDING'), { timeoutMs: 20_000 });
    await sleep(1_000); // the subscription is open
    await schedule(e, id, workerId);
    await eventually('SCHEDULED, live', () => w.out().includes('SCHEDULED'), { timeoutMs: 10_000 });
    return { id, w };
  }

  beforeAll(async () => {
    system = await startSystem({ gatewayPort: 0, adminToken: ADMIN, simulators: false, controllers: false, logger: silentLogger });
    // The test's own calls go straight to the gateway; only the watch goes through the proxy.
    e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    proxy = await startTcpProxy({ port: Number(new URL(system.gatewayUrl).port) });
    dir = mkdtempSync(join(tmpdir(), 'lcm-watch-resume-'));
    workerId = await runningWorker(e, 'cml-resume');
    definitionId = await createDefinition(e, 'cli-watch-resume');
  }, 60_000);
  afterEach(() => proxy?.restore());
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await proxy?.close();
    await system?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints every change made while it was cut off, once each and in order', { timeout: 60_000 }, async () => {
    const { id, w } = await watchedAndScheduled('resume');

    proxy.cut();
    await advance(e, id, 'INSTANTIATING');
    await advance(e, id, 'READY');
    await transition(e, id, 'RUNNING');
    await sleep(1_500);
    expect(statuses(w.out())).toEqual(['PENDING', 'SCHEDULED']);

    proxy.restore();
    await eventually('RUNNING, after the reconnection', () => w.out().includes('RUNNING'), { timeoutMs: 15_000 });
    await transition(e, id, 'TERMINATED');
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(statuses(r.stdout)).toEqual(['PENDING', 'SCHEDULED', 'INSTANTIATING', 'READY', 'RUNNING', 'TERMINATED']);
    expect(proxy.stats().accepted).toBeGreaterThanOrEqual(2); // it did reconnect through the proxy
  });

  it('says so on stderr when the history it missed has expired, prints the current state and goes on', { timeout: 60_000 }, async () => {
    const { id, w } = await watchedAndScheduled('expired');

    proxy.cut();
    // The embedded bus keeps at most this many events per topic (default 10 000): keeping one makes
    // the watch's cursor fall out of the history as soon as a few more events are published.
    const bus = system.deps.bus as unknown as { maxEventsPerTopic: number };
    expect(typeof bus.maxEventsPerTopic).toBe('number');
    const kept = bus.maxEventsPerTopic;
    bus.maxEventsPerTopic = 1;
    try {
      await advance(e, id, 'INSTANTIATING');
      await advance(e, id, 'READY');
      await transition(e, id, 'RUNNING');
      proxy.restore();
      await eventually('the warning', () => w.err().includes(HISTORY_EXPIRED_WARNING), { timeoutMs: 15_000 });
      await eventually('the current state', () => w.out().includes('RUNNING'), { timeoutMs: 10_000 });
    } finally {
      bus.maxEventsPerTopic = kept;
    }
    await sleep(1_000); // the fresh subscription is open
    await transition(e, id, 'COLLECTING');
    await eventually('COLLECTING, live again', () => w.out().includes('COLLECTING'), { timeoutMs: 10_000 });
    await transition(e, id, 'TERMINATED');
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${HISTORY_EXPIRED_WARNING}\n`);
    // The changes that expired are not invented: the watch jumps from SCHEDULED to the current state.
    expect(statuses(r.stdout)).toEqual(['PENDING', 'SCHEDULED', 'RUNNING', 'COLLECTING', 'TERMINATED']);
  });
});
