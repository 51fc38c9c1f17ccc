/**
 * The simulated CML controller's labs and nodes: the node state machine of research/cml-api.md §6
 *
 *   DEFINED_ON_CORE --start--> QUEUED --> STARTED --> BOOTED
 *   QUEUED/STARTED/BOOTED --stop--> STOPPED --start--> QUEUED ...
 *   STOPPED --wipe--> DEFINED_ON_CORE
 *
 * with per-node-definition timings (catalog.ts) scaled per lab so that the whole lab boots in about
 * `bootMs`, ±jitter. Lab state, link and interface states and convergence are derived from the nodes.
 * Every timer the engine starts is tracked and cleared by `dispose()`.
 */
import { randomUUID } from 'node:crypto';
import { definitionLoopbacks, findImageDefinition, findNodeDefinition, type NodeDefinitionSpec } from './catalog.ts';
import { badRequest, notFound } from './errors.ts';
import type { CmlFaults } from './faults.ts';
import { readPattyTags, type PattyTag } from './patty.ts';
import { runningConfiguration, supportsConfigurationExtraction, withMainConfiguration } from './running-config.ts';
import { defaultTitle, nodeFields, type Topology, type TopologyInterface, type TopologyNode, type WireNode } from './topology.ts';

export type NodeState = 'DEFINED_ON_CORE' | 'STOPPED' | 'QUEUED' | 'STARTED' | 'BOOTED' | 'DISCONNECTED';
export type ElementState = 'DEFINED_ON_CORE' | 'STOPPED' | 'STARTED';
export type BootProgress = 'Not running' | 'Booting' | 'Booted';

type PendingOp = 'start' | 'stop' | 'wipe';

export interface SimInterface {
  id: string;
  topologyId: string;
  label: string;
  type: 'physical' | 'loopback';
  slot: number | null;
  macAddress: string | null;
}

export interface SimNode {
  id: string;
  labId: string;
  topologyId: string;
  label: string;
  nodeDefinition: string;
  imageDefinition: string | null;
  x: number;
  y: number;
  ram: number | null;
  cpus: number | null;
  cpuLimit: number | null;
  bootDiskSize: number | null;
  dataVolume: number | null;
  hideLinks: boolean;
  tags: string[];
  configuration: TopologyNode['configuration'];
  parameters: Record<string, unknown>;
  interfaces: SimInterface[];
  state: NodeState;
  /** Disk images exist: the node ran since it was last wiped. */
  hasDisk: boolean;
  pending: { op: PendingOp; timer: NodeJS.Timeout | null } | null;
  /** Epoch seconds of the last QUEUED, STARTED and BOOTED transitions (0 = never). */
  stateTimes: { QUEUED: number; STARTED: number; BOOTED: number };
  computeId: string | null;
  vncKey: string | null;
  consoleKeys: string[];
  /** What the device shows as its running configuration, set when it starts (null before). */
  runningConfig: string | null;
}

export interface SimLink {
  id: string;
  topologyId: string;
  label: string;
  nodeA: string;
  nodeB: string;
  interfaceA: string;
  interfaceB: string;
  conditioning: Record<string, unknown> | undefined;
}

export interface SimLab {
  id: string;
  title: string;
  description: string;
  notes: string;
  version: string;
  created: Date;
  modified: Date;
  nodes: SimNode[];
  links: SimLink[];
  annotations: unknown[];
  smartAnnotations: unknown[];
  /** Real-world seconds for this lab to boot: the slowest node's queue + boot time. */
  nominalBootSeconds: number;
}

/** `POST /labs/{id}/nodes` (NodeCreate). */
export interface NewNode extends WireNode {
  node_definition: string;
}

/** One outside port PATty serves for a running node. */
export interface PattyBinding {
  protocol: 'tcp' | 'udp';
  port: number;
  kind: PattyTag['kind'];
  tag: string;
  labId: string;
  nodeId: string;
  nodeLabel: string;
}

/** A tag PATty skipped when its node started. */
export interface PattySkip {
  tag: string;
  labId: string;
  nodeId: string;
  nodeLabel: string;
  reason: 'out_of_range' | 'port_in_use' | 'second_vnc';
  heldBy?: { labId: string; nodeId: string; nodeLabel: string };
}

