import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The secret that signs identities from the gateway to the subgraphs: `LCM_INTERNAL_SECRET`, or one
 * generated once and kept in `.lcm/internal-secret` so separately started processes on one machine
 * (`lcm gateway`, `lcm subgraph …`) agree without configuration.
 */
export function resolveInternalSecret(configured: string | undefined, dir = join(process.cwd(), '.lcm')): string {
  if (configured && configured.length >= 16) return configured;
  const file = join(dir, 'internal-secret');
  if (existsSync(file)) {
    const s = readFileSync(file, 'utf8').trim();
    if (s.length >= 16) return s;
  }
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
