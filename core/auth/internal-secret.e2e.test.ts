/**
 * Processes starting together on one machine agree on the generated internal secret (issue 12: two
 * processes could each write a different `.lcm/internal-secret`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveInternalSecret } from './internal-secret.ts';

const MODULE = fileURLToPath(new URL('./internal-secret.ts', import.meta.url));

function secretFromAnotherProcess(dir: string): Promise<string> {
  const code = `const { resolveInternalSecret } = await import(${JSON.stringify(MODULE)}); process.stdout.write(resolveInternalSecret(undefined, ${JSON.stringify(dir)}));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (status) => (status === 0 ? resolve(out) : reject(new Error(`exit ${status}: ${err}`))));
  });
}

describe('the generated internal secret', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is the same for processes that start together, and is what the file holds', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      const dir = join(mkdtempSync(join(tmpdir(), 'lcm-secret-')), '.lcm');
      dirs.push(dir);
      const secrets = await Promise.all(Array.from({ length: 6 }, () => secretFromAnotherProcess(dir)));
      expect(new Set(secrets).size).toBe(1);
      expect(secrets[0]).toHaveLength(43);
      expect(readFileSync(join(dir, 'internal-secret'), 'utf8').trim()).toBe(secrets[0]);
      expect(resolveInternalSecret(undefined, dir)).toBe(secrets[0]);
    }
  });

  it('prefers LCM_INTERNAL_SECRET, and leaves no draft files behind', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lcm-secret-')), '.lcm');
    dirs.push(dir);
    expect(resolveInternalSecret('a-configured-secret-of-enough-length', dir)).toBe('a-configured-secret-of-enough-length');
    const generated = resolveInternalSecret(undefined, dir);
    expect(resolveInternalSecret(undefined, dir)).toBe(generated);
    expect(readFileSync(join(dir, 'internal-secret'), 'utf8')).toBe(`${generated}\n`);
    expect(readdirSync(dir)).toEqual(['internal-secret']);
  });
});
