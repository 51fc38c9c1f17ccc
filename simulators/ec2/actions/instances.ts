import { ec2Errors } from '../errors.ts';
import { matchesFilters, validateFilters, type FilterSpec } from '../filters.ts';
import type { InstanceFleet, InstanceRecord, StateChange } from '../fleet.ts';
import { isInstanceId } from '../ids.ts';
import { DEFAULT_RUN_INSTANCE_TYPE } from '../instance-types.ts';
import type { SimInstance } from '../model.ts';
import { MAX_TAGS_PER_RESOURCE, parseFilters, parseTags, type QueryParams, type TagInput } from '../query.ts';
import { instanceStatusXml, instanceXml, reservationXml, stateChangeXml } from '../render.ts';
import type { XmlObject } from '../xml.ts';
import { guardDryRun, maxResults, paginate, unique, type ActionContext, type ActionHandler } from './context.ts';

/** RunInstances, DescribeInstances, DescribeInstanceStatus, StartInstances, StopInstances, TerminateInstances. */

const tagsOf = (instance: SimInstance): ReadonlyMap<string, string> => new Map(Object.entries(instance.tags));

/** The DescribeInstances filters the simulator understands (a subset of EC2's, the useful one). */
export const INSTANCE_FILTERS: FilterSpec<SimInstance> = {
  tags: tagsOf,
  fields: {
    'instance-id': (i) => i.instanceId,
    'instance-state-name': (i) => i.state,
    'instance-state-code': (i) => i.stateCode,
    'instance-type': (i) => i.instanceType,
    'image-id': (i) => i.imageId,
    'reservation-id': (i) => i.reservationId,
    'client-token': (i) => i.clientToken,
    'key-name': (i) => i.keyName,
    'availability-zone': (i) => i.availabilityZone,
    'subnet-id': (i) => i.subnetId,
    'vpc-id': (i) => i.vpcId,
    'private-ip-address': (i) => (i.state === 'terminated' ? undefined : i.privateIp),
    'ip-address': (i) => i.publicIp,
    'private-dns-name': (i) => i.privateDnsName,
    'dns-name': (i) => i.publicDnsName,
    'instance-lifecycle': (i) => (i.lifecycle === 'spot' ? 'spot' : undefined),
    'spot-instance-request-id': (i) => i.spotInstanceRequestId,
    'state-reason-code': (i) => i.stateReason?.code,
    architecture: (i) => i.architecture,
    'launch-time': (i) => i.launchTime.toISOString(),
    'ami-launch-index': (i) => i.amiLaunchIndex,
    'network-interface.network-interface-id': (i) => i.networkInterfaceId,
    'instance.group-id': (i) => i.securityGroupIds,
  },
};

/** The DescribeInstanceStatus filters. */
export const INSTANCE_STATUS_FILTERS: FilterSpec<SimInstance> = {
  tags: tagsOf,
  fields: {
    'availability-zone': (i) => i.availabilityZone,
    'instance-state-name': (i) => i.state,
    'instance-state-code': (i) => i.stateCode,
    'instance-status.status': (i) => i.instanceStatus,
    'system-status.status': (i) => i.systemStatus,
    'instance-status.reachability': (i) => reachability(i.instanceStatus),
    'system-status.reachability': (i) => reachability(i.systemStatus),
  },
};

function reachability(status: SimInstance['instanceStatus']): string | undefined {
  return { ok: 'passed', impaired: 'failed', initializing: 'initializing', 'not-applicable': undefined }[status];
}

/** `InstanceId.N` values, each well formed (else `InvalidInstanceID.Malformed`), without repeats. */
function instanceIds(params: QueryParams, required: boolean): string[] {
  const ids = params.list('InstanceId');
  if (required && ids.length === 0) throw ec2Errors.missingParameter('InstanceId');
  const malformed = ids.find((id) => !isInstanceId(id));
  if (malformed !== undefined) throw ec2Errors.instanceMalformed(malformed);
  return unique(ids);
}

const TAGGABLE_AT_LAUNCH = new Set(['instance', 'volume', 'network-interface', 'spot-instances-request', 'elastic-gpu']);

