/**
 * JSON shapes of the simulated API, with CML's field names (OpenAPI 2.9: LabResponse, Node,
 * NodeOperationalData, Link, lab_element_state, SystemStats, SystemHealth).
 */
import { createHash } from 'node:crypto';
import { findNodeDefinition } from './catalog.ts';
import {
  bootProgress,
  effectiveResources,
  isActive,
  isRunning,
  type CmlEngine,
  type SimInterface,
  type SimLab,
  type SimLink,
  type SimNode,
} from './engine.ts';
import { mainConfigurationFileName, mainConfigurationText } from './running-config.ts';

/** ISO-8601 with an explicit offset and no milliseconds, as CML prints dates. */
export const isoDate = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, '+00:00');

export interface Owner {
  id: string;
  username: string;
  fullname: string;
}

export function labView(engine: CmlEngine, lab: SimLab, owner: Owner): Record<string, unknown> {
  return {
    id: lab.id,
    created: isoDate(lab.created),
    modified: isoDate(lab.modified),
    lab_description: lab.description,
    lab_notes: lab.notes,
    lab_title: lab.title,
    owner: owner.id,
    owner_username: owner.username,
    owner_fullname: owner.fullname,
    state: engine.labState(lab),
    node_count: lab.nodes.length,
    link_count: lab.links.length,
    groups: [],
    effective_permissions: ['lab_admin', 'lab_edit', 'lab_exec', 'lab_view'],
  };
}

/**
 * How a node's `configuration` is shown, from `?exclude_configurations=`: `true` leaves it out, `false`
 * gives every configuration file (`[{name, content}]`), and no value (CML 2.9's default) gives the text
 * of the main day-0 configuration only.
 */
export type ConfigurationMode = 'exclude' | 'all' | 'main';

export function configurationMode(value: string | null): ConfigurationMode {
  if (value === null || value === '' || value.toLowerCase() === 'null') return 'main';
  return value === 'false' || value === 'False' || value === '0' ? 'all' : 'exclude';
}

export function configurationView(node: SimNode, mode: ConfigurationMode): unknown {
  const configuration: unknown = node.configuration;
  if (mode === 'exclude' || configuration === undefined || configuration === null) return null;
  if (mode === 'main') return mainConfigurationText(configuration);
  const main = mainConfigurationFileName(node.nodeDefinition);
  const files = (Array.isArray(configuration) ? configuration : [configuration]) as unknown[];
  return files.map((f) =>
    typeof f === 'string'
      ? { name: main, content: f }
      : {
          name: (f as { name?: string }).name === 'Main' ? main : (f as { name?: string }).name,
          content: (f as { content?: string | null }).content ?? null,
        },
  );
}

export interface NodeViewOptions {
  operational: boolean;
  configurations: ConfigurationMode;
}

function serialConsoles(node: SimNode) {
  return node.consoleKeys.map((key, line) => ({ console_key: key, label: `serial${line}`, device_number: line }));
}

export function nodeView(node: SimNode, options: NodeViewOptions): Record<string, unknown> {
  const definition = findNodeDefinition(node.nodeDefinition);
  const effective = effectiveResources(node);
  const running = isRunning(node);
  return {
    x: node.x,
    y: node.y,
    label: node.label,
    parameters: node.parameters,
    image_definition: node.imageDefinition,
    ram: node.ram,
    cpu_limit: node.cpuLimit,
    data_volume: node.dataVolume,
    boot_disk_size: node.bootDiskSize,
    hide_links: node.hideLinks,
    tags: node.tags,
    node_definition: node.nodeDefinition,
    id: node.id,
    boot_progress: bootProgress(node),
    compute_id: node.computeId,
    cpus: node.cpus,
    iol_app_id: null,
    operational: options.operational
      ? {
          boot_disk_size: running || node.hasDisk ? effective.diskGb : null,
          cpu_limit: node.cpuLimit ?? 100,
          cpus: effective.cpus || null,
          data_volume: node.dataVolume,
          ram: effective.ram || null,
          compute_id: node.computeId,
          image_definition: node.imageDefinition ?? definition?.images[0]?.id ?? null,
          vnc_key: node.vncKey,
          resource_pool: null,
          iol_app_id: null,
          serial_consoles: serialConsoles(node),
        }
      : null,
    resource_pool: null,
    state: node.state,
    vnc_key: node.vncKey,
    configuration: configurationView(node, options.configurations),
    pinned_compute_id: null,
    lab_id: node.labId,
    serial_consoles: serialConsoles(node),
  };
}

export function linkView(engine: CmlEngine, lab: SimLab, link: SimLink): Record<string, unknown> {
  return {
    id: link.id,
    lab_id: lab.id,
    label: link.label,
    state: engine.linkState(lab, link),
    interface_a: link.interfaceA,
    interface_b: link.interfaceB,
    node_a: link.nodeA,
    node_b: link.nodeB,
    link_capture_key: '',
  };
}