export interface EngineOptions {
  /** Milliseconds for a whole lab to boot (all nodes BOOTED); 0 = every transition is immediate. */
  bootMs: number;
  /** Relative jitter of each timing, 0..0.5 (0.2 = ±20%). */
  jitter: number;
  /** Uniform random numbers in [0, 1) (seedable for reproducible runs). */
  random: () => number;
  faults: CmlFaults;
  pattyRange: { min: number; max: number };
  computeId: string;
  /** Maximum licensed nodes that may run at once (connectors and unmanaged switches do not count). */
  licensedNodeLimit: () => number;
  now?: () => number;
}

const ACTIVE: ReadonlySet<NodeState> = new Set(['QUEUED', 'STARTED', 'BOOTED']);
const RUNNING: ReadonlySet<NodeState> = new Set(['STARTED', 'BOOTED']);
const STEADY: ReadonlySet<NodeState> = new Set(['BOOTED', 'STOPPED', 'DEFINED_ON_CORE']);

export const isActive = (node: SimNode): boolean => ACTIVE.has(node.state);
/** A libvirt domain exists and runs (what `dominfo.running_nodes` counts). */
export const isRunning = (node: SimNode): boolean => RUNNING.has(node.state);

export function bootProgress(node: SimNode): BootProgress {
  if (node.state === 'BOOTED') return 'Booted';
  if (node.state === 'STARTED') return 'Booting';
  return 'Not running';
}

/** Memory (MiB) and vCPUs a node runs with: its own values, else its image's, else its definition's. */
export function effectiveResources(node: SimNode): { ram: number; cpus: number; diskGb: number } {
  const definition = findNodeDefinition(node.nodeDefinition);
  return {
    ram: node.ram ?? definition?.ram ?? 0,
    cpus: node.cpus ?? definition?.cpus ?? 0,
    diskGb: node.bootDiskSize ?? definition?.diskGb ?? 0,
  };
}

export class CmlEngine {
  private readonly labs = new Map<string, SimLab>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly patty = new Map<string, PattyBinding>();
  private readonly pattySkips = new Map<string, PattySkip[]>();
  private readonly now: () => number;
  private disposed = false;

  constructor(private readonly options: EngineOptions) {
    this.now = options.now ?? Date.now;
  }

  // ---- labs ------------------------------------------------------------------------------------

  importLab(topology: Topology): SimLab {
    const labId = randomUUID();
    const created = new Date(this.now());
    const nodes: SimNode[] = topology.nodes.map((n) => this.createNode(labId, n));
    const byTopologyId = new Map(nodes.map((n) => [n.topologyId, n]));
    const links: SimLink[] = topology.links.map((l) => {
      const a = byTopologyId.get(l.n1)!;
      const b = byTopologyId.get(l.n2)!;
      const ia = a.interfaces.find((i) => i.topologyId === l.i1)!;
      const ib = b.interfaces.find((i) => i.topologyId === l.i2)!;
      return {
        id: randomUUID(),
        topologyId: l.id,
        label: l.label ?? `${a.label}-${ia.label}<->${b.label}-${ib.label}`.slice(0, 128),
        nodeA: a.id,
        nodeB: b.id,
        interfaceA: ia.id,
        interfaceB: ib.id,
        conditioning: l.conditioning,
      };
    });
    const lab: SimLab = {
      id: labId,
      title: topology.title,
      description: topology.description,
      notes: topology.notes,
      version: topology.version,
      created,
      modified: created,
      nodes,
      links,
      annotations: topology.annotations,
      smartAnnotations: topology.smartAnnotations,
      nominalBootSeconds: nominalBootSeconds(nodes),
    };
    this.labs.set(labId, lab);
    return lab;
  }