function launchTags(params: QueryParams): TagInput[] {
  const instanceTags: TagInput[] = [];
  params.structs('TagSpecification').forEach((spec, index) => {
    const resourceType = spec.get('ResourceType');
    if (!resourceType) throw ec2Errors.missingParameter(`TagSpecification.${index + 1}.ResourceType`);
    if (!TAGGABLE_AT_LAUNCH.has(resourceType)) {
      throw ec2Errors.invalidParameterValue(`'${resourceType}' is not a valid taggable resource type for this operation.`);
    }
    const tags = parseTags(spec, 'Tag');
    if (tags.length > MAX_TAGS_PER_RESOURCE) throw ec2Errors.tagLimitExceeded(resourceType, MAX_TAGS_PER_RESOURCE);
    if (resourceType === 'instance') instanceTags.push(...tags);
  });
  return instanceTags;
}

function instanceItem(context: ActionContext, instance: SimInstance): XmlObject {
  return instanceXml(instance, context.instanceTypes[instance.instanceType]);
}

/** Group instances (already in order) into reservations, each reservation where it first appears. */
function reservationsXml(context: ActionContext, records: readonly InstanceRecord[]): XmlObject[] {
  const groups = new Map<string, XmlObject[]>();
  for (const record of records) {
    const items = groups.get(record.reservationId) ?? [];
    items.push(instanceItem(context, context.fleet.snapshot(record)));
    groups.set(record.reservationId, items);
  }
  return [...groups].map(([reservationId, items]) => reservationXml({ reservationId, ownerId: context.fleet.accountId }, items));
}

export const runInstances: ActionHandler = (context) => {
  const { params, fleet, images, faults } = context;
  if (params.has('LaunchTemplate.LaunchTemplateId') || params.has('LaunchTemplate.LaunchTemplateName')) {
    throw ec2Errors.unsupported('The EC2 simulator does not support launch templates; give ImageId and InstanceType.');
  }
  const imageId = params.require('ImageId');
  const minCount = params.int('MinCount', { min: 1 });
  if (minCount === undefined) throw ec2Errors.missingParameter('MinCount');
  const maxCount = params.int('MaxCount', { min: 1 });
  if (maxCount === undefined) throw ec2Errors.missingParameter('MaxCount');
  if (minCount > maxCount) {
    throw ec2Errors.invalidParameterValue(`Value (${minCount}) for parameter minCount is invalid. Expecting a value at most maxCount (${maxCount}).`);
  }
  const instanceType = params.get('InstanceType') ?? DEFAULT_RUN_INSTANCE_TYPE;
  if (!Object.hasOwn(context.instanceTypes, instanceType)) {
    throw ec2Errors.invalidParameterValue(`The following supplied instance types do not exist: [${instanceType}]`);
  }
  const clientToken = params.get('ClientToken') || undefined;
  if (clientToken !== undefined && (clientToken.length > 64 || !/^[\x20-\x7e]+$/.test(clientToken))) {
    throw ec2Errors.invalidParameterValue('The client token must be at most 64 printable ASCII characters.');
  }
  const availabilityZone = params.get('Placement.AvailabilityZone') || undefined;
  if (availabilityZone !== undefined && !fleet.availabilityZones.includes(availabilityZone)) {
    throw ec2Errors.invalidParameterValue(`Invalid availability zone: [${availabilityZone}]`);
  }
  const tags = launchTags(params);
  const marketType = params.get('InstanceMarketOptions.MarketType');
  if (marketType !== undefined && marketType !== 'spot' && marketType !== 'capacity-block') {
    throw ec2Errors.invalidParameterValue(`Invalid value '${marketType}' for InstanceMarketOptions.MarketType`);
  }
  guardDryRun(params);

  const fingerprint = params.fingerprint(['Action', 'Version', 'ClientToken', 'DryRun']);
  if (clientToken !== undefined) {
    const earlier = fleet.byClientToken(clientToken);
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) throw ec2Errors.idempotentParameterMismatch();
      const items = earlier.reservation.instances.map((r) => instanceItem(context, fleet.snapshot(r)));
      return reservationXml(earlier.reservation, items);
    }
  }

  const [image] = images.resolve([imageId]);
  if (!image) throw ec2Errors.imageNotFound([imageId]);
  if (image.state !== 'available') throw ec2Errors.imageUnavailable(image.imageId, image.state);

  const zone = availabilityZone ?? (fleet.availabilityZones[0] as string);
  if (faults.takeCapacityFailure(instanceType)) {
    throw ec2Errors.insufficientCapacity(instanceType, zone, fleet.availabilityZones.filter((z) => z !== zone));
  }
  const room = context.instanceLimit - fleet.liveCount();
  if (room < minCount) throw ec2Errors.instanceLimitExceeded(fleet.liveCount() + minCount, context.instanceLimit);

  const reservation = fleet.launch(
    {
      imageId: image.imageId,
      instanceType,
      count: Math.min(maxCount, room),
      architecture: image.architecture,
      clientToken,
      keyName: params.get('KeyName') || undefined,
      subnetId: params.get('SubnetId') || undefined,
      securityGroupIds: params.list('SecurityGroupId'),
      availabilityZone,
      tags,
      spot: marketType === 'spot',
    },
    fingerprint,
  );
  const items = reservation.instances.map((r) => instanceItem(context, fleet.snapshot(r)));
  return reservationXml(reservation, items);
};