/** A MAC address in QEMU's 52:54:00 range, stable for an interface. */
function macFor(iface: SimInterface): string {
  const h = createHash('sha256').update(iface.id).digest();
  return ['52', '54', '00', ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** InterfaceResponse. */
export function interfaceView(
  engine: CmlEngine,
  lab: SimLab,
  node: SimNode,
  iface: SimInterface,
  options: { operational: boolean },
): Record<string, unknown> {
  const running = isRunning(node);
  return {
    id: iface.id,
    lab_id: lab.id,
    node: node.id,
    label: iface.label,
    slot: iface.slot,
    type: iface.type,
    mac_address: iface.macAddress,
    is_connected: engine.linkOf(lab, iface.id) !== undefined,
    state: engine.interfaceState(node),
    ...(options.operational
      ? {
          operational: {
            mac_address: running && iface.type === 'physical' ? (iface.macAddress ?? macFor(iface)) : null,
            src_udp_port: null,
            dst_udp_port: null,
            device_name: null,
          },
        }
      : {}),
  };
}

const isAnnotation = (a: unknown): boolean =>
  typeof a === 'object' && a !== null && typeof (a as { id?: unknown }).id === 'string' && typeof (a as { type?: unknown }).type === 'string';

/** `GET /labs/{id}/topology` (TopologyResponse): the lab with server ids, as CML's own clients read it. */
export function topologyView(engine: CmlEngine, lab: SimLab, owner: Owner, configurations: ConfigurationMode): Record<string, unknown> {
  return {
    lab: { version: lab.version, title: lab.title, description: lab.description, notes: lab.notes, owner: owner.id },
    nodes: lab.nodes.map((node) => ({
      id: node.id,
      label: node.label,
      x: node.x,
      y: node.y,
      node_definition: node.nodeDefinition,
      image_definition: node.imageDefinition,
      ram: node.ram,
      cpus: node.cpus,
      cpu_limit: node.cpuLimit,
      data_volume: node.dataVolume,
      boot_disk_size: node.bootDiskSize,
      hide_links: node.hideLinks,
      tags: node.tags,
      parameters: node.parameters,
      configuration: configurationView(node, configurations),
      interfaces: node.interfaces.map((i) => ({
        id: i.id,
        node: node.id,
        label: i.label,
        type: i.type,
        ...(i.slot === null ? {} : { slot: i.slot }),
        mac_address: i.macAddress,
      })),
    })),
    links: lab.links.map((link) => ({ ...linkView(engine, lab, link), ...(link.conditioning ? { conditioning: link.conditioning } : {}) })),
    annotations: lab.annotations.filter(isAnnotation),
    smart_annotations: lab.smartAnnotations.filter(isAnnotation),
  };
}

/** `GET /populate_lab_tiles`: every lab with its nodes and links, keyed by id. */
export function labTilesView(engine: CmlEngine, owner: Owner): Record<string, unknown> {
  const tiles: Record<string, unknown> = {};
  for (const lab of engine.listLabs()) {
    tiles[lab.id] = {
      ...labView(engine, lab, owner),
      topology: {
        nodes: lab.nodes.map((n) => nodeView(n, { operational: false, configurations: 'exclude' })),
        links: lab.links.map((l) => linkView(engine, lab, l)),
        annotations: [],
        smart_annotations: [],
      },
    };
  }
  return { lab_tiles: tiles };
}

/**
 * `GET /labs/{id}/simulation_stats`: per running node its CPU and memory use (the same model as
 * system_stats) and state times; per link packet counters growing with the time both ends have been up.
 */
export function simulationStatsView(engine: CmlEngine, lab: SimLab, nowMs: number): Record<string, unknown> {
  const nodes: Record<string, unknown> = {};
  for (const node of lab.nodes) {
    const times = Object.fromEntries(Object.entries(node.stateTimes).filter(([, t]) => t > 0));
    if (!isRunning(node)) {
      nodes[node.id] = { times, is_running: false };
      continue;
    }
    const r = effectiveResources(node);
    const booted = node.state === 'BOOTED';
    nodes[node.id] = {
      times,
      is_running: true,
      cpu_usage: r.cpus ? round(100 * (booted ? BOOTED_LOAD : BOOTING_LOAD)) : 0,
      ram_usage: r.ram ? (booted ? 62.5 : 35.0) : 0,
      disk_usage: r.diskGb * 1024,
      block0_wr_bytes: booted ? 48 * MiB : 12 * MiB,
      block0_rd_bytes: booted ? 310 * MiB : 160 * MiB,
      cpu_limit: node.cpuLimit ?? 100,
      cpus: r.cpus || null,
      ram: r.ram || null,
    };
  }
  const links: Record<string, unknown> = {};
  for (const link of lab.links) {
    const ends = [link.nodeA, link.nodeB].map((id) => lab.nodes.find((n) => n.id === id)!);
    const upSince = Math.max(...ends.map((n) => (n.state === 'BOOTED' ? n.stateTimes.BOOTED : Number.POSITIVE_INFINITY)));
    const packets = Number.isFinite(upSince) ? Math.max(0, Math.floor((nowMs / 1000 - upSince) / 10)) : 0;
    links[link.id] = { readpackets: packets, readbytes: packets * 60, writepackets: packets, writebytes: packets * 60, drops: 0 };
  }
  return { nodes, links };
}

/** `GET /users`: the simulator's only user. */
export function usersView(engine: CmlEngine, owner: Owner, created: Date): Array<Record<string, unknown>> {
  return [
    {
      id: owner.id,
      username: owner.username,
      fullname: owner.fullname,
      description: '',
      email: '',
      admin: true,
      groups: [],
      associations: [],
      resource_pool: null,
      opt_in: null,
      tour_version: '',
      created: isoDate(created),
      modified: isoDate(created),
      directory_dn: '',
      labs: engine.listLabs().map((l) => l.id),
      pubkey_info: null,
    },
  ];
}

export function labElementStateView(engine: CmlEngine, lab: SimLab): Record<string, unknown> {
  const nodes: Record<string, string> = {};
  const interfaces: Record<string, string> = {};
  const links: Record<string, string> = {};
  for (const node of lab.nodes) {
    nodes[node.id] = node.state;
    for (const i of node.interfaces) interfaces[i.id] = engine.interfaceState(node);
  }
  for (const link of lab.links) links[link.id] = engine.linkState(lab, link);
  return { nodes, links, interfaces };
}

export interface ComputeHost {
  id: string;
  hostname: string;
  address: string;
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** What the controller itself uses with no node running. */
const BASE_MEMORY = Math.round(2.6 * GiB);
const BASE_DISK = 38 * GiB;
const BASE_CORES = 0.25;
/** Share of each vCPU a node uses while booting, and once booted. */
const BOOTING_LOAD = 0.85;
const BOOTED_LOAD = 0.08;

/** `GET /system_stats`, derived from the nodes that run (more nodes → more memory, CPU and disk). */
export function systemStatsView(engine: CmlEngine, compute: ComputeHost): Record<string, unknown> {
  const nodes = engine.allNodes();
  let cores = BASE_CORES;
  let memory = BASE_MEMORY;
  let disk = BASE_DISK;
  let allocatedCpus = 0;
  let allocatedMemoryKiB = 0;
  let predicted = 0;
  let running = 0;
  for (const node of nodes) {
    const r = effectiveResources(node);
    if (node.hasDisk) disk += r.diskGb * GiB;
    if (isActive(node)) predicted += r.cpus;
    if (!isRunning(node)) continue;
    running += 1;
    allocatedCpus += r.cpus;
    allocatedMemoryKiB += r.ram * 1024;
    memory += r.ram * MiB;
    cores += r.cpus * (node.state === 'STARTED' ? BOOTING_LOAD : BOOTED_LOAD);
  }
  const memoryStats = split(memory, compute.memoryBytes);
  const diskStats = split(disk, compute.diskBytes);
  const percent = Math.min(100, (100 * cores) / compute.cpus);
  const cpu = {
    count: compute.cpus,
    percent,
    model: 'Intel(R) Xeon(R) Platinum 8252C CPU @ 3.80GHz',
    hyperthreading: true,
    predicted,
    load: [round(cores), round(cores * 0.85), round(cores * 0.7)],
  };
  return {
    computes: {
      [compute.id]: {
        hostname: compute.hostname,
        is_controller: true,
        stats: {
          cpu,
          memory: memoryStats,
          disk: diskStats,
          dominfo: {
            total_nodes: nodes.length,
            total_orphans: 0,
            running_nodes: running,
            running_orphans: 0,
            allocated_cpus: allocatedCpus,
            allocated_memory: allocatedMemoryKiB,
          },
        },
      },
    },
    all: { cpu: { count: compute.cpus, percent }, memory: memoryStats, disk: diskStats },
    controller: { disk: split(BASE_DISK, compute.diskBytes) },
  };
}

export function systemHealthView(
  compute: ComputeHost,
  licensing: { isLicensed: boolean; isEnterprise: boolean },
): Record<string, unknown> {
  return {
    valid: true,
    is_licensed: licensing.isLicensed,
    is_enterprise: licensing.isEnterprise,
    computes: {
      [compute.id]: {
        kvm_vmx_enabled: true,
        enough_cpus: true,
        lld_connected: true,
        lld_synced: true,
        libvirt: true,
        fabric: true,
        device_mux: true,
        refplat_images_available: true,
        docker_shim: true,
        valid: true,
        admission_state: 'READY',
        is_controller: true,
        hostname: compute.hostname,
      },
    },
    controller: { core_connected: true, nodes_loaded: true, images_loaded: true, valid: true },
  };
}

export function computeHostsView(compute: ComputeHost): Array<Record<string, unknown>> {
  return [
    {
      id: compute.id,
      hostname: compute.hostname,
      server_address: compute.address,
      is_simulator: true,
      is_connector: true,
      is_connected: true,
      is_synced: true,
      admission_state: 'READY',
      nodes: [],
    },
  ];
}

function split(used: number, total: number) {
  const u = Math.min(used, total);
  return { used: u, free: total - u, total };
}

const round = (n: number): number => Math.round(n * 1000) / 1000;
