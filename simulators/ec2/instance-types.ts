/**
 * The instance types the simulator accepts, with their vCPU count and memory. RunInstances with any
 * other type fails with `InvalidParameterValue`, as EC2 does. Covers the families LCM's worker
 * templates use (t3, m5, m5zn) and common neighbours; a simulator can be given its own list.
 */
export interface InstanceTypeInfo {
  vcpus: number;
  memoryMiB: number;
}

function family(prefix: string, sizes: Record<string, [number, number]>): Record<string, InstanceTypeInfo> {
  const out: Record<string, InstanceTypeInfo> = {};
  for (const [size, [vcpus, memoryGiB]] of Object.entries(sizes)) {
    out[`${prefix}.${size}`] = { vcpus, memoryMiB: Math.round(memoryGiB * 1024) };
  }
  return out;
}

const general = (ratio: number): Record<string, [number, number]> => ({
  large: [2, 2 * ratio],
  xlarge: [4, 4 * ratio],
  '2xlarge': [8, 8 * ratio],
  '4xlarge': [16, 16 * ratio],
  '8xlarge': [32, 32 * ratio],
  '12xlarge': [48, 48 * ratio],
  '16xlarge': [64, 64 * ratio],
  '24xlarge': [96, 96 * ratio],
  metal: [96, 96 * ratio],
});

export const DEFAULT_INSTANCE_TYPES: Readonly<Record<string, InstanceTypeInfo>> = {
  ...family('t3', {
    nano: [2, 0.5],
    micro: [2, 1],
    small: [2, 2],
    medium: [2, 4],
    large: [2, 8],
    xlarge: [4, 16],
    '2xlarge': [8, 32],
  }),
  ...family('m5', general(4)),
  ...family('m6i', general(4)),
  ...family('c5', { ...general(2), '9xlarge': [36, 72], '18xlarge': [72, 144] }),
  ...family('r5', general(8)),
  ...family('m5zn', {
    large: [2, 8],
    xlarge: [4, 16],
    '2xlarge': [8, 32],
    '3xlarge': [12, 48],
    '6xlarge': [24, 96],
    '12xlarge': [48, 192],
    metal: [48, 192],
  }),
  ...family('c5n', { metal: [72, 192] }),
  ...family('i3', { metal: [72, 512] }),
  'm1.small': { vcpus: 1, memoryMiB: 1740 },
};

/** EC2's default when RunInstances names no InstanceType. */
export const DEFAULT_RUN_INSTANCE_TYPE = 'm1.small';

export function cpuOptionsOf(info: InstanceTypeInfo): { coreCount: number; threadsPerCore: number } {
  return info.vcpus >= 2 ? { coreCount: info.vcpus / 2, threadsPerCore: 2 } : { coreCount: 1, threadsPerCore: 1 };
}
