/**
 * docs/api.md's TypeScript clients (docs/examples/) run as a partner runs them, against a live system:
 * the typed client books a session, the subscription client follows it to READY. docs/api.md shows the
 * files byte for byte.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { silentLogger } from '../../core/logging.ts';

const ADMIN = 'docs-examples-admin-token-0123456789';
const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** `npx tsx <example> …args` with LCM_URL and LCM_TOKEN; resolves with its exit code and output. */
function runExample(file: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', root(`docs/examples/${file}`), ...args], {
      cwd: root('.'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 45_000);
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('docs/api.md: the TypeScript clients', () => {
  let system: RunningSystem;
  let env: Record<string, string>;

  beforeAll(async () => {
    // The EC2 instance boots in a second, so the follower is usually subscribed before anything changes
    // (it also reads the session's state once, so it reaches READY either way).
    system = await startSystem({ gatewayPort: 0, adminToken: ADMIN, ec2BootMs: 1000, cmlBootMs: 0, logger: silentLogger });
    env = { LCM_URL: system.gatewayUrl, LCM_TOKEN: ADMIN };
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('docs/api.md shows each example file byte for byte', () => {
    const api = readFileSync(root('docs/api.md'), 'utf8');
    for (const file of ['book-session.graphql', 'book-session.ts', 'follow-session.ts']) {
      const block = new RegExp(`<!-- docs/examples/${file.replace('.', '\\.')} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\`\\n`).exec(api);
      expect(block, `docs/api.md has no block for docs/examples/${file}`).not.toBeNull();
      expect(block?.[1]).toBe(readFileSync(root(`docs/examples/${file}`), 'utf8'));
    }
  });

  it('the typed client books a session and the subscription client follows it live to READY', { timeout: 120_000 }, async () => {
    const booked = await runExample('book-session.ts', ['alice'], env);
    expect(booked.stderr).toBe('');
    expect(booked.code).toBe(0);
    const id = booked.stdout.trim();
    expect(id).toMatch(/^\S+$/);

    const followed = await runExample('follow-session.ts', [id], env);
    expect(followed.stderr).toBe('');
    expect(followed.code).toBe(0);
    const lines = followed.stdout.trim().split('\n');
    const statuses = lines.map((line) => line.split(' ')[0]);
    const order = ['PENDING', 'SCHEDULED', 'INSTANTIATING', 'READY'];
    expect(statuses.map((s) => order.indexOf(s ?? ''))).toEqual([...statuses.map((s) => order.indexOf(s ?? ''))].sort((a, b) => a - b));
    expect(lines.at(-1)).toMatch(/^READY on \S+ https?:\/\/\S+$/);

    const { data } = (await (
      await fetch(`${system.gatewayUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
        body: JSON.stringify({ query: 'query($id: ID!) { session(id: $id) { status owner definition { name } } }', variables: { id } }),
      })
    ).json()) as { data: { session: { status: string; owner: string; definition: { name: string } } } };
    expect(data.session).toEqual({ status: 'READY', owner: 'alice', definition: { name: 'hello-router' } });

    // Run again, it finds the definition instead of creating it twice.
    const again = await runExample('book-session.ts', ['bob'], env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).not.toBe(id);
  });
});
