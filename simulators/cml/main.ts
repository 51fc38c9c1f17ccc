/**
 * `lcm sim cml [--port N] [--host H] [--username U --password P]`: one simulated CML controller alone.
 * The lab boot time comes from LCM_SIM_CML_BOOT_MS (default 2000 ms).
 */
import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { env } from '../../core/config.ts';
import { createLogger } from '../../core/logging.ts';
import { startCmlSimulator } from './index.ts';

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

export async function run(options: RoleOptions): Promise<Stoppable> {
  const config = env();
  const sim = await startCmlSimulator({
    host: text(options.host) ?? '127.0.0.1',
    port: options.port ?? 0,
    username: text(options.username),
    password: text(options.password),
    bootMs: config.LCM_SIM_CML_BOOT_MS,
    logger: createLogger('sim-cml', config.LCM_LOG_LEVEL),
  });
  return {
    banner: [
      `CML simulator: ${sim.url}/api/v0 (credentials ${sim.username} / ${'*'.repeat(sim.password.length)}, lab boot ≈ ${config.LCM_SIM_CML_BOOT_MS} ms)`,
      `  debug: GET ${sim.url}/_sim/state · POST ${sim.url}/_sim/faults`,
    ],
    stop: () => sim.close(),
  };
}
