import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { resolveInternalSecret } from './internal-secret.ts';

/**
 * The bearer token that senders of CloudEvents (LDS, the grading engine, their simulators) present to
 * the lablet-controller's sink (`POST /events`): `LCM_EVENTS_TOKEN`, or, when unset, one derived from
 * the internal secret (`LCM_INTERNAL_SECRET`, else the generated `.lcm/internal-secret`) as
 * HMAC-SHA256(secret, "lcm-events") in hex. Deriving it means every role of one installation (the
 * controller, `lcm up`'s simulators, `lcm sim lds|grading` on the same machine) agrees without more
 * configuration, while the internal secret itself never leaves the process: a sender that learns the
 * events token cannot sign identities with it.
 */
export const EVENTS_TOKEN_CONTEXT = 'lcm-events';

export function deriveEventsToken(internalSecret: string): string {
  return createHmac('sha256', internalSecret).update(EVENTS_TOKEN_CONTEXT).digest('hex');
}

export function resolveEventsToken(
  config: { LCM_EVENTS_TOKEN?: string | undefined; LCM_INTERNAL_SECRET?: string | undefined },
  dir = join(process.cwd(), '.lcm'),
): string {
  return config.LCM_EVENTS_TOKEN ?? deriveEventsToken(resolveInternalSecret(config.LCM_INTERNAL_SECRET, dir));
}
