/**
 * A client written by someone else works against the simulator unchanged: Cisco's own Python client,
 * virl2-client 2.9.1, builds a lab node by node, starts it, waits for convergence, extracts and reads a
 * node's configuration, downloads the lab and tears it down (virl2-client-flow.py). The downloaded YAML
 * is then imported again and behaves like the lab it came from.
 *
 * virl2-client lives in a venv outside the repository that scripts/install-test-services.sh creates
 * (`npm test` and CI run it first). Without it this test fails and says so; it never skips.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startCmlSimulator, type CmlSimulator } from './index.ts';

const VENV =
  process.env.LCM_VIRL2_VENV ?? path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'lcm-test', 'virl2-venv');
const PYTHON = path.join(VENV, 'bin', 'python');
const SCRIPT = fileURLToPath(new URL('../../test/support/simulators/virl2-client-flow.py', import.meta.url));

interface ScriptOutput {
  controller_version: string;
  lab: { id: string; title: string; description: string; notes: string };
  interfaces: Record<string, string[]>;
  r2_slot1: { label: string; slot: number };
  link: { id: string; ends: string[]; connected: boolean[] };
  extract_before_start: { status: number; message: string } | null;
  converged: boolean;
  lab_state: string;
  node_states: Record<string, string>;
  link_state: string;
  cpu_usage: Record<string, number>;
  consoles: Record<string, number>;
  configuration: Record<string, string>;
  joined: { id: string; nodes: string[]; links: number; r1_configuration: string } | null;
  download: string;
  state_after_stop: string;
  state_after_wipe: string;
  labs_after_remove: string[];
  logout: boolean;
}

function runScript(sim: CmlSimulator): Promise<ScriptOutput> {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `CML's Python client (virl2-client) is not installed: ${PYTHON} is missing. ` +
        'Run `bash scripts/install-test-services.sh` (npm test and CI run it) to create the venv.',
    );
  }
  return new Promise((resolve, reject) => {
    // cwd outside the repository: virl2-client reads a .virlrc from the working directory upwards.
    const child = spawn(PYTHON, [SCRIPT, sim.url, sim.username, sim.password], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`virl2-client-flow.py exited with ${code}:\n${stderr.slice(-4000)}`));
      try {
        resolve(JSON.parse(stdout) as ScriptOutput);
      } catch {
        reject(new Error(`virl2-client-flow.py printed no JSON:\n${stdout.slice(0, 2000)}\n${stderr.slice(-2000)}`));
      }
    });
  });
}

let sim: CmlSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A raw caller of the simulator's API with a fresh token. */
async function api(s: CmlSimulator) {
  const auth = await fetch(`${s.url}/api/v0/authenticate`, {
    method: 'POST',
    body: JSON.stringify({ username: s.username, password: s.password }),
  });
  const token = (await auth.json()) as string;
  return async (method: string, pathname: string, body?: string): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${s.url}/api/v0${pathname}`, { method, body, headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
  };
}

describe('virl2-client, CML\'s own Python client, against the simulator', () => {
  it('builds, starts, converges, extracts, downloads and removes a lab; the download imports and runs again', async () => {
    sim = await startCmlSimulator({ bootMs: 150, jitter: 0 });
    const out = await runScript(sim);

    expect(out.controller_version).toBe('2.9.1+build.7');
    expect(out.lab).toMatchObject({ title: 'third-party-client', description: 'built node by node by virl2-client', notes: 'r1 <-> r2' });
    // populate_interfaces gave r1 its Loopback0 and the four default interfaces; r2 got one, then slot 1 in bulk
    expect(out.interfaces).toEqual({
      r1: ['Loopback0', 'GigabitEthernet0/0', 'GigabitEthernet0/1', 'GigabitEthernet0/2', 'GigabitEthernet0/3'],
      r2: ['GigabitEthernet0/0', 'GigabitEthernet0/1'],
    });
    expect(out.r2_slot1).toEqual({ label: 'GigabitEthernet0/1', slot: 1 });
    expect(out.link.ends).toEqual(['r1:GigabitEthernet0/0', 'r2:GigabitEthernet0/0']);
    expect(out.link.connected).toEqual([true, false]);
    expect(out.extract_before_start).toMatchObject({ status: 400, message: expect.stringContaining('not BOOTED') });

    expect(out).toMatchObject({ converged: true, lab_state: 'STARTED', node_states: { r1: 'BOOTED', r2: 'BOOTED' }, link_state: 'STARTED' });
    expect(out.cpu_usage.r1).toBeGreaterThan(0);
    expect(out.consoles).toEqual({ r1: 2, r2: 2 });

    const r1 = out.configuration.r1!;
    expect(r1).toMatch(/^hostname r1$/m);
    expect(r1).toContain('interface GigabitEthernet0/0\n ip address 10.0.0.1 255.255.255.252\n no shutdown\n');
    expect(r1).toContain('interface Loopback0\n');
    expect(r1.trimEnd().endsWith('end')).toBe(true);
    expect(out.configuration.r2).toMatch(/^hostname r2$/m);
    expect(out.joined).toEqual({ id: out.lab.id, nodes: ['r1', 'r2'], links: 1, r1_configuration: r1 });

    expect(out).toMatchObject({ state_after_stop: 'STOPPED', state_after_wipe: 'DEFINED_ON_CORE', labs_after_remove: [], logout: true });

    // The downloaded YAML carries the extracted configurations and imports again.
    const topology = parseYaml(out.download) as {
      lab: { title: string; version: string };
      nodes: Array<{ id: string; label: string; configuration: string; interfaces: unknown[] }>;
      links: Array<{ n1: string; n2: string }>;
    };
    expect(topology.lab).toMatchObject({ title: 'third-party-client', version: '0.3.0' });
    expect(topology.nodes.map((n) => [n.label, n.interfaces.length])).toEqual([
      ['r1', 5],
      ['r2', 2],
    ]);
    expect(topology.nodes[0]!.configuration).toBe(r1);
    expect(topology.links).toEqual([expect.objectContaining({ n1: 'n0', n2: 'n1' })]);

    const call = await api(sim);
    const imported = await call('POST', '/import', out.download);
    expect(imported).toMatchObject({ status: 200, json: { warnings: [] } });
    const labId = (imported.json as { id: string }).id;
    expect((await call('PUT', `/labs/${labId}/start`)).status).toBe(204);
    for (let i = 0; (await call('GET', `/labs/${labId}/check_if_converged`)).json !== true; i++) {
      if (i > 500) throw new Error('the re-imported lab did not converge');
      await new Promise((r) => setTimeout(r, 10));
    }
    const nodes = (await call('GET', `/labs/${labId}/nodes?data=true`)).json as Array<{ id: string; label: string; state: string }>;
    expect(nodes.map((n) => [n.label, n.state])).toEqual([
      ['r1', 'BOOTED'],
      ['r2', 'BOOTED'],
    ]);
    // Started from its extracted configuration, the node shows the same running configuration.
    const r1Id = nodes.find((n) => n.label === 'r1')!.id;
    expect((await call('PUT', `/labs/${labId}/nodes/${r1Id}/extract_configuration`)).status).toBe(200);
    expect(((await call('GET', `/labs/${labId}/nodes/${r1Id}`)).json as { configuration: string }).configuration).toBe(r1);
  }, 90_000);
});
