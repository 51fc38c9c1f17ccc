import { parse as parseYaml } from 'yaml';
import { badInput } from '../errors.ts';

/**
 * The CML topology YAML (import format, research/cml-api.md §7): parsed and checked for what LCM
 * relies on — nodes with ids, labels and node definitions, interfaces, and links between existing
 * nodes and interfaces. Returns a summary; the YAML itself is stored as given.
 */
export interface LabTopologySummary {
  title?: string;
  schemaVersion: string;
  nodes: Array<{ id: string; label: string; nodeDefinition: string; tags: string[] }>;
  linkCount: number;
  /** Distinct node definitions, sorted. */
  nodeDefinitions: string[];
}

export const KNOWN_TOPOLOGY_VERSIONS = ['0.0.3', '0.0.4', '0.0.5', '0.1.0', '0.2.0', '0.2.1', '0.2.2', '0.3.0', '0.3.1'];
const MAX_YAML_BYTES = 1024 * 1024;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseLabTopology(yamlText: string, field = 'labYaml'): LabTopologySummary {
  if (Buffer.byteLength(yamlText, 'utf8') > MAX_YAML_BYTES) throw badInput(field, 'is larger than 1 MiB');
  let doc: unknown;
  try {
    doc = parseYaml(yamlText, { maxAliasCount: 100, logLevel: 'error' });
  } catch (e) {
    throw badInput(field, `is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isRecord(doc)) throw badInput(field, 'must be a YAML mapping with `lab`, `nodes` and `links`');
  const lab = doc.lab;
  if (!isRecord(lab)) throw badInput(`${field}.lab`, 'is required (a mapping with `version`)');
  const schemaVersion = String(lab.version ?? '');
  if (!KNOWN_TOPOLOGY_VERSIONS.includes(schemaVersion)) {
    throw badInput(`${field}.lab.version`, `must be one of ${KNOWN_TOPOLOGY_VERSIONS.join(', ')}; got "${schemaVersion}"`);
  }
  if (!Array.isArray(doc.nodes) || doc.nodes.length === 0) throw badInput(`${field}.nodes`, 'must be a non-empty list');
  const nodes: LabTopologySummary['nodes'] = [];
  const interfaces = new Map<string, Set<string>>();
  doc.nodes.forEach((n, i) => {
    const at = `${field}.nodes[${i}]`;
    if (!isRecord(n)) throw badInput(at, 'must be a mapping');
    const id = n.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw badInput(`${at}.id`, 'must be a string of 1–64 characters');
    if (interfaces.has(id)) throw badInput(`${at}.id`, `duplicates node id "${id}"`);
    if (typeof n.label !== 'string' || n.label.length === 0) throw badInput(`${at}.label`, 'is required');
    if (typeof n.node_definition !== 'string' || n.node_definition.length === 0) throw badInput(`${at}.node_definition`, 'is required');
    const ifaces = new Set<string>();
    if (n.interfaces !== undefined) {
      if (!Array.isArray(n.interfaces)) throw badInput(`${at}.interfaces`, 'must be a list');
      n.interfaces.forEach((itf, j) => {
        if (!isRecord(itf) || typeof itf.id !== 'string') throw badInput(`${at}.interfaces[${j}].id`, 'is required');
        ifaces.add(itf.id);
      });
    }
    const tags = Array.isArray(n.tags) ? n.tags.filter((t): t is string => typeof t === 'string') : [];
    interfaces.set(id, ifaces);
    nodes.push({ id, label: n.label, nodeDefinition: n.node_definition, tags });
  });
  const links = doc.links ?? [];
  if (!Array.isArray(links)) throw badInput(`${field}.links`, 'must be a list');
  links.forEach((l, i) => {
    const at = `${field}.links[${i}]`;
    if (!isRecord(l)) throw badInput(at, 'must be a mapping');
    for (const [nk, ik] of [['n1', 'i1'], ['n2', 'i2']] as const) {
      const nodeId = l[nk];
      const ifaceId = l[ik];
      const known = typeof nodeId === 'string' ? interfaces.get(nodeId) : undefined;
      if (!known) throw badInput(`${at}.${nk}`, `references unknown node ${JSON.stringify(nodeId)}`);
      if (typeof ifaceId !== 'string' || !known.has(ifaceId)) {
        throw badInput(`${at}.${ik}`, `references unknown interface ${JSON.stringify(ifaceId)} of node ${String(nodeId)}`);
      }
    }
  });
  return {
    ...(typeof lab.title === 'string' ? { title: lab.title } : {}),
    schemaVersion,
    nodes,
    linkCount: links.length,
    nodeDefinitions: [...new Set(nodes.map((n) => n.nodeDefinition))].sort(),
  };
}
