import { defineStateMachine } from '../../core/domain/state-machine.ts';

/**
 * The EC2 instance model the simulator exposes: the six lifecycle states with their real codes
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceState.html) and the read-only
 * view of an instance handed to tests and to instance services.
 */
export const INSTANCE_STATE_CODES = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
} as const;

export type InstanceStateName = keyof typeof INSTANCE_STATE_CODES;

/** The lifecycle EC2 drives an instance through (stop/start for EBS-backed instances). */
export const instanceStateMachine = defineStateMachine<InstanceStateName>('Ec2Instance', {
  pending: ['running', 'shutting-down'],
  running: ['stopping', 'shutting-down'],
  stopping: ['stopped', 'shutting-down'],
  stopped: ['pending', 'shutting-down'],
  'shutting-down': ['terminated'],
  terminated: [],
});

/** Why an instance last changed state (`StateReason`): e.g. `Client.UserInitiatedShutdown`. */
export interface StateReason {
  code: string;
  message: string;
}

/** Instance status checks as DescribeInstanceStatus reports them. */
export type StatusCheck = 'ok' | 'initializing' | 'impaired' | 'not-applicable';

/** A point-in-time, read-only view of a simulated instance. */
export interface SimInstance {
  readonly instanceId: string;
  readonly reservationId: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly state: InstanceStateName;
  readonly stateCode: number;
  readonly stateReason?: StateReason;
  /** `StateTransitionReason`: e.g. `User initiated (2025-01-01 10:00:00 GMT)`; empty when running. */
  readonly stateTransitionReason: string;
  /** The loopback address the instance "owns" for its whole life; services listen on it. */
  readonly privateIp: string;
  readonly privateDnsName: string;
  /** A second loopback address, new at every start (like a public IPv4), absent unless pending/running. */
  readonly publicIp?: string;
  readonly publicDnsName?: string;
  readonly availabilityZone: string;
  readonly subnetId: string;
  readonly vpcId: string;
  readonly securityGroupIds: readonly string[];
  readonly keyName?: string;
  readonly clientToken?: string;
  readonly amiLaunchIndex: number;
  /** Time of the last launch or start, as EC2 reports `LaunchTime`. */
  readonly launchTime: Date;
  readonly lifecycle: 'on-demand' | 'spot';
  readonly spotInstanceRequestId?: string;
  readonly architecture: string;
  readonly networkInterfaceId: string;
  readonly rootVolumeId: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly instanceStatus: StatusCheck;
  readonly systemStatus: StatusCheck;
}
