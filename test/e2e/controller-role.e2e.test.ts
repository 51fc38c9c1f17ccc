/**
 * `lcm controller <name>` as its own process (the multi-process deployment): it refuses to start
 * without what it needs, naming every missing setting; with etcd and a gateway it serves its health,
 * readiness and metrics and does its job — here the resource-scheduler places a session that a system
 * without controllers holds PENDING.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { silentLogger } from '../../core/logging.ts';
import { eventually } from '../support/eventually.ts';
import { data } from '../support/gateway-client.ts';
import { freePort } from '../support/services.ts';
import { createDefinition, createSession, runningWorker, type Endpoints } from './fixtures.ts';

const LCM = fileURLToPath(new URL('../../bin/lcm.js', import.meta.url));
const ADMIN = 'controller-role-admin-token-0123456789';

interface Child {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  cwd: string;
}

function lcm(args: string[], env: Record<string, string>): Child {
  const cwd = mkdtempSync(join(tmpdir(), 'lcm-controller-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LCM_LOG_LEVEL: 'warn', ...env };
  for (const name of ['LCM_ADMIN_TOKEN', 'LCM_TOKEN', 'LCM_ETCD_ENDPOINTS', 'LCM_URL']) if (!(name in env)) delete childEnv[name];
  const proc = spawn(process.execPath, [LCM, ...args], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited, cwd };
}

describe('lcm controller <name> as its own process', () => {
  const children: Child[] = [];
  let system: RunningSystem;

  beforeAll(async () => {
    system = await startSystem({
      gatewayPort: 0,
      adminToken: ADMIN,
      logger: silentLogger,
      simulators: false,
      controllers: false,
      etcdEndpoints: [inject('etcdEndpoint')],
    });
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.proc.exitCode === null) {
        c.proc.kill('SIGTERM');
        await c.exited;
      }
      rmSync(c.cwd, { recursive: true, force: true });
    }
  });
  afterAll(() => system?.stop());

  it('refuses to start without etcd and a token, listing both, exit code 2', async () => {
    const c = lcm(['controller', 'resource-scheduler', '--port', String(await freePort())], {});
    children.push(c);
    expect(await c.exited).toBe(2);
    expect(c.output()).toMatch(/LCM_ETCD_ENDPOINTS/);
    expect(c.output()).toMatch(/LCM_TOKEN/);
  });

  it('serves /healthz, /readyz and /metrics, and places a PENDING session', { timeout: 90_000 }, async () => {
    const e: Endpoints = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    const workerId = await runningWorker(e, 'cml-standalone');
    // What the worker-controller would report of its CML server: only an observed worker takes sessions.
    await data(e.internalUrl, ADMIN, `mutation($id: ID!) { recordWorkerObservation(id: $id, input: { cmlVersion: "2.9.1+build.7", nodeDefinitions: ["iosv"] }) { id } }`, { id: workerId });
    const sessionId = await createSession(e, await createDefinition(e, 'standalone-scheduler'));
    const port = await freePort();
    const c = lcm(['controller', 'resource-scheduler', '--port', String(port)], {
      LCM_ETCD_ENDPOINTS: inject('etcdEndpoint'),
      LCM_URL: system.gatewayUrl,
      LCM_TOKEN: ADMIN,
    });
    children.push(c);
    const ops = `http://127.0.0.1:${port}`;
    await eventually('the controller to be healthy', async () => (await fetch(`${ops}/healthz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, intervalMs: 200 });
    await eventually('the controller to be ready', async () => (await fetch(`${ops}/readyz`)).status === 200, { timeoutMs: 30_000 });
    const placed = await eventually(
      'the session to be placed by the standalone scheduler',
      async () => {
        const d = await data<{ session: { status: string; worker: { id: string } | null } }>(e.publicUrl, ADMIN, `query($id: ID!) { session(id: $id) { status worker { id } } }`, { id: sessionId });
        return d.session.status === 'SCHEDULED' ? d.session : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(placed.worker?.id).toBe(workerId);
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    expect(metrics).toMatch(/lcm_controller_reconcile_time_seconds_bucket\{[^}]*controller="resource-scheduler"/);
    expect(metrics).toMatch(/lcm_workqueue_depth\{[^}]*name="resource-scheduler"/);
    expect(metrics).toMatch(/lcm_controller_actions_total\{[^}]*action="[a-z-]+"[^}]*outcome="ok"/);
    c.proc.kill('SIGTERM');
    expect(await c.exited).toBe(0);
  });
});
