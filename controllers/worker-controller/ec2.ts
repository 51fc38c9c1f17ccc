/**
 * The worker-controller's view of EC2, through the real `@aws-sdk/client-ec2` (against AWS, any
 * EC2-compatible endpoint, or the project's simulator). Every instance LCM launches carries ownership
 * tags, so the controller can find an instance it launched before crashing (adoption) and the
 * instances it owns that no worker accounts for (orphans).
 */
import { createHash } from 'node:crypto';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  paginateDescribeInstances,
  type Filter,
  type Instance,
} from '@aws-sdk/client-ec2';
import type { ControllerDeps } from '../kit/role.ts';
import type { Ec2State, InstanceView } from './decide.ts';

/** Ownership tags on every instance (and its volumes) LCM launches. */
export const TAG = {
  name: 'Name',
  workerId: 'lcm:worker-id',
  template: 'lcm:template',
  managedBy: 'lcm:managed-by',
} as const;
/** Value of `lcm:managed-by`: instances with it are LCM's to adopt or terminate. */
export const MANAGED_BY = 'lablet-cloud-manager';

/** States of an instance that still exists (or is on its way to existing). */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

/** An EC2 error code as the SDK reports it (`error.name`), or undefined. */
export function ec2ErrorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const err = e as { name?: unknown; Code?: unknown };
  return typeof err.Code === 'string' ? err.Code : typeof err.name === 'string' ? err.name : undefined;
}