  private createNode(labId: string, n: TopologyNode): SimNode {
    return {
      id: randomUUID(),
      labId,
      topologyId: n.id,
      label: n.label,
      nodeDefinition: n.nodeDefinition,
      imageDefinition: n.imageDefinition,
      x: n.x,
      y: n.y,
      ram: n.ram,
      cpus: n.cpus,
      cpuLimit: n.cpuLimit,
      bootDiskSize: n.bootDiskSize,
      dataVolume: n.dataVolume,
      hideLinks: n.hideLinks,
      tags: [...n.tags],
      configuration: n.configuration,
      parameters: n.parameters,
      interfaces: n.interfaces.map((i: TopologyInterface) => ({ ...i, id: randomUUID(), topologyId: i.id })),
      state: 'DEFINED_ON_CORE',
      hasDisk: false,
      pending: null,
      stateTimes: { QUEUED: 0, STARTED: 0, BOOTED: 0 },
      computeId: null,
      vncKey: null,
      consoleKeys: [],
      runningConfig: null,
    };
  }

  listLabs(): SimLab[] {
    return [...this.labs.values()];
  }

  getLab(id: string): SimLab | undefined {
    return this.labs.get(id);
  }

  allNodes(): SimNode[] {
    return [...this.labs.values()].flatMap((l) => l.nodes);
  }

  /** STARTED if any node is active; else STOPPED if any node is STOPPED; else DEFINED_ON_CORE. */
  labState(lab: SimLab): ElementState {
    if (lab.nodes.some(isActive)) return 'STARTED';
    if (lab.nodes.some((n) => n.state === 'STOPPED')) return 'STOPPED';
    return 'DEFINED_ON_CORE';
  }

  /** No element is in transition: every node BOOTED, STOPPED or DEFINED_ON_CORE with nothing pending. */
  isConverged(lab: SimLab): boolean {
    return lab.nodes.every((n) => n.pending === null && STEADY.has(n.state));
  }

  linkState(lab: SimLab, link: SimLink): ElementState {
    const a = lab.nodes.find((n) => n.id === link.nodeA)!;
    const b = lab.nodes.find((n) => n.id === link.nodeB)!;
    if (isRunning(a) && isRunning(b)) return 'STARTED';
    if (a.state === 'DEFINED_ON_CORE' && b.state === 'DEFINED_ON_CORE') return 'DEFINED_ON_CORE';
    return 'STOPPED';
  }

  interfaceState(node: SimNode): ElementState {
    if (isRunning(node)) return 'STARTED';
    return node.state === 'DEFINED_ON_CORE' ? 'DEFINED_ON_CORE' : 'STOPPED';
  }

  startLab(lab: SimLab): void {
    if (this.options.faults.startRejectedNow) {
      throw badRequest(`Cannot start lab ${lab.id}: not enough compute resources are available.`);
    }
    const busy = lab.nodes.find((n) => n.pending?.op === 'stop' || n.pending?.op === 'wipe');
    if (busy) {
      throw badRequest(`Cannot start lab ${lab.id}: node "${busy.label}" is being ${busy.pending!.op === 'stop' ? 'stopped' : 'wiped'}.`);
    }
    const toStart = lab.nodes.filter((n) => !isActive(n));
    this.checkLicensedNodes(toStart, `Cannot start lab ${lab.id}`);
    lab.modified = new Date(this.now());
    for (const node of toStart) this.startNodeNow(lab, node);
  }

  stopLab(lab: SimLab): void {
    lab.modified = new Date(this.now());
    for (const node of lab.nodes) this.stopNodeNow(lab, node);
  }

  wipeLab(lab: SimLab): void {
    const running = lab.nodes.find((n) => isActive(n) || n.pending?.op === 'stop' || n.pending?.op === 'start');
    if (running) {
      throw badRequest(`Lab ${lab.id} has to be stopped before it can be wiped (node "${running.label}" is ${running.state}).`);
    }
    lab.modified = new Date(this.now());
    for (const node of lab.nodes) this.wipeNodeNow(lab, node);
  }

  deleteLab(lab: SimLab): void {
    const notWiped = lab.nodes.find((n) => n.state !== 'DEFINED_ON_CORE' || n.pending !== null);
    if (notWiped) {
      throw badRequest(
        `Lab ${lab.id} has to be stopped and wiped before it can be deleted (node "${notWiped.label}" is ${notWiped.pending?.op === 'wipe' ? 'being wiped' : notWiped.state}).`,
      );
    }
    this.labs.delete(lab.id);
  }

