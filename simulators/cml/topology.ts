/**
 * Topology import (`POST /api/v0/import`): parse the CML topology YAML and validate it the way the
 * controller does (research/cml-api.md §7): a known schema version, node definitions and image
 * definitions that exist, well-formed interfaces, and links between existing nodes and interfaces.
 * A failure is a `TopologyError` (answered as 400 `{code, description}`); PATty tag problems that CML
 * accepts but PATty will ignore come back as warnings.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { findImageDefinition, findNodeDefinition } from './catalog.ts';
import { readPattyTags } from './patty.ts';

export const TOPOLOGY_VERSIONS = ['0.0.3', '0.0.4', '0.0.5', '0.1.0', '0.2.0', '0.2.1', '0.2.2', '0.3.0', '0.3.1'] as const;

export class TopologyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopologyError';
  }
}

const elementId = z.string().min(1).max(64);
const coordinate = z.number().int().min(-15000).max(15000);
const nullableInt = (min: number, max: number) => z.number().int().min(min).max(max).nullable().optional();

const InterfaceSchema = z.object({
  id: elementId,
  type: z.enum(['physical', 'loopback']),
  label: z.string().min(1).max(128).optional(),
  slot: z.number().int().min(0).max(128).optional(),
  mac_address: z.string().regex(/^[a-fA-F\d]{2}(:[a-fA-F\d]{2}){5}$/).nullable().optional(),
});

const ConfigurationSchema = z.union([
  z.string(),
  z.null(),
  z.array(z.object({ name: z.string().min(1).max(64), content: z.string().nullable().optional() })),
  z.object({ name: z.string().min(1).max(64), content: z.string().nullable().optional() }),
]);

const NodeSchema = z.object({
  id: elementId,
  label: z.string().min(1).max(128),
  node_definition: z.string().min(1).max(250),
  image_definition: z.string().min(1).max(250).nullable().optional(),
  x: coordinate,
  y: coordinate,
  ram: nullableInt(1, 1048576),
  cpus: nullableInt(1, 128),
  cpu_limit: nullableInt(20, 100),
  boot_disk_size: nullableInt(0, 4096),
  data_volume: nullableInt(0, 4096),
  hide_links: z.boolean().nullable().optional(),
  tags: z.array(z.string().max(64)).optional(),
  configuration: ConfigurationSchema.optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  interfaces: z.array(InterfaceSchema).optional(),
});

const LinkSchema = z.object({
  id: elementId,
  n1: elementId,
  n2: elementId,
  i1: elementId,
  i2: elementId,
  label: z.string().min(1).max(128).optional(),
  conditioning: z.record(z.string(), z.unknown()).optional(),
});

const TopologySchema = z.object({
  lab: z.object({
    version: z.union([z.string(), z.number()]).transform(String),
    title: z.string().max(64).optional(),
    description: z.string().max(4096).optional(),
    notes: z.string().max(32768).optional(),
  }),
  nodes: z.array(NodeSchema).default([]),
  links: z.array(LinkSchema).default([]),
  annotations: z.array(z.unknown()).optional(),
  smart_annotations: z.array(z.unknown()).optional(),
});

export interface TopologyInterface {
  id: string;
  label: string;
  type: 'physical' | 'loopback';
  slot: number | null;
  macAddress: string | null;
}

export interface TopologyNode {
  id: string;
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
  configuration: z.infer<typeof ConfigurationSchema> | undefined;
  parameters: Record<string, unknown>;
  interfaces: TopologyInterface[];
}

/** A node as CML's wire format gives it (the import YAML, `POST /labs/{id}/nodes`), in snake_case. */
export interface WireNode {
  label: string;
  x: number;
  y: number;
  image_definition?: string | null;
  ram?: number | null;
  cpus?: number | null;
  cpu_limit?: number | null;
  boot_disk_size?: number | null;
  data_volume?: number | null;
  hide_links?: boolean | null;
  tags?: string[];
  configuration?: TopologyNode['configuration'];
  parameters?: Record<string, unknown> | null;
}

/** A node's fields, as the simulator keeps them, from the wire format (defaults as CML applies them). */
export function nodeFields(n: WireNode, nodeDefinition: string): Omit<TopologyNode, 'id' | 'interfaces'> {
  return {
    label: n.label,
    nodeDefinition,
    imageDefinition: n.image_definition ?? null,
    x: n.x,
    y: n.y,
    ram: n.ram ?? null,
    cpus: n.cpus ?? null,
    cpuLimit: n.cpu_limit ?? null,
    bootDiskSize: n.boot_disk_size ?? null,
    dataVolume: n.data_volume ?? null,
    hideLinks: n.hide_links ?? false,
    tags: n.tags ?? [],
    configuration: n.configuration,
    parameters: n.parameters ?? {},
  };
}

