import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { env } from '../../core/config.ts';
import { createLogger } from '../../core/logging.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { simulatorRoleOptions } from '../shared/role-options.ts';
import { startGradingSimulator } from './index.ts';

/** Default port of `lcm sim grading` when `--port` is not given. */
export const GRADING_SIM_DEFAULT_PORT = 4120;

/** `lcm sim grading [--port N] [--host H] [--sink URL] [--sink-token TOKEN]`: the grading-engine simulator alone. */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const { port, host, sinkUrl, sinkToken } = simulatorRoleOptions(options, GRADING_SIM_DEFAULT_PORT);
  const sim = await startGradingSimulator({
    port,
    host,
    sinkUrl,
    sinkToken,
    logger: createLogger('sim-grading', env().LCM_LOG_LEVEL),
    registry: createMetricsRegistry(true, { role: 'sim-grading' }),
  });
  return {
    banner: [
      `grading-engine simulator on ${sim.url} (API v1 under /api/v1/sessions, facade under /grading-sessions)`,
      `CloudEvents sink: ${sinkUrl ? `${sinkUrl} (with a bearer token)` : 'none (set one with POST /_sim/config {"sinkUrl": ..., "sinkToken": ...})'}`,
    ],
    stop: () => sim.close(),
  };
}
