/**
 * The node and image definitions the simulated CML controller knows (a realistic subset of the CML 2.9
 * reference platform), with the boot timings each kind of node shows on real hardware
 * (research/cml-api.md §6). The engine scales these timings so a whole lab boots in about `bootMs`.
 */

/** Real-world timings of one kind of node, in seconds (before jitter and scaling). */
export interface TimingProfile {
  /** QUEUED → STARTED: the launch queue and domain creation. */
  queueSeconds: number;
  /** STARTED → BOOTED: the console shows the `boot.completed` pattern. */
  bootSeconds: number;
  /** Any running state → STOPPED. */
  stopSeconds: number;
  /** STOPPED → DEFINED_ON_CORE (disk images deleted). */
  wipeSeconds: number;
}

export interface NodeDefinitionSpec {
  id: string;
  label: string;
  description: string;
  nature: 'router' | 'switch' | 'server' | 'host' | 'cloud' | 'firewall' | 'external_connector';
  icon: 'router' | 'switch' | 'server' | 'host' | 'cloud' | 'firewall';
  labelPrefix: string;
  driver: string;
  libvirtDomainDriver: 'kvm' | 'lxc' | 'docker' | 'iol' | 'none';
  /** Default memory (MiB) and vCPUs; null for nodes that are no VM. */
  ram: number | null;
  cpus: number | null;
  /** Default boot disk (GiB) used by the disk statistics. */
  diskGb: number;
  physicalInterfaces: string[];
  defaultInterfaceCount: number;
  serialPorts: number;
  vnc: boolean;
  bootTimeoutSeconds: number;
  bootCompleted: string[] | null;
  timing: TimingProfile;
  /** Whether the node counts against the licensed node limit (connectors and unmanaged switches do not). */
  licensed: boolean;
  images: Array<{ id: string; label: string; diskImage: string }>;
}

