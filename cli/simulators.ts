import { env } from '../core/config.ts';
import type { Logger } from '../core/logging.ts';
import { cmlInstanceServices } from '../simulators/ec2/cml-instances.ts';
import { startEc2Simulator, type Ec2Simulator } from '../simulators/ec2/index.ts';
import { startGradingSimulator, type GradingSimulator } from '../simulators/grading/index.ts';
import { startLdsSimulator, type LdsSimulator } from '../simulators/lds/index.ts';

/**
 * The simulated outside world of `lcm up`: an EC2 API whose running instances each serve a CML API on
 * their own loopback address, an LDS and a grading engine.
 */
export interface SimulatorFleet {
  ec2: Ec2Simulator;
  lds: LdsSimulator;
  grading: GradingSimulator;
  /** Port every simulated CML server listens on (at its instance's address). */
  cmlPort: number;
  close(): Promise<void>;
}

export async function startCmlSimulatorsOnEc2(options: {
  logger: Logger;
  ec2BootMs?: number;
  cmlBootMs?: number;
  cmlPort?: number;
  /** The 127.B.0.0/16 block of the instances' addresses (default: a random free one). */
  addressBlock?: number;
  sinkUrl?: string;
  /** Bearer token the sink requires (the lablet-controller's events token). */
  sinkToken?: string;
}): Promise<SimulatorFleet> {
  const cmlPort = options.cmlPort ?? env().LCM_SIM_CML_PORT;
  const ec2 = await startEc2Simulator({
    logger: options.logger,
    ...(options.ec2BootMs !== undefined ? { bootMs: options.ec2BootMs } : {}),
    ...(options.addressBlock !== undefined ? { addressBlock: options.addressBlock } : {}),
    instanceServices: cmlInstanceServices({
      port: cmlPort,
      logger: options.logger,
      ...(options.cmlBootMs !== undefined ? { bootMs: options.cmlBootMs } : {}),
    }),
  });
  const sink = { ...(options.sinkUrl ? { sinkUrl: options.sinkUrl } : {}), ...(options.sinkToken ? { sinkToken: options.sinkToken } : {}) };
  const lds = await startLdsSimulator({ logger: options.logger, ...sink });
  const grading = await startGradingSimulator({ logger: options.logger, ...sink });
  return {
    ec2,
    lds,
    grading,
    cmlPort,
    async close() {
      await Promise.allSettled([grading.close(), lds.close(), ec2.close()]);
    },
  };
}
