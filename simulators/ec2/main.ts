import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { env } from '../../core/config.ts';
import { createLogger } from '../../core/logging.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { cmlInstanceServices } from './cml-instances.ts';
import { startEc2Simulator } from './index.ts';

/**
 * `lcm sim ec2 [--port N] [--host H] [--username U --password P]`: the EC2 API simulator (port 0 = any
 * free port; the URL is printed). Boot time from `LCM_SIM_EC2_BOOT_MS`. Every running instance serves
 * a CML simulator at `http://<its private IP>:<LCM_SIM_CML_PORT, default 8443>` with the given
 * credentials (default admin / admin). Faults are injected over HTTP (`/_sim/faults`).
 */
export async function run(options: RoleOptions): Promise<Stoppable> {
  const config = env();
  const logger = createLogger('sim-ec2', config.LCM_LOG_LEVEL);
  const cmlPort = config.LCM_SIM_CML_PORT;
  const sim = await startEc2Simulator({
    port: options.port ?? 0,
    host: typeof options.host === 'string' ? options.host : '127.0.0.1',
    logger,
    metrics: createMetricsRegistry(true, { role: 'sim-ec2' }),
    instanceServices: cmlInstanceServices({
      port: cmlPort,
      logger,
      ...(typeof options.username === 'string' ? { username: options.username } : {}),
      ...(typeof options.password === 'string' ? { password: options.password } : {}),
    }),
  });
  return {
    banner: [
      `EC2 simulator listening on ${sim.url}`,
      `  region ${sim.region}, account ${sim.accountId}, any credentials; instances boot in ${sim.timings.bootMs} ms on ${sim.addressPrefix}.0.0/16`,
      `  each running instance serves CML on http://<private IP>:${cmlPort}`,
      `  faults: POST ${sim.url}/_sim/faults   state: GET ${sim.url}/_sim/state`,
    ],
    stop: () => sim.close(),
  };
}