export interface TopologyLink {
  id: string;
  n1: string;
  n2: string;
  i1: string;
  i2: string;
  label: string | null;
  conditioning: Record<string, unknown> | undefined;
}

export interface Topology {
  version: string;
  title: string;
  description: string;
  notes: string;
  nodes: TopologyNode[];
  links: TopologyLink[];
  annotations: unknown[];
  smartAnnotations: unknown[];
}

export interface ParsedTopology {
  topology: Topology;
  /** Markdown strings, as CML returns them in `ImportLabResponse.warnings`. */
  warnings: string[];
}

export interface ParseOptions {
  /** `?title=` of the import call: overrides `lab.title`. */
  title?: string;
  /** PATty outside port range; tags outside it are accepted but ignored (a warning). */
  pattyRange: { min: number; max: number };
  now?: Date;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** Default CML title: "Lab at Mon 17:27 PM". */
export function defaultTitle(now: Date): string {
  const day = now.toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' });
  const hh = String(now.getUTCHours()).padStart(2, '0');
  const mm = String(now.getUTCMinutes()).padStart(2, '0');
  return `Lab at ${day} ${hh}:${mm} ${now.getUTCHours() < 12 ? 'AM' : 'PM'}`;
}

/** Parses and validates a topology; throws `TopologyError` with a human-readable description. */
export function parseTopology(text: string, options: ParseOptions): ParsedTopology {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new TopologyError(`Invalid topology: the body is not valid YAML (${(e as Error).message.split('\n')[0]}).`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TopologyError('Invalid topology: expected a mapping with "lab", "nodes" and "links".');
  }
  const parsed = TopologySchema.safeParse(raw);
  if (!parsed.success) throw new TopologyError(`Invalid topology: ${describeIssues(parsed.error)}.`);
  const input = parsed.data;

  if (!(TOPOLOGY_VERSIONS as readonly string[]).includes(input.lab.version)) {
    throw new TopologyError(
      `Invalid topology: unsupported schema version "${input.lab.version}" (supported: ${TOPOLOGY_VERSIONS.join(', ')}).`,
    );
  }

  const warnings: string[] = [];
  const nodes: TopologyNode[] = [];
  const nodeById = new Map<string, TopologyNode>();
  for (const n of input.nodes) {
    if (nodeById.has(n.id)) throw new TopologyError(`Invalid topology: duplicate node id "${n.id}".`);
    const definition = findNodeDefinition(n.node_definition);
    if (!definition) {
      throw new TopologyError(`Node definition not found: "${n.node_definition}" (node "${n.label}").`);
    }
    if (n.image_definition) {
      const image = findImageDefinition(n.image_definition);
      if (!image) throw new TopologyError(`Image definition not found: "${n.image_definition}" (node "${n.label}").`);
      if (image.nodeDefinitionId !== definition.id) {
        throw new TopologyError(
          `Image definition "${n.image_definition}" belongs to node definition "${image.nodeDefinitionId}", not "${definition.id}" (node "${n.label}").`,
        );
      }
    }
    const interfaces: TopologyInterface[] = [];
    const interfaceIds = new Set<string>();
    let nextPhysicalSlot = 0;
    let nextLoopback = 0;
    for (const i of n.interfaces ?? []) {
      if (interfaceIds.has(i.id)) {
        throw new TopologyError(`Invalid topology: duplicate interface id "${i.id}" on node "${n.label}".`);
      }
      interfaceIds.add(i.id);
      if (i.type === 'physical') {
        const slot = i.slot ?? nextPhysicalSlot;
        if (slot >= definition.physicalInterfaces.length) {
          throw new TopologyError(
            `Interface slot ${slot} on node "${n.label}" exceeds the ${definition.physicalInterfaces.length} physical interfaces of "${definition.id}".`,
          );
        }
        nextPhysicalSlot = Math.max(nextPhysicalSlot, slot + 1);
        interfaces.push({
          id: i.id,
          label: i.label ?? definition.physicalInterfaces[slot] ?? `port${slot}`,
          type: 'physical',
          slot,
          macAddress: i.mac_address ?? null,
        });
      } else {
        interfaces.push({ id: i.id, label: i.label ?? `Loopback${nextLoopback}`, type: 'loopback', slot: null, macAddress: null });
        nextLoopback += 1;
      }
    }
    const node: TopologyNode = { id: n.id, ...nodeFields(n, definition.id), interfaces };
    nodes.push(node);
    nodeById.set(node.id, node);
  }

  const links: TopologyLink[] = [];
  const linkIds = new Set<string>();
  const usedInterfaces = new Map<string, string>();
  for (const l of input.links) {
    if (linkIds.has(l.id)) throw new TopologyError(`Invalid topology: duplicate link id "${l.id}".`);
    linkIds.add(l.id);
    for (const [nodeKey, ifaceKey] of [
      ['n1', 'i1'],
      ['n2', 'i2'],
    ] as const) {
      const node = nodeById.get(l[nodeKey]);
      if (!node) throw new TopologyError(`Link "${l.id}" refers to a node that does not exist: ${nodeKey}="${l[nodeKey]}".`);
      if (!node.interfaces.some((i) => i.id === l[ifaceKey])) {
        throw new TopologyError(
          `Link "${l.id}" refers to an interface that does not exist on node "${node.label}": ${ifaceKey}="${l[ifaceKey]}".`,
        );
      }
      const key = `${node.id}\u0000${l[ifaceKey]}`;
      const other = usedInterfaces.get(key);
      if (other !== undefined && other !== l.id) {
        throw new TopologyError(
          `Interface "${l[ifaceKey]}" of node "${node.label}" is used by links "${other}" and "${l.id}"; an interface takes one link.`,
        );
      }
      usedInterfaces.set(key, l.id);
    }
    if (l.n1 === l.n2 && l.i1 === l.i2) throw new TopologyError(`Link "${l.id}" connects an interface to itself.`);
    links.push({ id: l.id, n1: l.n1, n2: l.n2, i1: l.i1, i2: l.i2, label: l.label ?? null, conditioning: l.conditioning });
  }

  warnings.push(...pattyWarnings(nodes, options.pattyRange));

  const title = options.title ?? input.lab.title ?? defaultTitle(options.now ?? new Date());
  return {
    topology: {
      version: input.lab.version,
      title: title.slice(0, 64),
      description: input.lab.description ?? '',
      notes: input.lab.notes ?? '',
      nodes,
      links,
      annotations: input.annotations ?? [],
      smartAnnotations: input.smart_annotations ?? [],
    },
    warnings,
  };
}

/** PATty tags CML accepts but PATty will not honour: out of range, duplicated, a second VNC. */
function pattyWarnings(nodes: TopologyNode[], range: { min: number; max: number }): string[] {
  const warnings: string[] = [];
  const portOwners = new Map<string, string>();
  for (const node of nodes) {
    let vncSeen = false;
    for (const m of readPattyTags(node.tags)) {
      if (m.port < range.min || m.port > range.max) {
        warnings.push(
          `Node \`${node.label}\`: tag \`${m.tag}\` is outside the PATty port range ${range.min}-${range.max} and will be ignored.`,
        );
        continue;
      }
      if (m.kind === 'vnc') {
        if (vncSeen) warnings.push(`Node \`${node.label}\`: only one \`vnc:\` tag is honoured; \`${m.tag}\` will be ignored.`);
        vncSeen = true;
      }
      const key = `${m.protocol}/${m.port}`;
      const owner = portOwners.get(key);
      if (owner !== undefined) {
        warnings.push(`Node \`${node.label}\`: port ${m.port}/${m.protocol} of tag \`${m.tag}\` is already used by \`${owner}\`.`);
      } else {
        portOwners.set(key, node.label);
      }
    }
  }
  return warnings;
}

/** The topology as CML's `GET /labs/{id}/download` returns it (YAML text). */
export function topologyToYaml(topology: Topology): string {
  return stringifyYaml({
    annotations: topology.annotations,
    smart_annotations: topology.smartAnnotations,
    nodes: topology.nodes.map((n) => ({
      boot_disk_size: n.bootDiskSize,
      configuration: n.configuration ?? null,
      cpu_limit: n.cpuLimit,
      cpus: n.cpus,
      data_volume: n.dataVolume,
      hide_links: n.hideLinks,
      id: n.id,
      image_definition: n.imageDefinition,
      label: n.label,
      node_definition: n.nodeDefinition,
      parameters: n.parameters,
      ram: n.ram,
      tags: n.tags,
      x: n.x,
      y: n.y,
      interfaces: n.interfaces.map((i) => ({
        id: i.id,
        label: i.label,
        ...(i.slot === null ? {} : { slot: i.slot }),
        type: i.type,
      })),
    })),
    links: topology.links.map((l) => ({
      id: l.id,
      n1: l.n1,
      n2: l.n2,
      i1: l.i1,
      i2: l.i2,
      ...(l.label === null ? {} : { label: l.label }),
      ...(l.conditioning ? { conditioning: l.conditioning } : {}),
    })),
    lab: { description: topology.description, notes: topology.notes, title: topology.title, version: topology.version },
  });
}
