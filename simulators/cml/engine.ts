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
import { findImageDefinition, findNodeDefinition, type NodeDefinitionSpec } from './catalog.ts';
import { badRequest } from './errors.ts';
import type { CmlFaults } from './faults.ts';
import { readPattyTags, type PattyTag } from './patty.ts';
import type { Topology, TopologyInterface, TopologyNode } from './topology.ts';

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
      nominalBootSeconds: Math.max(
        0,
        ...nodes.map((n) => {
          const t = definitionOf(n).timing;
          return t.queueSeconds + t.bootSeconds;
        }),
      ),
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
