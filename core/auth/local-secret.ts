import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * A secret kept in a file under `.lcm/` so that the processes of one machine agree on it without
 * configuration (the internal secret, the admin token). Processes starting together agree too: a new
 * secret is written under a private name and hard-linked into place, which fails when another process
 * got there first — its secret is then used. A reader never sees a half-written file.
 */
export function readOrCreateLocalSecret(file: string, generate: () => string, minLength = 16): { secret: string; created: boolean } {
  const existing = readSecret(file, minLength);
  if (existing) return { secret: existing, created: false };
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secret = generate();
  const draft = join(dir, `.draft.${process.pid}.${randomBytes(4).toString('hex')}`);
  writeFileSync(draft, `${secret}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
    return { secret, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const winner = readSecret(file, minLength);
    if (!winner) throw new Error(`${file} exists but holds no secret of at least ${minLength} characters; remove it or configure the secret`);
    return { secret: winner, created: false };
  } finally {
    unlinkSync(draft);
  }
}

function readSecret(file: string, minLength: number): string | undefined {
  if (!existsSync(file)) return undefined;
  const s = readFileSync(file, 'utf8').trim();
  return s.length >= minLength ? s : undefined;
}