const range = (prefix: string, count: number, start = 0): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}${i + start}`);

const vm = (queueSeconds: number, bootSeconds: number, stopSeconds: number, wipeSeconds = 1): TimingProfile => ({
  queueSeconds,
  bootSeconds,
  stopSeconds,
  wipeSeconds,
});

export const NODE_DEFINITIONS: readonly NodeDefinitionSpec[] = [
  {
    id: 'external_connector', label: 'External Connector', description: 'Connect to devices outside of the simulation',
    nature: 'external_connector', icon: 'cloud', labelPrefix: 'ext-conn-', driver: 'external_connector',
    libvirtDomainDriver: 'none', ram: null, cpus: null, diskGb: 0, physicalInterfaces: ['port'], defaultInterfaceCount: 1,
    serialPorts: 0, vnc: false, bootTimeoutSeconds: 5, bootCompleted: null, timing: vm(0.3, 0.7, 0.5, 0.2), licensed: false,
    images: [],
  },
  {
    id: 'unmanaged_switch', label: 'Unmanaged Switch', description: 'Unmanaged Switch', nature: 'switch', icon: 'switch',
    labelPrefix: 'unmanaged-switch-', driver: 'unmanaged_switch', libvirtDomainDriver: 'none', ram: null, cpus: null,
    diskGb: 0, physicalInterfaces: range('port', 32), defaultInterfaceCount: 8, serialPorts: 0, vnc: false,
    bootTimeoutSeconds: 5, bootCompleted: null, timing: vm(0.3, 1, 0.5, 0.2), licensed: false, images: [],
  },
  {
    id: 'alpine', label: 'Alpine', description: 'Alpine Linux', nature: 'server', icon: 'server', labelPrefix: 'alpine-',
    driver: 'alpine', libvirtDomainDriver: 'kvm', ram: 512, cpus: 1, diskGb: 1, physicalInterfaces: range('eth', 8),
    defaultInterfaceCount: 1, serialPorts: 2, vnc: true, bootTimeoutSeconds: 120, bootCompleted: ['Welcome to Alpine'],
    timing: vm(2, 20, 2), licensed: true,
    images: [{ id: 'alpine-3-21-3-base', label: 'Alpine 3.21.3', diskImage: 'alpine-3-21-3-base.qcow2' }],
  },
  {
    id: 'ubuntu', label: 'Ubuntu', description: 'Ubuntu 24.04 cloud image', nature: 'server', icon: 'server',
    labelPrefix: 'ubuntu-', driver: 'ubuntu', libvirtDomainDriver: 'kvm', ram: 2048, cpus: 1, diskGb: 8,
    physicalInterfaces: range('ens', 8, 2), defaultInterfaceCount: 1, serialPorts: 2, vnc: true, bootTimeoutSeconds: 300,
    bootCompleted: ['login:'], timing: vm(2, 40, 3), licensed: true,
    images: [{ id: 'ubuntu-24-04-20250503', label: 'Ubuntu 24.04 - 03 May 2025', diskImage: 'noble-server-cloudimg-amd64.img' }],
  },
  {
    id: 'server', label: 'Server', description: 'Tiny Core Linux server', nature: 'server', icon: 'server',
    labelPrefix: 'server-', driver: 'server', libvirtDomainDriver: 'kvm', ram: 256, cpus: 1, diskGb: 1,
    physicalInterfaces: range('eth', 8), defaultInterfaceCount: 1, serialPorts: 2, vnc: true, bootTimeoutSeconds: 120,
    bootCompleted: ['login:'], timing: vm(1.5, 15, 1), licensed: true,
    images: [{ id: 'server-tcl-16-0', label: 'Tiny Core Linux 16.0', diskImage: 'tcl-16-0.qcow2' }],
  },
  {
    id: 'desktop', label: 'Desktop', description: 'Alpine Linux desktop with a web browser', nature: 'host', icon: 'host',
    labelPrefix: 'desktop-', driver: 'desktop', libvirtDomainDriver: 'kvm', ram: 1024, cpus: 1, diskGb: 2,
    physicalInterfaces: range('eth', 8), defaultInterfaceCount: 1, serialPorts: 2, vnc: true, bootTimeoutSeconds: 180,
    bootCompleted: ['Welcome to Alpine'], timing: vm(2, 30, 2), licensed: true,
    images: [{ id: 'desktop-3-21-3', label: 'Desktop 3.21.3', diskImage: 'desktop-3-21-3.qcow2' }],
  },
  {
    id: 'iol-xe', label: 'IOL', description: 'IOS on Linux (IOS XE features)', nature: 'router', icon: 'router',
    labelPrefix: 'iol-', driver: 'iol-xe', libvirtDomainDriver: 'iol', ram: 768, cpus: 1, diskGb: 1,
    physicalInterfaces: range('Ethernet0/', 4).concat(range('Ethernet1/', 4), range('Ethernet2/', 4), range('Ethernet3/', 4)),
    defaultInterfaceCount: 4, serialPorts: 1, vnc: false, bootTimeoutSeconds: 300, bootCompleted: ['Press RETURN to get started'],
    timing: vm(2, 40, 1.5), licensed: true,
    images: [{ id: 'iol-xe-17-16-01a', label: 'IOL-XE 17.16.01a', diskImage: 'x86_64_crb_linux-adventerprisek9-ms.iol' }],
  },
  {
    id: 'ioll2-xe', label: 'IOL-L2', description: 'IOS on Linux layer-2 switch', nature: 'switch', icon: 'switch',
    labelPrefix: 'iol-l2-', driver: 'ioll2-xe', libvirtDomainDriver: 'iol', ram: 768, cpus: 1, diskGb: 1,
    physicalInterfaces: range('Ethernet0/', 4).concat(range('Ethernet1/', 4), range('Ethernet2/', 4), range('Ethernet3/', 4)),
    defaultInterfaceCount: 4, serialPorts: 1, vnc: false, bootTimeoutSeconds: 300, bootCompleted: ['Press RETURN to get started'],
    timing: vm(2, 45, 1.5), licensed: true,
    images: [{ id: 'ioll2-xe-17-16-01a', label: 'IOL-L2 17.16.01a', diskImage: 'x86_64_crb_linux_l2-adventerprisek9-ms.iol' }],
  },
  {
    id: 'iosv', label: 'IOSv', description: 'IOSv router', nature: 'router', icon: 'router', labelPrefix: 'iosv-',
    driver: 'iosv', libvirtDomainDriver: 'kvm', ram: 512, cpus: 1, diskGb: 2, physicalInterfaces: range('GigabitEthernet0/', 16),
    defaultInterfaceCount: 4, serialPorts: 2, vnc: false, bootTimeoutSeconds: 1000,
    bootCompleted: ['Press RETURN to get started'], timing: vm(3.5, 135, 4), licensed: true,
    images: [{ id: 'iosv-159-3-m9', label: 'IOSv 15.9(3)M9', diskImage: 'vios-adventerprisek9-m.spa.159-3.m9.qcow2' }],
  },
  {
    id: 'iosvl2', label: 'IOSvL2', description: 'IOSv layer-2 switch', nature: 'switch', icon: 'switch',
    labelPrefix: 'iosvl2-', driver: 'iosvl2', libvirtDomainDriver: 'kvm', ram: 768, cpus: 1, diskGb: 2,
    physicalInterfaces: range('GigabitEthernet0/', 4).concat(range('GigabitEthernet1/', 4), range('GigabitEthernet2/', 4), range('GigabitEthernet3/', 4)),
    defaultInterfaceCount: 4, serialPorts: 2, vnc: false, bootTimeoutSeconds: 1000,
    bootCompleted: ['Press RETURN to get started'], timing: vm(3.5, 150, 4), licensed: true,
    images: [{ id: 'iosvl2-2020', label: 'IOSvL2 2020', diskImage: 'vios_l2-adventerprisek9-m.ssa.high_iron_20200929.qcow2' }],
  },
  {
    id: 'asav', label: 'ASAv', description: 'Adaptive Security Virtual Appliance', nature: 'firewall', icon: 'firewall',
    labelPrefix: 'asav-', driver: 'asav', libvirtDomainDriver: 'kvm', ram: 2048, cpus: 1, diskGb: 8,
    physicalInterfaces: ['Management0/0'].concat(range('GigabitEthernet0/', 9)), defaultInterfaceCount: 4, serialPorts: 1,
    vnc: true, bootTimeoutSeconds: 1200, bootCompleted: ['Cisco Adaptive Security Appliance Software'],
    timing: vm(4, 180, 5), licensed: true,
    images: [{ id: 'asav-9-22-1-1', label: 'ASAv 9.22.1.1', diskImage: 'asav9-22-1-1.qcow2' }],
  },
  {
    id: 'csr1000v', label: 'CSR1000v', description: 'Cloud Services Router', nature: 'router', icon: 'router',
    labelPrefix: 'csr1000v-', driver: 'csr1000v', libvirtDomainDriver: 'kvm', ram: 4096, cpus: 1, diskGb: 8,
    physicalInterfaces: range('GigabitEthernet', 16, 1), defaultInterfaceCount: 4, serialPorts: 2, vnc: false,
    bootTimeoutSeconds: 1500, bootCompleted: ['Press RETURN to get started'], timing: vm(6, 420, 5), licensed: true,
    images: [{ id: 'csr1000v-17-03-08a', label: 'CSR1000v 17.03.08a', diskImage: 'csr1000v-universalk9.17.03.08a-serial.qcow2' }],
  },
  {
    id: 'cat8000v', label: 'Catalyst 8000V', description: 'Catalyst 8000V edge platform', nature: 'router', icon: 'router',
    labelPrefix: 'cat8000v-', driver: 'csr1000v', libvirtDomainDriver: 'kvm', ram: 5120, cpus: 1, diskGb: 8,
    physicalInterfaces: range('GigabitEthernet', 16, 1), defaultInterfaceCount: 4, serialPorts: 2, vnc: false,
    bootTimeoutSeconds: 1500, bootCompleted: ['Press RETURN to get started'], timing: vm(6, 480, 5), licensed: true,
    images: [{ id: 'cat8000v-17-16-01a', label: 'Catalyst 8000V 17.16.01a', diskImage: 'c8000v-universalk9_8G_serial.17.16.01a.qcow2' }],
  },
  {
    id: 'nxosv9000', label: 'NX-OS 9000v', description: 'Nexus 9000v switch', nature: 'switch', icon: 'switch',
    labelPrefix: 'nxos9000-', driver: 'nxosv9000', libvirtDomainDriver: 'kvm', ram: 10240, cpus: 2, diskGb: 12,
    physicalInterfaces: ['mgmt0'].concat(range('Ethernet1/', 64, 1)), defaultInterfaceCount: 8, serialPorts: 2, vnc: false,
    bootTimeoutSeconds: 1800, bootCompleted: ['Abort Power On Auto Provisioning'], timing: vm(8, 540, 5), licensed: true,
    images: [{ id: 'nxosv9300-10-5-3-f', label: 'NX-OS 9300v 10.5(3)F', diskImage: 'nexus9300v64.10.5.3.F.qcow2' }],
  },
];

const byId = new Map(NODE_DEFINITIONS.map((d) => [d.id, d]));
const imageById = new Map(
  NODE_DEFINITIONS.flatMap((d) => d.images.map((i) => [i.id, { ...i, nodeDefinitionId: d.id }] as const)),
);

export const findNodeDefinition = (id: string): NodeDefinitionSpec | undefined => byId.get(id);
export const findImageDefinition = (id: string) => imageById.get(id);

/** Loopback interfaces a node of this definition gets when CML populates its interfaces (routers: Loopback0). */
export const definitionLoopbacks = (d: NodeDefinitionSpec): string[] => (d.nature === 'router' ? ['Loopback0'] : []);

/** `GET /node_definitions` entries (NodeDefinitionResponse). */
export function nodeDefinitionResponse(d: NodeDefinitionSpec): Record<string, unknown> {
  return {
    id: d.id,
    boot: { timeout: d.bootTimeoutSeconds, completed: d.bootCompleted, uses_regex: d.bootCompleted ? false : null },
    sim: {
      linux_native: {
        libvirt_domain_driver: d.libvirtDomainDriver,
        driver: d.driver,
        ram: d.ram,
        cpus: d.cpus,
        cpu_limit: 100,
        boot_disk_size: d.diskGb || null,
        video: d.vnc ? { model: 'vga', memory: 16 } : null,
        enable_rng: true,
        enable_tpm: false,
      },
      parameters: null,
      usage_estimations: d.ram ? { ram: d.ram, cpus: d.cpus, disk: d.diskGb } : null,
    },
    general: { nature: d.nature, description: d.description, read_only: true },
    configuration: { generator: { driver: d.libvirtDomainDriver === 'none' ? null : d.driver }, provisioning: null },
    device: {
      interfaces: {
        serial_ports: d.serialPorts,
        default_console: d.serialPorts > 0 ? 0 : null,
        physical: d.physicalInterfaces,
        has_loopback_zero: d.nature === 'router' || d.nature === 'switch',
        min_count: null,
        default_count: d.defaultInterfaceCount,
        loopback: definitionLoopbacks(d),
        management: [],
      },
    },
    ui: {
      label_prefix: d.labelPrefix,
      icon: d.icon,
      label: d.label,
      visible: true,
      group: d.nature === 'external_connector' || d.id === 'unmanaged_switch' ? 'Others' : 'Cisco',
      description: d.description,
      has_configuration: d.libvirtDomainDriver !== 'none',
    },
    inherited: {
      image: { ram: true, cpus: true, data_volume: true, boot_disk_size: true, cpu_limit: true },
      node: { ram: true, cpus: true, data_volume: true, boot_disk_size: true, cpu_limit: true },
    },
    pyats: null,
    schema_version: '0.0.1',
  };
}

/** `GET /simplified_node_definitions` entries. */
export function simplifiedNodeDefinitionResponse(d: NodeDefinitionSpec): Record<string, unknown> {
  return {
    id: d.id,
    general: { nature: d.nature, description: d.description, read_only: true },
    device: { interfaces: { physical: d.physicalInterfaces, serial_ports: d.serialPorts } },
    ui: { label_prefix: d.labelPrefix, icon: d.icon, label: d.label, visible: true },
    sim: { linux_native: { ram: d.ram, cpus: d.cpus } },
    image_definitions: d.images.map((i) => i.id),
  };
}

/** `GET /image_definitions` entries (ImageDefinition). */
export function imageDefinitionResponses(nodeDefinitionId?: string): Array<Record<string, unknown>> {
  return NODE_DEFINITIONS.filter((d) => nodeDefinitionId === undefined || d.id === nodeDefinitionId).flatMap((d) =>
    d.images.map((i) => ({
      id: i.id,
      node_definition_id: d.id,
      label: i.label,
      description: `${i.label} reference platform image`,
      disk_image: i.diskImage,
      read_only: true,
      schema_version: '0.0.1',
      ram: null,
      cpus: null,
      cpu_limit: null,
      data_volume: null,
      boot_disk_size: null,
    })),
  );
}
