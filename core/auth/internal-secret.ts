import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readOrCreateLocalSecret } from './local-secret.ts';

/**
 * The secret that signs identities from the gateway to the subgraphs: `LCM_INTERNAL_SECRET`, or one
 * generated once and kept in `.lcm/internal-secret` so separately started processes on one machine
 * (`lcm gateway`, `lcm subgraph …`) agree without configuration, also when they start together.
 */
export function resolveInternalSecret(configured: string | undefined, dir = join(process.cwd(), '.lcm')): string {
  if (configured && configured.length >= 16) return configured;
  return readOrCreateLocalSecret(join(dir, 'internal-secret'), () => randomBytes(32).toString('base64url')).secret;
}
