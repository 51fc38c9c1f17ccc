import http from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { EnvSchema, parseConfig } from '../../core/config.ts';
import { silentLogger, type Logger } from '../../core/logging.ts';
import { listen, type RunningServer } from '../../core/ops/ops-server.ts';
import { LoopbackAddressPool } from './addresses.ts';
import { Ec2Api } from './api.ts';
import { Ec2Faults } from './faults.ts';
import { InstanceFleet, type FleetTimings, type InstanceServices } from './fleet.ts';
import { createEc2RequestHandler, type RequestHandler } from './http.ts';
import { DEFAULT_IMAGES, ImageCatalogue, type SimImageSeed } from './images.ts';
import { DEFAULT_INSTANCE_TYPES, type InstanceTypeInfo } from './instance-types.ts';
import type { InstanceStateName, SimInstance } from './model.ts';

/**
 * The EC2 API simulator: a faithful stand-in for the EC2 Query API (the subset LCM's worker
 * controller uses) that the real `@aws-sdk/client-ec2` talks to unchanged, given
 * `endpoint: sim.url` and any credentials and region. See README.md beside this file.
 *
 * `startEc2Simulator` listens on a port; `createEc2Simulation` gives the same simulator as a request
 * handler to mount in another server.
 */
export type { InstanceServiceHandle, InstanceServices, FleetTimings } from './fleet.ts';
export type { SimImageSeed } from './images.ts';
export type { InstanceTypeInfo } from './instance-types.ts';
export type { InstanceStateName, SimInstance, StateReason, StatusCheck } from './model.ts';
export { INSTANCE_STATE_CODES } from './model.ts';
export { Ec2Faults, type FaultsSnapshot, type FaultsRequest } from './faults.ts';
export { DEFAULT_IMAGES } from './images.ts';
export { DEFAULT_INSTANCE_TYPES } from './instance-types.ts';
export { EC2_API_VERSION, EC2_XML_NAMESPACE } from './api.ts';

export interface Ec2SimulatorOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** pending → running; default `LCM_SIM_EC2_BOOT_MS`, else 3000. */
  bootMs?: number;
  /** stopping → stopped; default the boot time. */
  stopMs?: number;
  /** shutting-down → terminated; default the boot time. */
  terminateMs?: number;
  /** How long terminated instances stay visible; default 3 minutes. */
  terminatedRetentionMs?: number;
  /** Status checks go from `initializing` to `ok` this long after the instance service is up; default 0. */
  statusCheckMs?: number;
  /** Region the simulated account lives in (availability zones, DNS names); default us-east-1. */
  region?: string;
  /** The simulated account id (`Owners: ['self']`, `ownerId`); default 123456789012. */
  accountId?: string;
  /** The AMI catalogue; default `DEFAULT_IMAGES` (CML-2.x images plus two public OS images). */
  images?: readonly SimImageSeed[];
  /** Accepted instance types; default `DEFAULT_INSTANCE_TYPES`. */
  instanceTypes?: Readonly<Record<string, InstanceTypeInfo>>;
  /** Most live (not terminated) instances at once; beyond it RunInstances fails with InstanceLimitExceeded. Default 1000. */
  instanceLimit?: number;
  /** Give instances a public address (a second loopback address, new at each start). Default true. */
  associatePublicIp?: boolean;
  /** Pin the 127.B.0.0/16 block instance addresses come from (default: a random free one). */
  addressBlock?: number;
  /** A service each running instance exposes on its private address (e.g. `cmlInstanceServices`). */
  instanceServices?: InstanceServices;
  logger?: Logger;
  /** Serve `/healthz`, `/readyz`, `/metrics` from this registry and count API calls in it. */
  metrics?: Registry;
}

/** The simulator without a listening socket: mount `handler` in any Node HTTP server. */
export interface Ec2Simulation {
  readonly handler: RequestHandler;
  /** Inject faults at run time (also `POST /_sim/faults`). */
  readonly faults: Ec2Faults;
  readonly region: string;
  readonly accountId: string;
  readonly timings: Readonly<FleetTimings>;
  /** The loopback block instance addresses come from, e.g. `127.42`. */
  readonly addressPrefix: string;
  /** Every instance still known (terminated ones until they vanish), in launch order. */
  instances(): SimInstance[];
  instance(instanceId: string): SimInstance | undefined;
  /** Resolve when the instance reaches `state`. */
  waitForState(instanceId: string, state: InstanceStateName, timeoutMs?: number): Promise<SimInstance>;
  /** Be told of every instance state or status change; returns the unsubscribe function. */
  onChange(listener: (instance: SimInstance) => void): () => void;
  /** Clear every timer and close every instance service. */
  close(): Promise<void>;
}