  // ---- building a lab element by element (POST /labs, /nodes, /interfaces, /links) --------------

  /** An empty lab (`POST /labs`), DEFINED_ON_CORE, in the current topology schema version. */
  createLab(input: { title?: string; description?: string; notes?: string }): SimLab {
    const created = new Date(this.now());
    const lab: SimLab = {
      id: randomUUID(),
      title: input.title ?? defaultTitle(created),
      description: input.description ?? '',
      notes: input.notes ?? '',
      version: '0.3.0',
      created,
      modified: created,
      nodes: [],
      links: [],
      annotations: [],
      smartAnnotations: [],
      nominalBootSeconds: 0,
    };
    this.labs.set(lab.id, lab);
    return lab;
  }

  /** `PATCH /labs/{id}`: title, description, notes. */
  updateLab(lab: SimLab, patch: { title?: string; description?: string; notes?: string }): void {
    if (patch.title !== undefined) lab.title = patch.title;
    if (patch.description !== undefined) lab.description = patch.description;
    if (patch.notes !== undefined) lab.notes = patch.notes;
    lab.modified = new Date(this.now());
  }

  /**
   * Adds a node (`POST /labs/{id}/nodes`), DEFINED_ON_CORE. With `populateInterfaces` it gets its
   * definition's loopbacks and default number of physical interfaces, as CML does.
   */
  addNode(lab: SimLab, input: NewNode, populateInterfaces: boolean): SimNode {
    const definition = findNodeDefinition(input.node_definition);
    if (!definition) throw badRequest(`Node definition not found: "${input.node_definition}".`);
    if (input.image_definition) {
      const image = findImageDefinition(input.image_definition);
      if (!image || image.nodeDefinitionId !== definition.id) {
        throw badRequest(`Image definition not found for node definition "${definition.id}": "${input.image_definition}".`);
      }
    }
    const node = this.createNode(lab.id, {
      id: nextElementId('n', lab.nodes.map((n) => n.topologyId)),
      ...nodeFields(input, definition.id),
      interfaces: [],
    });
    lab.nodes.push(node);
    if (populateInterfaces) {
      for (const label of definitionLoopbacks(definition)) this.pushInterface(lab, node, { label, type: 'loopback', slot: null });
      for (let slot = 0; slot < Math.min(definition.defaultInterfaceCount, definition.physicalInterfaces.length); slot++) {
        this.pushInterface(lab, node, { label: definition.physicalInterfaces[slot]!, type: 'physical', slot });
      }
    }
    lab.nominalBootSeconds = nominalBootSeconds(lab.nodes);
    lab.modified = new Date(this.now());
    return node;
  }

  /** Removes a node with its interfaces and links (`DELETE /labs/{id}/nodes/{nid}`); it must be wiped. */
  removeNode(lab: SimLab, node: SimNode): void {
    if (node.state !== 'DEFINED_ON_CORE' || node.pending !== null) {
      throw badRequest(`Node "${node.label}" has to be stopped and wiped before it can be deleted (it is ${node.pending?.op === 'wipe' ? 'being wiped' : node.state}).`);
    }
    lab.links = lab.links.filter((l) => l.nodeA !== node.id && l.nodeB !== node.id);
    lab.nodes = lab.nodes.filter((n) => n !== node);
    lab.nominalBootSeconds = nominalBootSeconds(lab.nodes);
    lab.modified = new Date(this.now());
  }