export const isInsufficientCapacity = (e: unknown): boolean => ec2ErrorCode(e) === 'InsufficientInstanceCapacity';
export const isThrottling = (e: unknown): boolean =>
  ['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'RequestThrottled'].includes(ec2ErrorCode(e) ?? '');
const isNotFound = (e: unknown): boolean => ec2ErrorCode(e) === 'InvalidInstanceID.NotFound';

/**
 * The RunInstances ClientToken of a worker's launch of one instance type: the same worker and type
 * always give the same token (a retry after a crash returns the first launch instead of a second
 * instance); another type after InsufficientInstanceCapacity is a new launch. At most 64 ASCII chars.
 */
export function clientToken(workerId: string, instanceType: string): string {
  const plain = `lcm-${workerId}-${instanceType}`;
  if (plain.length <= 64 && /^[\x21-\x7e]+$/.test(plain)) return plain;
  return `lcm-${createHash('sha256').update(`${workerId}\n${instanceType}`).digest('hex').slice(0, 48)}`;
}

/** What the controller needs from EC2 (a port, so the decision tests need no EC2 at all). */
export interface Ec2Port {
  readonly region: string;
  /** The instance, or 'not-found' when EC2 does not know the id (or no longer shows it). */
  describe(instanceId: string): Promise<InstanceView | 'not-found'>;
  /** The newest live instance tagged for this worker, if any (adoption after a crash). */
  findForWorker(workerId: string): Promise<InstanceView | undefined>;
  /** Every live instance tagged as LCM's. */
  listManaged(): Promise<InstanceView[]>;
  /** The newest available image whose name matches the pattern (DescribeImages, by CreationDate). */
  resolveImage(namePattern: string): Promise<{ imageId: string; name: string }>;
  launch(request: LaunchRequest): Promise<InstanceView>;
  start(instanceId: string): Promise<void>;
  stop(instanceId: string): Promise<void>;
  terminate(instanceId: string): Promise<void>;
  close(): void;
}

export interface LaunchRequest {
  workerId: string;
  workerName: string;
  templateName: string;
  instanceType: string;
  imageId: string;
}

function view(i: Instance): InstanceView {
  const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  return {
    instanceId: i.InstanceId ?? '',
    // The low byte of the state code is the state; the name is what we compare.
    state: (i.State?.Name ?? 'pending') as Ec2State,
    instanceType: i.InstanceType ?? null,
    imageId: i.ImageId ?? null,
    privateIp: i.PrivateIpAddress ?? null,
    publicIp: i.PublicIpAddress ?? null,
    launchTime: i.LaunchTime ?? null,
    stateReason: i.StateReason?.Message ?? i.StateTransitionReason ?? null,
    workerId: tags[TAG.workerId] ?? null,
    managed: tags[TAG.managedBy] === MANAGED_BY,
  };
}

const newest = (instances: InstanceView[]): InstanceView | undefined =>
  instances.sort((a, b) => (b.launchTime?.getTime() ?? 0) - (a.launchTime?.getTime() ?? 0))[0];

export interface SdkEc2Options {
  endpoint?: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** SDK attempts per call (standard retry mode: throttling and 5xx are retried with backoff). */
  maxAttempts?: number;
  /** How long a resolved AMI is reused. */
  imageCacheMs?: number;
  /**
   * How long one HTTP attempt may take (default 15 s) and its connection (default 5 s). The SDK's
   * defaults wait for ever (and its request timeout only warns unless told to throw): a silent network
   * would hold a worker's reconcile, and its key, for good. A timed-out attempt is retried like a 5xx.
   */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
}

/** The EC2 options from configuration, overridden by `lcm up`/tests. */
export function ec2OptionsFrom(deps: Pick<ControllerDeps, 'config' | 'overrides'>): SdkEc2Options {
  const endpoint = deps.overrides?.ec2Endpoint ?? deps.config.LCM_EC2_ENDPOINT;
  return {
    region: deps.config.AWS_REGION,
    ...(endpoint ? { endpoint } : {}),
    ...(deps.overrides?.ec2Credentials ? { credentials: deps.overrides.ec2Credentials } : {}),
  };
}

export class SdkEc2 implements Ec2Port {
  readonly region: string;
  private readonly client: EC2Client;
  private readonly images = new Map<string, { at: number; image: { imageId: string; name: string } }>();
  private readonly imageCacheMs: number;

  constructor(options: SdkEc2Options) {
    this.region = options.region;
    this.imageCacheMs = options.imageCacheMs ?? 5 * 60_000;
    this.client = new EC2Client({
      region: options.region,
      maxAttempts: options.maxAttempts ?? 4,
      requestHandler: {
        requestTimeout: options.requestTimeoutMs ?? 15_000,
        connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        throwOnRequestTimeout: true,
      },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  async describe(instanceId: string): Promise<InstanceView | 'not-found'> {
    try {
      const out = await this.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const found = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
      return found ? view(found) : 'not-found';
    } catch (e) {
      if (isNotFound(e)) return 'not-found';
      throw e;
    }
  }

  private async all(filters: Filter[]): Promise<InstanceView[]> {
    const out: InstanceView[] = [];
    for await (const page of paginateDescribeInstances({ client: this.client, pageSize: 200 }, { Filters: filters })) {
      for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) out.push(view(i));
    }
    return out;
  }

  async findForWorker(workerId: string): Promise<InstanceView | undefined> {
    return newest(
      await this.all([
        { Name: `tag:${TAG.workerId}`, Values: [workerId] },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ]),
    );
  }

  listManaged(): Promise<InstanceView[]> {
    return this.all([
      { Name: `tag:${TAG.managedBy}`, Values: [MANAGED_BY] },
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ]);
  }

  async resolveImage(namePattern: string): Promise<{ imageId: string; name: string }> {
    const cached = this.images.get(namePattern);
    if (cached && Date.now() - cached.at < this.imageCacheMs) return cached.image;
    const out = await this.client.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: [namePattern] }, { Name: 'state', Values: ['available'] }] }),
    );
    // EC2 returns images in no particular order: the newest CreationDate wins.
    const best = (out.Images ?? [])
      .filter((i) => i.ImageId && i.Name)
      .sort((a, b) => Date.parse(b.CreationDate ?? '') - Date.parse(a.CreationDate ?? '') || (b.Name ?? '').localeCompare(a.Name ?? ''))[0];
    if (!best?.ImageId || !best.Name) throw new Error(`no available AMI matches the name pattern "${namePattern}" in ${this.region}`);
    const image = { imageId: best.ImageId, name: best.Name };
    this.images.set(namePattern, { at: Date.now(), image });
    return image;
  }

  async launch(request: LaunchRequest): Promise<InstanceView> {
    const token = clientToken(request.workerId, request.instanceType);
    const tags = [
      { Key: TAG.name, Value: request.workerName },
      { Key: TAG.workerId, Value: request.workerId },
      { Key: TAG.template, Value: request.templateName },
      { Key: TAG.managedBy, Value: MANAGED_BY },
    ];
    try {
      const out = await this.client.send(
        new RunInstancesCommand({
          ImageId: request.imageId,
          InstanceType: request.instanceType as never,
          MinCount: 1,
          MaxCount: 1,
          ClientToken: token,
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags },
            { ResourceType: 'volume', Tags: tags },
          ],
        }),
      );
      const instance = out.Instances?.[0];
      if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
      return view(instance);
    } catch (e) {
      // The token was used with other parameters (e.g. a newer AMI since the first attempt): the
      // first launch happened, so it is the instance to adopt, not a reason to launch another.
      if (ec2ErrorCode(e) !== 'IdempotentParameterMismatch') throw e;
      const [existing] = await this.all([{ Name: 'client-token', Values: [token] }]);
      if (!existing) throw e;
      return existing;
    }
  }

  async start(instanceId: string): Promise<void> {
    await this.client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  }

  async stop(instanceId: string): Promise<void> {
    await this.client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  }

  async terminate(instanceId: string): Promise<void> {
    try {
      await this.client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    } catch (e) {
      if (!isNotFound(e)) throw e; // already gone: what we wanted
    }
  }

  close(): void {
    this.client.destroy();
  }
}
