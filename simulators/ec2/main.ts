import type { RoleOptions, Stoppable } from '../../cli/main.ts';
import { createLogger } from '../../core/logging.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { startEc2Simulator } from './index.ts';

/**
 * `lcm sim ec2 [--port N] [--host H]`: the EC2 API simulator alone (port 0 = any free port; the URL
 * is printed). Boot time from `LCM_SIM_EC2_BOOT_MS`. Faults are injected over HTTP (`/_sim/faults`).
 */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const logger = createLogger('sim-ec2');
  const sim = await startEc2Simulator({
    port: options.port ?? 0,
    host: typeof options.host === 'string' ? options.host : '127.0.0.1',
    logger,
    metrics: createMetricsRegistry(true, { role: 'sim-ec2' }),
  });
  return {
    banner: [
      `EC2 simulator listening on ${sim.url}`,
      `  region ${sim.region}, account ${sim.accountId}, any credentials; instances boot in ${sim.timings.bootMs} ms on ${sim.addressPrefix}.0.0/16`,
      `  faults: POST ${sim.url}/_sim/faults   state: GET ${sim.url}/_sim/state`,
    ],
    stop: () => sim.close(),
  };
}