  /**
   * Creates physical interfaces on a node (`POST /labs/{id}/interfaces`). Without a slot, one more
   * interface after the existing ones; with a slot, every missing one up to it, answering all of them
   * from slot 0 (CML's bulk form). The node's physical configuration is locked once it has run.
   */
  addInterfaces(lab: SimLab, node: SimNode, slot: number | undefined, macAddress?: string | null): SimInterface | SimInterface[] {
    if (node.state !== 'DEFINED_ON_CORE' || node.pending !== null) {
      throw notFound(`Physical configuration of node "${node.label}" is locked: the node has to be wiped before interfaces are added.`);
    }
    const definition = definitionOf(node);
    const physical = () => node.interfaces.filter((i) => i.type === 'physical');
    const max = definition.physicalInterfaces.length;
    const bySlot = (s: number) => physical().find((i) => i.slot === s);
    const create = (s: number) => {
      if (s >= max) {
        throw badRequest(`Slot ${s} exceeds the ${max} physical interfaces of node definition "${definition.id}" (node "${node.label}").`);
      }
      return this.pushInterface(lab, node, { label: definition.physicalInterfaces[s]!, type: 'physical', slot: s, macAddress: macAddress ?? null });
    };
    lab.modified = new Date(this.now());
    if (slot === undefined) {
      const next = physical().reduce((m, i) => Math.max(m, (i.slot ?? -1) + 1), 0);
      return create(next);
    }
    const result: SimInterface[] = [];
    for (let s = 0; s <= slot; s++) result.push(bySlot(s) ?? create(s));
    return result;
  }

  private pushInterface(
    lab: SimLab,
    node: SimNode,
    spec: { label: string; type: 'physical' | 'loopback'; slot: number | null; macAddress?: string | null },
  ): SimInterface {
    const used = lab.nodes.flatMap((n) => n.interfaces.map((i) => i.topologyId));
    const iface: SimInterface = {
      id: randomUUID(),
      topologyId: nextElementId('i', used),
      label: spec.label,
      type: spec.type,
      slot: spec.slot,
      macAddress: spec.macAddress ?? null,
    };
    node.interfaces.push(iface);
    node.interfaces.sort((a, b) => Number(b.type === 'loopback') - Number(a.type === 'loopback') || (a.slot ?? -1) - (b.slot ?? -1));
    return iface;
  }

  /** The interface with this id in the lab, with its node. */
  findInterface(lab: SimLab, interfaceId: string): { node: SimNode; iface: SimInterface } | undefined {
    for (const node of lab.nodes) {
      const iface = node.interfaces.find((i) => i.id === interfaceId);
      if (iface) return { node, iface };
    }
    return undefined;
  }

  /** The link that uses this interface, if any. */
  linkOf(lab: SimLab, interfaceId: string): SimLink | undefined {
    return lab.links.find((l) => l.interfaceA === interfaceId || l.interfaceB === interfaceId);
  }

  /** Connects two interfaces (`POST /labs/{id}/links` with `{src_int, dst_int}`). */
  addLink(lab: SimLab, srcInterface: string, dstInterface: string): SimLink {
    const a = this.findInterface(lab, srcInterface);
    if (!a) throw notFound(`Interface not found: ${srcInterface}`);
    const b = this.findInterface(lab, dstInterface);
    if (!b) throw notFound(`Interface not found: ${dstInterface}`);
    if (a.iface === b.iface) throw badRequest(`Cannot link interface ${srcInterface} to itself.`);
    for (const end of [a, b]) {
      if (end.iface.type !== 'physical') throw badRequest(`Interface "${end.iface.label}" of node "${end.node.label}" is a loopback and cannot be linked.`);
      if (this.linkOf(lab, end.iface.id)) {
        throw badRequest(`Interface "${end.iface.label}" of node "${end.node.label}" is already connected.`);
      }
    }
    const link: SimLink = {
      id: randomUUID(),
      topologyId: nextElementId('l', lab.links.map((l) => l.topologyId)),
      label: `${a.node.label}-${a.iface.label}<->${b.node.label}-${b.iface.label}`.slice(0, 128),
      nodeA: a.node.id,
      nodeB: b.node.id,
      interfaceA: a.iface.id,
      interfaceB: b.iface.id,
      conditioning: undefined,
    };
    lab.links.push(link);
    lab.modified = new Date(this.now());
    return link;
  }

  /** `DELETE /labs/{id}/links/{lid}`. */
  removeLink(lab: SimLab, link: SimLink): void {
    lab.links = lab.links.filter((l) => l !== link);
    lab.modified = new Date(this.now());
  }

