/**
 * The commands as a new user runs them: `lcm up` (what `npm start` runs) and `lcm subgraph <name>`,
 * as child processes in a fresh working directory, stopped with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/services.ts';
import { gql } from '../support/gateway-client.ts';

const LCM = fileURLToPath(new URL('../../bin/lcm.js', import.meta.url));

interface Started {
  proc: ChildProcess;
  output: () => string;
  cwd: string;
}

function start(args: string[], env: Record<string, string> = {}): Started {
  const cwd = mkdtempSync(join(tmpdir(), 'lcm-cli-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LCM_LOG_LEVEL: 'warn', ...env };
  delete childEnv.LCM_ADMIN_TOKEN;
  const proc = spawn(process.execPath, [LCM, ...args], {
    cwd,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out, cwd };
}

async function stop(s: Started): Promise<number | null> {
  if (s.proc.exitCode !== null) return s.proc.exitCode;
  const exited = new Promise<number | null>((resolve) => s.proc.once('exit', (code) => resolve(code)));
  s.proc.kill('SIGTERM');
  return exited;
}

describe('the lcm command', () => {
  const started: Started[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) {
      await stop(s);
      rmSync(s.cwd, { recursive: true, force: true });
    }
  });

  it('lcm up serves the whole system, prints and stores an admin token, and stops cleanly', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const s = start(['up'], { LCM_GATEWAY_PORT: String(port), LCM_SIM_CML_PORT: String(await freePort()) });
    started.push(s);
    await expect.poll(() => s.output(), { timeout: 60_000, interval: 200 }).toContain('LCM is up');
    const token = readFileSync(join(s.cwd, '.lcm', 'admin-token'), 'utf8').trim();
    expect(s.output()).toContain(token);
    const url = `http://127.0.0.1:${port}/graphql`;
    const r = await gql<{ sessions: { totalCount: number }; workers: { totalCount: number } }>(url, token, '{ sessions { totalCount } workers { totalCount } }');
    expect(r.data).toEqual({ sessions: { totalCount: 0 }, workers: { totalCount: 0 } });
    expect((await gql(url, undefined, '{ sessions { totalCount } }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/# TYPE \S+ (histogram|counter|gauge)/);
    started.splice(started.indexOf(s), 1);
    expect(await stop(s)).toBe(0);
    rmSync(s.cwd, { recursive: true, force: true });
  });

  it('lcm subgraph <name> starts one subgraph with health, readiness and metrics', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const s = start(['subgraph', 'sessions', '--port', String(port)]);
    started.push(s);
    await expect.poll(() => s.output(), { timeout: 60_000, interval: 200 }).toContain('sessions subgraph listening');
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(200);
    }
    const anon = await gql(`http://127.0.0.1:${port}/graphql`, undefined, '{ sessions { totalCount } }');
    expect(anon.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('rejects an unknown role with a clear message', async () => {
    const s = start(['subgraph', 'inventory']);
    started.push(s);
    const code = await new Promise<number | null>((resolve) => s.proc.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(s.output()).toContain('unknown subgraph "inventory"');
  });
});
