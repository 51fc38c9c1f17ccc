/**
 * External access to CML nodes through PATty node tags (research/cml-api.md §3).
 *
 * CML has no API call that allocates a port: the PATty service on the controller reads node tags.
 *   - `serial:<outside-port>[:<line>]`  raw TCP to the node's serial line (line 0, the console, by default)
 *   - `vnc:<outside-port>`              the node's VNC display (at most one per node)
 *   - `pat:<out>:<in>`, `pat:tcp:<out>:<in>`, `pat:udp:<out>:<in>`  forward a port to the node's own IP
 * Any other tag is an ordinary label and is not PATty's business.
 */

/** One port mapping requested by a PATty tag. */
export type PattyMapping =
  | { kind: 'serial'; tag: string; protocol: 'tcp'; port: number; line: number }
  | { kind: 'vnc'; tag: string; protocol: 'tcp'; port: number }
  | { kind: 'pat'; tag: string; protocol: 'tcp' | 'udp'; port: number; insidePort: number };

/** PATty's default outside port range (CML 2.6+). Production workers widen it to 2000–9999. */
export const DEFAULT_PATTY_RANGE = { min: 2000, max: 7999 } as const;

const PORT = /^\d{1,5}$/;

function toPort(text: string | undefined): number | null {
  if (text === undefined || !PORT.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/** Parses one tag; null when the tag is not a (well-formed) PATty tag. */
export function parsePattyTag(tag: string): PattyMapping | null {
  const parts = tag.trim().split(':');
  const kind = parts[0]?.toLowerCase();
  if (kind === 'serial' && (parts.length === 2 || parts.length === 3)) {
    const port = toPort(parts[1]);
    const line = parts.length === 3 ? Number(parts[2]) : 0;
    if (port === null || !Number.isInteger(line) || line < 0 || line > 4 || parts[2] === '') return null;
    return { kind: 'serial', tag, protocol: 'tcp', port, line };
  }
  if (kind === 'vnc' && parts.length === 2) {
    const port = toPort(parts[1]);
    return port === null ? null : { kind: 'vnc', tag, protocol: 'tcp', port };
  }
  if (kind === 'pat') {
    let protocol: 'tcp' | 'udp' = 'tcp';
    let rest = parts.slice(1);
    if (rest.length === 3) {
      const p = rest[0]?.toLowerCase();
      if (p !== 'tcp' && p !== 'udp') return null;
      protocol = p;
      rest = rest.slice(1);
    }
    if (rest.length !== 2) return null;
    const port = toPort(rest[0]);
    const insidePort = toPort(rest[1]);
    if (port === null || insidePort === null) return null;
    return { kind: 'pat', tag, protocol, port, insidePort };
  }
  return null;
}

/** Every well-formed PATty mapping among `tags`, in tag order. */
export function parsePattyTags(tags: readonly string[]): PattyMapping[] {
  const mappings: PattyMapping[] = [];
  for (const tag of tags) {
    const mapping = parsePattyTag(tag);
    if (mapping) mappings.push(mapping);
  }
  return mappings;
}

/** How a node can be reached from outside the CML host, derived from its tags. */
export interface NodeExternalAccess {
  nodeId: string;
  label: string;
  /** Serial lines exposed as raw TCP (telnet-style), in tag order. */
  serial: Array<{ port: number; line: number }>;
  /** The VNC port, when the node has a `vnc:` tag (the first one wins, as PATty allows one). */
  vnc: number | null;
  /** Ports forwarded to the node's own address. */
  pat: Array<{ protocol: 'tcp' | 'udp'; port: number; insidePort: number }>;
}

/** External access of one node from its id, label and tags. */
export function nodeExternalAccess(node: { id: string; label: string; tags?: readonly string[] | null }): NodeExternalAccess {
  const access: NodeExternalAccess = { nodeId: node.id, label: node.label, serial: [], vnc: null, pat: [] };
  for (const m of parsePattyTags(node.tags ?? [])) {
    if (m.kind === 'serial') access.serial.push({ port: m.port, line: m.line });
    else if (m.kind === 'vnc') access.vnc ??= m.port;
    else access.pat.push({ protocol: m.protocol, port: m.port, insidePort: m.insidePort });
  }
  return access;
}

/** Tags of `tags` that are not PATty tags (to replace a node's PATty tags while keeping the rest). */
export function nonPattyTags(tags: readonly string[]): string[] {
  return tags.filter((t) => parsePattyTag(t) === null);
}

/** The tag that requests `mapping` (inverse of `parsePattyTag`), e.g. `serial:4001`, `pat:udp:5000:161`. */
export function formatPattyTag(
  mapping:
    | { kind: 'serial'; port: number; line?: number }
    | { kind: 'vnc'; port: number }
    | { kind: 'pat'; port: number; insidePort: number; protocol?: 'tcp' | 'udp' },
): string {
  if (mapping.kind === 'serial') return mapping.line ? `serial:${mapping.port}:${mapping.line}` : `serial:${mapping.port}`;
  if (mapping.kind === 'vnc') return `vnc:${mapping.port}`;
  return mapping.protocol === 'udp' ? `pat:udp:${mapping.port}:${mapping.insidePort}` : `pat:tcp:${mapping.port}:${mapping.insidePort}`;
}