  /**
   * Copies the running configuration of a booted node into its `configuration` (what
   * `PUT .../extract_configuration` does). Refused with 400 when the node is not BOOTED or its kind has
   * no configuration.
   */
  extractConfiguration(lab: SimLab, node: SimNode): void {
    if (!supportsConfigurationExtraction(node.nodeDefinition)) {
      throw badRequest(`Node "${node.label}" (${node.nodeDefinition}) does not support configuration extraction.`);
    }
    if (node.state !== 'BOOTED' || node.runningConfig === null) {
      throw badRequest(`Cannot extract the configuration of node "${node.label}": it is ${node.state}, not BOOTED.`);
    }
    node.configuration = withMainConfiguration(node.configuration, node.runningConfig) as TopologyNode['configuration'];
    lab.modified = new Date(this.now());
  }

  startNode(lab: SimLab, node: SimNode): void {
    if (node.pending?.op === 'stop' || node.pending?.op === 'wipe') {
      throw badRequest(`Cannot start node "${node.label}": it is being ${node.pending.op === 'stop' ? 'stopped' : 'wiped'}.`);
    }
    if (isActive(node)) return;
    this.checkLicensedNodes([node], `Cannot start node "${node.label}"`);
    lab.modified = new Date(this.now());
    this.startNodeNow(lab, node);
  }

  stopNode(lab: SimLab, node: SimNode): void {
    lab.modified = new Date(this.now());
    this.stopNodeNow(lab, node);
  }

  wipeNode(lab: SimLab, node: SimNode): void {
    if (isActive(node) || node.pending?.op === 'stop') {
      throw badRequest(`Node "${node.label}" has to be stopped before it can be wiped.`);
    }
    lab.modified = new Date(this.now());
    this.wipeNodeNow(lab, node);
  }

  /** Applies a NodeUpdate (PATCH); resource fields only while the node is not running. */
  updateNode(lab: SimLab, node: SimNode, patch: NodePatch): void {
    const resourceFields = (['ram', 'cpus', 'cpu_limit', 'image_definition', 'boot_disk_size', 'data_volume', 'configuration'] as const).filter(
      (k) => patch[k] !== undefined,
    );
    if (resourceFields.length > 0 && (isActive(node) || node.pending !== null)) {
      throw badRequest(`Node "${node.label}" has to be stopped to change ${resourceFields.join(', ')}.`);
    }
    if (patch.image_definition) {
      const image = findImageDefinition(patch.image_definition);
      if (!image || image.nodeDefinitionId !== node.nodeDefinition) {
        throw badRequest(`Image definition not found for node definition "${node.nodeDefinition}": "${patch.image_definition}".`);
      }
    }
    if (patch.x !== undefined) node.x = patch.x;
    if (patch.y !== undefined) node.y = patch.y;
    if (patch.label !== undefined) node.label = patch.label;
    if (patch.tags !== undefined) node.tags = [...patch.tags];
    if (patch.hide_links !== undefined) node.hideLinks = patch.hide_links ?? false;
    if (patch.parameters !== undefined) node.parameters = patch.parameters ?? {};
    if (patch.ram !== undefined) node.ram = patch.ram;
    if (patch.cpus !== undefined) node.cpus = patch.cpus;
    if (patch.cpu_limit !== undefined) node.cpuLimit = patch.cpu_limit;
    if (patch.boot_disk_size !== undefined) node.bootDiskSize = patch.boot_disk_size;
    if (patch.data_volume !== undefined) node.dataVolume = patch.data_volume;
    if (patch.image_definition !== undefined) node.imageDefinition = patch.image_definition;
    if (patch.configuration !== undefined) node.configuration = patch.configuration;
    lab.modified = new Date(this.now());
  }