/** The instances a Describe* call may see: the named ones (NotFound if unknown or not yet visible) or all visible. */
function describedRecords(fleet: InstanceFleet, ids: readonly string[]): InstanceRecord[] {
  if (ids.length > 0) return fleet.resolve(ids, true);
  const now = Date.now();
  return fleet.list().filter((record) => fleet.isVisible(record, now));
}

export const describeInstances: ActionHandler = (context) => {
  const { params, fleet } = context;
  const ids = instanceIds(params, false);
  const filters = parseFilters(params);
  validateFilters(filters, INSTANCE_FILTERS);
  const limit = maxResults(params, ids.length > 0, 'instancesSet');
  const token = params.get('NextToken');
  guardDryRun(params);
  const matching = describedRecords(fleet, ids).filter((r) => matchesFilters(fleet.snapshot(r), filters, INSTANCE_FILTERS));
  const { page, nextToken } = paginate(matching, (r) => r.seq, limit, token);
  return { reservationSet: reservationsXml(context, page), nextToken };
};

export const describeInstanceStatus: ActionHandler = (context) => {
  const { params, fleet } = context;
  const ids = instanceIds(params, false);
  const filters = parseFilters(params);
  validateFilters(filters, INSTANCE_STATUS_FILTERS);
  const includeAll = params.bool('IncludeAllInstances') ?? false;
  const limit = maxResults(params, ids.length > 0, 'InstanceIds');
  const token = params.get('NextToken');
  guardDryRun(params);
  const matching = describedRecords(fleet, ids)
    .map((record) => ({ record, instance: fleet.snapshot(record) }))
    .filter(({ instance }) => includeAll || instance.state === 'running')
    .filter(({ instance }) => matchesFilters(instance, filters, INSTANCE_STATUS_FILTERS));
  const { page, nextToken } = paginate(matching, (m) => m.record.seq, limit, token);
  return { instanceStatusSet: page.map(({ instance }) => instanceStatusXml(instance)), nextToken };
};

function stateChangeAction(change: (fleet: InstanceFleet, records: InstanceRecord[]) => StateChange[]): ActionHandler {
  return ({ params, fleet }) => {
    const ids = instanceIds(params, true);
    for (const flag of ['Force', 'Hibernate', 'SkipOsShutdown']) params.bool(flag); // validated; no effect here
    const records = fleet.resolve(ids, false);
    guardDryRun(params);
    return { instancesSet: change(fleet, records).map(stateChangeXml) };
  };
}

export const startInstances = stateChangeAction((fleet, records) => fleet.start(records));
export const stopInstances = stateChangeAction((fleet, records) => fleet.stop(records));
export const terminateInstances = stateChangeAction((fleet, records) => fleet.terminate(records));
