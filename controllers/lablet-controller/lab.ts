/**
 * The lab side of a session, as pure functions: how LCM marks the labs it imports (so a lab can be
 * reused by the next session of the same definition, and found again by the session that imported it
 * if the controller died before recording it), how a session's allocated ports become PATty node tags
 * (research/cml-api.md §3), and which devices the student and the grading engine are given.
 */
import { parseDocument } from 'yaml';
import { formatPattyTag, nodeExternalAccess, nonPattyTags, type NodeExternalAccess } from '../../core/clients/cml/index.ts';

/** What LCM writes into the description of a lab it imports. */
export interface LabMarkers {
  definitionId: string;
  /** The session that imported the lab (a reusing session does not change it). */
  sessionId: string;
}

const MARKER = /\blcm-definition=(\S+)\s+lcm-session=(\S+)/;

export function formatLabMarkers(m: LabMarkers): string {
  return `Managed by LCM: lcm-definition=${m.definitionId} lcm-session=${m.sessionId}`;
}

export function parseLabMarkers(description: string | null | undefined): LabMarkers | undefined {
  const match = description ? MARKER.exec(description) : null;
  return match ? { definitionId: match[1] as string, sessionId: match[2] as string } : undefined;
}

/** The definition's topology with LCM's markers in `lab.description` (the rest unchanged). */
export function markedLabYaml(labYaml: string, markers: LabMarkers): string {
  const doc = parseDocument(labYaml);
  const previous = doc.getIn(['lab', 'description']);
  const marker = formatLabMarkers(markers);
  doc.setIn(['lab', 'description'], typeof previous === 'string' && previous.trim() ? `${previous.trim()}\n${marker}` : marker);
  return doc.toString();
}

/** Lab title shown in CML: the definition and the session, at most 64 characters. */
export function labTitle(definitionName: string, sessionId: string): string {
  const suffix = ` (${sessionId})`;
  return `${definitionName.slice(0, Math.max(1, 64 - suffix.length))}${suffix}`.slice(0, 64);
}

export interface LabNode {
  id: string;
  label: string;
  tags: readonly string[];
}

export interface PortEntry {
  name: string;
  port: number;
  /** From the definition's port template (default `serial`). */
  protocol: string;
}

type Kind = 'serial' | 'vnc' | 'pat';

/** The PATty mapping a port of this protocol asks for. */
function mappingOf(protocol: string, port: number): { kind: Kind; tag: string } {
  const p = protocol.trim().toLowerCase();
  if (p === 'vnc') return { kind: 'vnc', tag: formatPattyTag({ kind: 'vnc', port }) };
  const inside: Record<string, number> = { ssh: 22, http: 80, https: 443, rdp: 3389 };
  if (inside[p] !== undefined) return { kind: 'pat', tag: formatPattyTag({ kind: 'pat', port, insidePort: inside[p] }) };
  // serial, console, telnet and anything unknown: the node's console.
  return { kind: 'serial', tag: formatPattyTag({ kind: 'serial', port }) };
}

/** The node a port entry names: its label exactly, or `<label>-…`, `<label>:…`, `<label>_…` (case-insensitive). */
function namedNode(nodes: readonly LabNode[], name: string): LabNode | undefined {
  const n = name.toLowerCase();
  return (
    nodes.find((node) => node.label.toLowerCase() === n) ??
    nodes.find((node) => ['-', ':', '_'].some((sep) => n.startsWith(`${node.label.toLowerCase()}${sep}`)))
  );
}

/**
 * The tags every node should carry for the session's ports. A port entry goes to the node it names
 * (see `namedNode`), otherwise to the next node, in topology order, without a mapping of that kind
 * (so `console`, `console-2`… give each node its console). A node's other PATty tags are dropped (a
 * reused lab carries the previous session's ports); its ordinary tags are kept. Ports left over when
 * every node has a mapping of their kind go round-robin again (PATty allows several serial lines).
 */
export function desiredNodeTags(nodes: readonly LabNode[], ports: readonly PortEntry[]): Map<string, string[]> {
  const added = new Map<string, string[]>(nodes.map((n) => [n.id, []]));
  const kinds = new Map<string, Set<Kind>>(nodes.map((n) => [n.id, new Set<Kind>()]));
  const cursor = new Map<Kind, number>();
  for (const entry of ports) {
    if (nodes.length === 0) break;
    const { kind, tag } = mappingOf(entry.protocol, entry.port);
    let node = namedNode(nodes, entry.name);
    if (!node) {
      node = nodes.find((n) => !kinds.get(n.id)?.has(kind));
      if (!node) {
        const i = cursor.get(kind) ?? 0;
        node = nodes[i % nodes.length] as LabNode;
        cursor.set(kind, i + 1);
      }
    }
    if (kind === 'vnc' && kinds.get(node.id)?.has('vnc')) continue; // PATty: one VNC port per node
    added.get(node.id)?.push(tag);
    kinds.get(node.id)?.add(kind);
  }
  return new Map(nodes.map((n) => [n.id, [...nonPattyTags(n.tags), ...(added.get(n.id) ?? [])]]));
}

/** Nodes whose tags differ from the desired ones (order-insensitive). */
export function tagChanges(nodes: readonly LabNode[], desired: Map<string, string[]>): Array<{ nodeId: string; tags: string[] }> {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
  return nodes.flatMap((n) => {
    const want = desired.get(n.id);
    return want && !same(n.tags, want) ? [{ nodeId: n.id, tags: want }] : [];
  });
}

export interface Device {
  label: string;
  protocol: string;
  port?: number;
}

/**
 * What the student reaches, from the nodes' PATty tags: one device per mapped port (serial → `telnet`,
 * vnc → `vnc`, a forwarded 22 → `ssh`, 80/443 → `http`/`https`, other → `tcp`). Nodes without any
 * mapping are listed with protocol `console` (reachable through CML's own console server).
 */
export function devicesOf(nodes: ReadonlyArray<{ id: string; label: string; tags?: readonly string[] | null }>): Device[] {
  const insideProtocol: Record<number, string> = { 22: 'ssh', 80: 'http', 443: 'https', 3389: 'rdp' };
  return nodes.flatMap((node) => {
    const access: NodeExternalAccess = nodeExternalAccess(node);
    const out: Device[] = [
      ...access.serial.map((s) => ({ label: node.label, protocol: 'telnet', port: s.port })),
      ...(access.vnc !== null ? [{ label: node.label, protocol: 'vnc', port: access.vnc }] : []),
      ...access.pat.map((p) => ({ label: node.label, protocol: insideProtocol[p.insidePort] ?? p.protocol, port: p.port })),
    ];
    return out.length > 0 ? out : [{ label: node.label, protocol: 'console' }];
  });
}