  /** The topology of a lab as it is now (for `download`). */
  topologyOf(lab: SimLab): Topology {
    const byId = new Map(lab.nodes.map((n) => [n.id, n]));
    return {
      version: lab.version,
      title: lab.title,
      description: lab.description,
      notes: lab.notes,
      annotations: lab.annotations,
      smartAnnotations: lab.smartAnnotations,
      nodes: lab.nodes.map((n) => ({
        id: n.topologyId,
        label: n.label,
        nodeDefinition: n.nodeDefinition,
        imageDefinition: n.imageDefinition,
        x: n.x,
        y: n.y,
        ram: n.ram,
        cpus: n.cpus,
        cpuLimit: n.cpuLimit,
        bootDiskSize: n.bootDiskSize,
        dataVolume: n.dataVolume,
        hideLinks: n.hideLinks,
        tags: n.tags,
        configuration: n.configuration,
        parameters: n.parameters,
        interfaces: n.interfaces.map((i) => ({ id: i.topologyId, label: i.label, type: i.type, slot: i.slot, macAddress: i.macAddress })),
      })),
      links: lab.links.map((l) => {
        const a = byId.get(l.nodeA)!;
        const b = byId.get(l.nodeB)!;
        return {
          id: l.topologyId,
          n1: a.topologyId,
          n2: b.topologyId,
          i1: a.interfaces.find((i) => i.id === l.interfaceA)!.topologyId,
          i2: b.interfaces.find((i) => i.id === l.interfaceB)!.topologyId,
          label: l.label,
          conditioning: l.conditioning,
        };
      }),
    };
  }

  // ---- PATty -----------------------------------------------------------------------------------

  pattyBindings(): PattyBinding[] {
    return [...this.patty.values()].sort((a, b) => a.port - b.port);
  }

  pattySkipped(): PattySkip[] {
    return [...this.pattySkips.values()].flat();
  }

  private bindPatty(node: SimNode): void {
    const { min, max } = this.options.pattyRange;
    const skips: PattySkip[] = [];
    const base = { labId: node.labId, nodeId: node.id, nodeLabel: node.label };
    let vncBound = false;
    for (const m of readPattyTags(node.tags)) {
      if (m.port < min || m.port > max) {
        skips.push({ ...base, tag: m.tag, reason: 'out_of_range' });
        continue;
      }
      if (m.kind === 'vnc' && vncBound) {
        skips.push({ ...base, tag: m.tag, reason: 'second_vnc' });
        continue;
      }
      const key = `${m.protocol}/${m.port}`;
      const holder = this.patty.get(key);
      if (holder && holder.nodeId !== node.id) {
        skips.push({ ...base, tag: m.tag, reason: 'port_in_use', heldBy: { labId: holder.labId, nodeId: holder.nodeId, nodeLabel: holder.nodeLabel } });
        continue;
      }
      if (m.kind === 'vnc') vncBound = true;
      this.patty.set(key, { protocol: m.protocol, port: m.port, kind: m.kind, tag: m.tag, ...base });
    }
    if (skips.length > 0) this.pattySkips.set(node.id, skips);
  }

  private unbindPatty(node: SimNode): void {
    for (const [key, binding] of this.patty) if (binding.nodeId === node.id) this.patty.delete(key);
    this.pattySkips.delete(node.id);
  }

  // ---- node transitions ------------------------------------------------------------------------

  private checkLicensedNodes(toStart: SimNode[], prefix: string): void {
    const counted = (n: SimNode) => definitionOf(n).licensed;
    const running = this.allNodes().filter((n) => isActive(n) && counted(n)).length;
    const adding = toStart.filter(counted).length;
    const limit = this.options.licensedNodeLimit();
    if (running + adding > limit) {
      throw badRequest(`${prefix}: ${running + adding} nodes would exceed the licensed node limit of ${limit}.`);
    }
  }

  /** Milliseconds for one step of `lab`: real seconds × the lab's scale × jitter. */
  private stepMs(lab: SimLab, seconds: number, kind: 'boot' | 'teardown'): number {
    const { bootMs } = this.options;
    if (bootMs <= 0 || seconds <= 0) return 0;
    const labScale = lab.nominalBootSeconds > 0 ? bootMs / (lab.nominalBootSeconds * 1000) : 0;
    // Stop and wipe keep their real-world share of time but are never slower than in reality.
    const scale = kind === 'boot' ? labScale : Math.min(labScale, 1);
    const jitter = 1 + (this.options.random() * 2 - 1) * this.options.jitter;
    return Math.max(1, Math.round(seconds * 1000 * scale * jitter));
  }

