import type { Logger } from '../../core/logging.ts';
import { startCmlSimulator } from '../cml/index.ts';
import type { InstanceServices } from './fleet.ts';
import { DEFAULT_INSTANCE_TYPES, type InstanceTypeInfo } from './instance-types.ts';

/**
 * Plug the CML simulator into the EC2 simulator: every instance that reaches `running` serves a
 * simulated CML controller on its own private address at `port` (the simulator also forwards the
 * instance's public address to it), sized like the instance type (vCPUs and memory show in CML's
 * `system_stats`); stopping or terminating the instance takes the controller away.
 *
 *   const ec2 = await startEc2Simulator({ instanceServices: cmlInstanceServices({ port: 8443 }) });
 *
 * Every instance has its own address, so one fixed port serves them all. A controller starts fresh at
 * every instance start: unlike a real CML whose disk survives a stop, labs imported before a stop are
 * gone after the next start.
 */
export interface CmlInstanceServicesOptions {
  /** The port every controller listens on (at its instance's address). */
  port: number;
  /** Accepted credentials (default admin / admin). */
  username?: string;
  password?: string;
  /** Lab boot time (default LCM_SIM_CML_BOOT_MS). */
  bootMs?: number;
  /** Instance type sizes for the controllers' hardware (default the EC2 simulator's catalogue). */
  instanceTypes?: Readonly<Record<string, InstanceTypeInfo>>;
  logger?: Logger;
}

export function cmlInstanceServices(options: CmlInstanceServicesOptions): InstanceServices {
  const instanceTypes = options.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
  return {
    async start(instance) {
      const size = instanceTypes[instance.instanceType];
      const cml = await startCmlSimulator({
        host: instance.privateIp,
        port: options.port,
        username: options.username,
        password: options.password,
        bootMs: options.bootMs,
        hostname: instance.privateDnsName.split('.')[0] || instance.instanceId,
        capacity: size ? { cpus: size.vcpus, memoryGb: size.memoryMiB / 1024 } : undefined,
        logger: options.logger?.child({ instanceId: instance.instanceId }),
      });
      return { ports: [cml.port], close: () => cml.close() };
    },
  };
}
