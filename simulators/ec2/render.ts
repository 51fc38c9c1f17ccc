import type { Reservation, StateChange } from './fleet.ts';
import type { SimImage } from './images.ts';
import { cpuOptionsOf, type InstanceTypeInfo } from './instance-types.ts';
import { INSTANCE_STATE_CODES, type InstanceStateName, type SimInstance, type StatusCheck } from './model.ts';
import type { XmlObject, XmlValue } from './xml.ts';

/**
 * EC2 response elements, named and nested as the real service sends them (and as the SDK's
 * `aws.protocols#ec2Query` deserializer reads them: `instancesSet`, `instanceState{code,name}`,
 * `dnsName`, `ipAddress`, `tagSet`, `imageState`, …).
 */
export function stateXml(state: InstanceStateName): XmlObject {
  return { code: INSTANCE_STATE_CODES[state], name: state };
}

export function tagSetXml(tags: Iterable<[string, string]>): XmlValue {
  const items = [...tags].map(([key, value]) => ({ key, value }));
  return items.length > 0 ? items : undefined;
}

export function instanceXml(instance: SimInstance, typeInfo: InstanceTypeInfo | undefined): XmlObject {
  const live = instance.state !== 'terminated';
  const privateIp = live ? instance.privateIp : undefined;
  const groups = instance.securityGroupIds.map((groupId) => ({ groupId }));
  return {
    instanceId: instance.instanceId,
    imageId: instance.imageId,
    instanceState: stateXml(instance.state),
    privateDnsName: instance.privateDnsName,
    dnsName: instance.publicDnsName ?? '',
    reason: instance.stateTransitionReason,
    keyName: instance.keyName,
    amiLaunchIndex: instance.amiLaunchIndex,
    productCodes: [],
    instanceType: instance.instanceType,
    launchTime: instance.launchTime,
    placement: { availabilityZone: instance.availabilityZone, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: live ? instance.subnetId : undefined,
    vpcId: live ? instance.vpcId : undefined,
    privateIpAddress: privateIp,
    ipAddress: instance.publicIp,
    sourceDestCheck: live ? true : undefined,
    groupSet: groups,
    stateReason: instance.stateReason ? { code: instance.stateReason.code, message: instance.stateReason.message } : undefined,
    architecture: instance.architecture,
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/sda1',
    blockDeviceMapping: live
      ? [
          {
            deviceName: '/dev/sda1',
            ebs: {
              volumeId: instance.rootVolumeId,
              status: 'attached',
              attachTime: instance.launchTime,
              deleteOnTermination: true,
            },
          },
        ]
      : [],
    instanceLifecycle: instance.lifecycle === 'spot' ? 'spot' : undefined,
    spotInstanceRequestId: instance.spotInstanceRequestId,
    virtualizationType: 'hvm',
    clientToken: instance.clientToken ?? '',
    tagSet: tagSetXml(Object.entries(instance.tags)),
    hypervisor: 'xen',
    networkInterfaceSet: live
      ? [
          {
            networkInterfaceId: instance.networkInterfaceId,
            subnetId: instance.subnetId,
            vpcId: instance.vpcId,
            description: '',
            status: 'in-use',
            privateIpAddress: privateIp,
            privateDnsName: instance.privateDnsName,
            sourceDestCheck: true,
            groupSet: groups,
            attachment: {
              attachmentId: `eni-attach-${instance.networkInterfaceId.slice(4)}`,
              deviceIndex: 0,
              status: 'attached',
              attachTime: instance.launchTime,
              deleteOnTermination: true,
              networkCardIndex: 0,
            },
            association: instance.publicIp
              ? { publicIp: instance.publicIp, publicDnsName: instance.publicDnsName, ipOwnerId: 'amazon' }
              : undefined,
            privateIpAddressesSet: [
              {
                privateIpAddress: privateIp,
                privateDnsName: instance.privateDnsName,
                primary: true,
                association: instance.publicIp
                  ? { publicIp: instance.publicIp, publicDnsName: instance.publicDnsName, ipOwnerId: 'amazon' }
                  : undefined,
              },
            ],
            interfaceType: 'interface',
          },
        ]
      : [],
    ebsOptimized: false,
    enaSupport: true,
    cpuOptions: typeInfo ? cpuOptionsOf(typeInfo) : undefined,
    capacityReservationSpecification: { capacityReservationPreference: 'open' },
    hibernationOptions: { configured: false },
    metadataOptions: {
      state: 'applied',
      httpTokens: 'required',
      httpPutResponseHopLimit: 2,
      httpEndpoint: 'enabled',
      httpProtocolIpv6: 'disabled',
      instanceMetadataTags: 'disabled',
    },
    enclaveOptions: { enabled: false },
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
    usageOperationUpdateTime: instance.launchTime,
    privateDnsNameOptions: { hostnameType: 'ip-name', enableResourceNameDnsARecord: false, enableResourceNameDnsAAAARecord: false },
    maintenanceOptions: { autoRecovery: 'default' },
    currentInstanceBootMode: 'legacy-bios',
  };
}

export function reservationXml(
  reservation: Pick<Reservation, 'reservationId' | 'ownerId'>,
  instances: readonly XmlObject[],
): XmlObject {
  return {
    reservationId: reservation.reservationId,
    ownerId: reservation.ownerId,
    groupSet: [],
    instancesSet: instances,
  };
}

export function stateChangeXml(change: StateChange): XmlObject {
  return {
    instanceId: change.instanceId,
    currentState: stateXml(change.current),
    previousState: stateXml(change.previous),
  };
}

function statusSummary(status: StatusCheck): XmlObject {
  if (status === 'not-applicable') return { status };
  const reachability = status === 'ok' ? 'passed' : status === 'impaired' ? 'failed' : 'initializing';
  return { status, details: [{ name: 'reachability', status: reachability }] };
}

export function instanceStatusXml(instance: SimInstance): XmlObject {
  return {
    instanceId: instance.instanceId,
    availabilityZone: instance.availabilityZone,
    instanceState: stateXml(instance.state),
    systemStatus: statusSummary(instance.systemStatus),
    instanceStatus: statusSummary(instance.instanceStatus),
    attachedEbsStatus: statusSummary(instance.state === 'running' ? 'ok' : 'not-applicable'),
  };
}

export function imageXml(image: SimImage): XmlObject {
  return {
    imageId: image.imageId,
    imageLocation: `${image.ownerAlias ?? image.ownerId}/${image.name}`,
    imageState: image.state,
    imageOwnerId: image.ownerId,
    creationDate: image.creationDate,
    isPublic: image.public,
    architecture: image.architecture,
    imageType: 'machine',
    imageOwnerAlias: image.ownerAlias,
    name: image.name,
    description: image.description,
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/sda1',
    blockDeviceMapping: [
      {
        deviceName: '/dev/sda1',
        ebs: {
          snapshotId: image.snapshotId,
          volumeSize: image.rootVolumeGb,
          deleteOnTermination: true,
          volumeType: 'gp3',
          encrypted: false,
        },
      },
    ],
    virtualizationType: 'hvm',
    tagSet: tagSetXml(image.tags),
    hypervisor: 'xen',
    enaSupport: true,
    sriovNetSupport: 'simple',
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
    bootMode: 'uefi-preferred',
  };
}
