/**
 * The commands as a new user runs them: `lcm up` (what `npm start` runs) and `lcm subgraph <name>`,
 * as child processes in a fresh working directory, stopped with SIGTERM; and what a user sees when a
 * port they need is taken.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
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

/** Something else holding a port (on 0.0.0.0 it takes the port on every local address). */
async function holdPort(port: number, host: string): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

function exited(s: Started): Promise<number | null> {
  if (s.proc.exitCode !== null) return Promise.resolve(s.proc.exitCode);
  return new Promise((resolve) => s.proc.once('exit', (code) => resolve(code)));
}

describe('the lcm command', () => {
  const started: Started[] = [];
  const held: net.Server[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) {
      await stop(s);
      rmSync(s.cwd, { recursive: true, force: true });
    }
    for (const server of held.splice(0)) await new Promise((resolve) => server.close(resolve));
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

  describe('a port in use', () => {
    // Info-level logs: anything that started before the failure would show in the output.
    const verbose = { LCM_LOG_LEVEL: 'info' };

    it('lcm up names the gateway port, exits non-zero, and starts nothing (no token written, one line out)', { timeout: 60_000 }, async () => {
      const port = await freePort();
      held.push(await holdPort(port, '127.0.0.1'));
      const s = start(['up'], { ...verbose, LCM_GATEWAY_PORT: String(port), LCM_SIM_CML_PORT: String(await freePort()) });
      started.push(s);
      const code = await exited(s);
      expect(code).toBe(1);
      expect(s.output().trim()).toBe(
        `lcm: port ${port} is already in use, and the gateway needs it: stop what listens on it or set LCM_GATEWAY_PORT to another port`,
      );
      expect(existsSync(join(s.cwd, '.lcm'))).toBe(false);
    });

    it('lcm up names the simulated instances\' CML port when something holds it on the wildcard address', { timeout: 60_000 }, async () => {
      // The CML servers bind each instance's own 127.B.x.y address, so 127.0.0.1 alone does not
      // conflict; a listener on 0.0.0.0 does, and must be caught before the gateway starts.
      const cmlPort = await freePort('0.0.0.0');
      held.push(await holdPort(cmlPort, '0.0.0.0'));
      const gatewayPort = await freePort();
      const s = start(['up'], { ...verbose, LCM_GATEWAY_PORT: String(gatewayPort), LCM_SIM_CML_PORT: String(cmlPort) });
      started.push(s);
      expect(await exited(s)).toBe(1);
      expect(s.output().trim()).toBe(
        `lcm: port ${cmlPort} is already in use, and the CML simulator of every simulated EC2 instance needs it: stop what listens on it or set LCM_SIM_CML_PORT to another port`,
      );
      expect(existsSync(join(s.cwd, '.lcm'))).toBe(false);
      // The gateway never bound its port.
      held.push(await holdPort(gatewayPort, '127.0.0.1'));
    });

    it('lcm up does not mistake a listener on 127.0.0.1 alone for a conflict on the CML port', { timeout: 90_000 }, async () => {
      const cmlPort = await freePort();
      held.push(await holdPort(cmlPort, '127.0.0.1'));
      const s = start(['up'], { LCM_GATEWAY_PORT: String(await freePort()), LCM_SIM_CML_PORT: String(cmlPort) });
      started.push(s);
      await expect.poll(() => s.output(), { timeout: 60_000, interval: 200 }).toContain('LCM is up');
    });

    for (const args of [['gateway'], ['subgraph', 'sessions'], ['sim', 'cml'], ['sim', 'ec2']]) {
      it(`lcm ${args.join(' ')} --port <taken> says so in one line and exits non-zero`, { timeout: 60_000 }, async () => {
        const port = await freePort();
        held.push(await holdPort(port, '127.0.0.1'));
        const s = start([...args, '--port', String(port)], { LCM_LOG_LEVEL: 'error' });
        started.push(s);
        expect(await exited(s)).toBe(1);
        expect(s.output().trim()).toBe(`lcm: port ${port} is already in use on 127.0.0.1: stop what listens on it or choose another with --port`);
      });
    }
  });
});
