import { join } from 'node:path';
import { env } from '../core/config.ts';
import { createLogger } from '../core/logging.ts';
import type { RoleOptions, Stoppable } from '../core/role.ts';
import { checkSystemPorts, resolveAdminToken, startSystem } from './system.ts';

/** `lcm up`: everything in one process on the embedded stores (what `npm start` runs). */
export async function run(_options: RoleOptions): Promise<Stoppable> {
  const config = env();
  const logger = createLogger('lcm', config.LCM_LOG_LEVEL);
  // The fixed ports first (the gateway's, the simulated instances' CML port), before anything starts
  // or the admin token is written: a port in use is one line naming it (cli/main.ts), nothing half-started.
  const simAddressBlock = 1 + Math.floor(Math.random() * 254);
  await checkSystemPorts({ gatewayPort: config.LCM_GATEWAY_PORT, simAddressBlock, config });
  const admin = resolveAdminToken(config.LCM_ADMIN_TOKEN, join(process.cwd(), '.lcm'));
  const system = await startSystem({
    gatewayPort: config.LCM_GATEWAY_PORT,
    simAddressBlock,
    adminToken: admin.token,
    ...(config.LCM_MONGODB_URI ? { mongoUri: config.LCM_MONGODB_URI, mongoDb: config.LCM_MONGODB_DB } : {}),
    ...(config.LCM_ETCD_ENDPOINTS ? { etcdEndpoints: config.LCM_ETCD_ENDPOINTS } : {}),
    ec2BootMs: config.LCM_SIM_EC2_BOOT_MS,
    cmlBootMs: config.LCM_SIM_CML_BOOT_MS,
    config,
    logger,
  });
  const banner = [
    `LCM is up: dashboard ${system.gatewayUrl}/ · GraphQL ${system.gatewayUrl}/graphql (public; GraphiQL in a browser) and ${system.gatewayUrl}/internal/graphql (internal)`,
    `  storage: ${system.deps.storage.kind}; coordination: ${config.LCM_ETCD_ENDPOINTS ? 'etcd' : 'embedded'}`,
  ];
  if (admin.generated) banner.push(`  admin token (printed once; also in ${admin.file}): ${admin.token}`);
  else if (admin.file) banner.push(`  admin token: in ${admin.file}`);
  else banner.push('  admin token: LCM_ADMIN_TOKEN');
  if (system.simulators) {
    const s = system.simulators;
    banner.push(`  simulators: EC2 ${s.ec2.url} (CML on each instance, port ${s.cmlPort}), LDS ${s.lds.url}, grading ${s.grading.url}`);
  }
  for (const c of system.controllers) banner.push(`  ${c.name}: ${c.url} (/healthz, /readyz, /metrics${c.name === 'lablet-controller' ? ', CloudEvents at /events' : ''})`);
  banner.push(`  workers scale up on demand from ${config.LCM_MIN_WORKERS} and down after ${config.LCM_SCALE_DOWN_IDLE_SECONDS} s idle`);
  return { banner, stop: () => system.stop() };
}