  private schedule(node: SimNode, op: PendingOp, delayMs: number, step: () => void): void {
    this.cancel(node);
    if (delayMs <= 0 || this.disposed) {
      node.pending = { op, timer: null };
      if (!this.disposed) step();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (node.pending?.timer === timer) step();
    }, delayMs);
    this.timers.add(timer);
    node.pending = { op, timer };
  }

  private cancel(node: SimNode): void {
    if (node.pending?.timer) {
      clearTimeout(node.pending.timer);
      this.timers.delete(node.pending.timer);
    }
    node.pending = null;
  }

  private startNodeNow(lab: SimLab, node: SimNode): void {
    const timing = definitionOf(node).timing;
    node.state = 'QUEUED';
    node.stateTimes.QUEUED = Math.floor(this.now() / 1000);
    this.schedule(node, 'start', this.stepMs(lab, timing.queueSeconds, 'boot'), () => {
      node.state = 'STARTED';
      node.hasDisk = true;
      node.stateTimes.STARTED = Math.floor(this.now() / 1000);
      node.computeId = this.options.computeId;
      const definition = definitionOf(node);
      node.consoleKeys = Array.from({ length: definition.serialPorts }, () => randomUUID());
      node.vncKey = definition.vnc ? randomUUID() : null;
      node.runningConfig = runningConfiguration(node);
      this.bindPatty(node);
      if (this.options.faults.shouldNeverBoot(node)) {
        node.pending = null; // stays STARTED ("Booting") for good: never converges
        return;
      }
      this.schedule(node, 'start', this.stepMs(lab, timing.bootSeconds, 'boot'), () => {
        node.state = 'BOOTED';
        node.stateTimes.BOOTED = Math.floor(this.now() / 1000);
        node.pending = null;
      });
    });
  }

  private stopNodeNow(lab: SimLab, node: SimNode): void {
    if (!isActive(node) || node.pending?.op === 'stop') return;
    // A node still QUEUED has no domain yet: it stops at once.
    const delay = node.state === 'QUEUED' ? 0 : this.stepMs(lab, definitionOf(node).timing.stopSeconds, 'teardown');
    this.schedule(node, 'stop', delay, () => {
      node.state = 'STOPPED';
      node.computeId = null;
      node.consoleKeys = [];
      node.vncKey = null;
      this.unbindPatty(node);
      node.pending = null;
    });
  }

  private wipeNodeNow(lab: SimLab, node: SimNode): void {
    if (node.state !== 'STOPPED' || node.pending?.op === 'wipe') return;
    const delay = this.stepMs(lab, definitionOf(node).timing.wipeSeconds, 'teardown') + this.options.faults.slowWipeMs;
    this.schedule(node, 'wipe', delay, () => {
      node.state = 'DEFINED_ON_CORE';
      node.hasDisk = false;
      node.stateTimes = { QUEUED: 0, STARTED: 0, BOOTED: 0 };
      node.pending = null;
    });
  }

  /** Clears every timer; the engine takes no further steps. */
  dispose(): void {
    this.disposed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

export interface NodePatch {
  x?: number;
  y?: number;
  label?: string;
  tags?: string[];
  hide_links?: boolean | null;
  parameters?: Record<string, unknown> | null;
  ram?: number | null;
  cpus?: number | null;
  cpu_limit?: number | null;
  boot_disk_size?: number | null;
  data_volume?: number | null;
  image_definition?: string | null;
  configuration?: TopologyNode['configuration'];
}

function definitionOf(node: SimNode): NodeDefinitionSpec {
  const definition = findNodeDefinition(node.nodeDefinition);
  if (!definition) throw new Error(`unknown node definition ${node.nodeDefinition}`);
  return definition;
}

/** Real-world seconds for a lab of these nodes to boot: the slowest node's queue + boot time. */
function nominalBootSeconds(nodes: readonly SimNode[]): number {
  return Math.max(
    0,
    ...nodes.map((n) => {
      const t = definitionOf(n).timing;
      return t.queueSeconds + t.bootSeconds;
    }),
  );
}

/** The first free topology id `<prefix><k>` (n0, i3, l1: CML's ids in a downloaded topology). */
function nextElementId(prefix: string, used: readonly string[]): string {
  const taken = new Set(used);
  let k = 0;
  while (taken.has(`${prefix}${k}`)) k += 1;
  return `${prefix}${k}`;
}

/** A small seeded PRNG (mulberry32) for reproducible jitter. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