export interface Ec2Simulator extends Ec2Simulation {
  /** The endpoint to give the SDK, e.g. `http://127.0.0.1:43121`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

const DEFAULT_RETENTION_MS = 3 * 60_000;
const DEFAULT_ACCOUNT_ID = '123456789012';

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new Error(`EC2 simulator option ${name} must be a number ≥ 0, got ${value}`);
  return value;
}

function resolveTimings(options: Ec2SimulatorOptions): FleetTimings {
  const bootMs = options.bootMs ?? parseConfig(EnvSchema.pick({ LCM_SIM_EC2_BOOT_MS: true })).LCM_SIM_EC2_BOOT_MS;
  return {
    bootMs: nonNegative('bootMs', bootMs),
    stopMs: nonNegative('stopMs', options.stopMs ?? bootMs),
    terminateMs: nonNegative('terminateMs', options.terminateMs ?? bootMs),
    terminatedRetentionMs: nonNegative('terminatedRetentionMs', options.terminatedRetentionMs ?? DEFAULT_RETENTION_MS),
    statusCheckMs: nonNegative('statusCheckMs', options.statusCheckMs ?? 0),
  };
}

/** Build the simulator as a request handler (no socket). */
export function createEc2Simulation(options: Ec2SimulatorOptions = {}): Ec2Simulation {
  const logger = options.logger ?? silentLogger;
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const timings = resolveTimings(options);
  const images = new ImageCatalogue(options.images ?? DEFAULT_IMAGES, accountId);
  const addresses = new LoopbackAddressPool(options.addressBlock);
  const fleet = new InstanceFleet({
    timings,
    region,
    accountId,
    addresses,
    associatePublicIp: options.associatePublicIp ?? true,
    services: options.instanceServices,
    logger,
  });
  const faults = new Ec2Faults((instanceId) => fleet.interrupt(instanceId));
  fleet.faults = faults;
  const instanceTypes = options.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
  const api = new Ec2Api({ fleet, images, faults, instanceTypes, instanceLimit: options.instanceLimit ?? 1000, logger });

  const calls = options.metrics
    ? new Counter({
        name: 'lcm_sim_ec2_requests_total',
        help: 'EC2 simulator API calls by action and result code',
        labelNames: ['action', 'code'],
        registers: [options.metrics],
      })
    : undefined;

  const instances = () => fleet.list().map((r) => fleet.snapshot(r));
  const handler = createEc2RequestHandler({
    api,
    faults,
    logger,
    ops: options.metrics ? { registry: options.metrics } : undefined,
    onApiCall: calls ? (r) => calls.inc({ action: r.action ?? '', code: r.code }) : undefined,
    state: () => ({
      region,
      accountId,
      addressPrefix: addresses.prefix,
      timings,
      faults: faults.snapshot(),
      instances: instances(),
      images: images.all().map((image) => ({ ...image, tags: Object.fromEntries(image.tags) })),
    }),
  });

  let closing: Promise<void> | undefined;
  return {
    handler,
    faults,
    region,
    accountId,
    timings,
    addressPrefix: addresses.prefix,
    instances,
    instance: (instanceId) => {
      const record = fleet.get(instanceId);
      return record ? fleet.snapshot(record) : undefined;
    },
    waitForState: (instanceId, state, timeoutMs) => fleet.waitForState(instanceId, state, timeoutMs),
    onChange: (listener) => fleet.onChange(listener),
    close: () => {
      closing ??= fleet.close().finally(() => addresses.close());
      return closing;
    },
  };
}

/** Start the simulator on `host:port` (port 0: any free port). */
export async function startEc2Simulator(options: Ec2SimulatorOptions = {}): Promise<Ec2Simulator> {
  const simulation = createEc2Simulation(options);
  const server = http.createServer(simulation.handler);
  const host = options.host ?? '127.0.0.1';
  let running: RunningServer;
  try {
    running = await listen(server, options.port ?? 0, host);
  } catch (error) {
    await simulation.close();
    throw error;
  }
  (options.logger ?? silentLogger).info({ url: running.url, addressPrefix: simulation.addressPrefix }, 'EC2 simulator listening');
  let closing: Promise<void> | undefined;
  return {
    ...simulation,
    url: running.url,
    host,
    port: running.port,
    close: () => {
      closing ??= Promise.all([running.close(), simulation.close()]).then(() => undefined);
      return closing;
    },
  };
}
