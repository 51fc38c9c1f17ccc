import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { env } from '../../core/config.ts';
import { createLogger } from '../../core/logging.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { simulatorRoleOptions } from '../shared/role-options.ts';
import { startLdsSimulator } from './index.ts';

/** Default port of `lcm sim lds` when `--port` is not given. */
export const LDS_SIM_DEFAULT_PORT = 4110;

/** `lcm sim lds [--port N] [--host H] [--sink URL] [--sink-token TOKEN]`: the LDS simulator alone. */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const { port, host, sinkUrl, sinkToken } = simulatorRoleOptions(options, LDS_SIM_DEFAULT_PORT);
  const sim = await startLdsSimulator({
    port,
    host,
    sinkUrl,
    sinkToken,
    logger: createLogger('sim-lds', env().LCM_LOG_LEVEL),
    registry: createMetricsRegistry(true, { role: 'sim-lds' }),
  });
  return {
    banner: [
      `LDS simulator on ${sim.url} (Reservations API v3 under /reservations/v3, facade under /sessions)`,
      `CloudEvents sink: ${sinkUrl ? `${sinkUrl} (with a bearer token)` : 'none (set one with POST /_sim/config {"sinkUrl": ..., "sinkToken": ...})'}`,
    ],
    stop: () => sim.close(),
  };
}
