/**
 * Running configurations of simulated nodes, for `PUT /labs/{id}/nodes/{nid}/extract_configuration`.
 *
 * A real CML controller logs into the node's console and copies what the device shows as its running
 * configuration into the node's `configuration`. The simulator has no device, so it derives the text
 * from what a device would have booted with: the node's startup configuration (day-0 config), its label
 * (the hostname when the configuration names none) and its interfaces. The result is deterministic (no
 * clock, no randomness) and a fixed point: a node started from an extracted configuration shows that
 * same configuration again.
 *
 * Dialects: IOS and IOS XE (iosv, iosvl2, iol-xe, ioll2-xe, csr1000v, cat8000v), NX-OS (nxosv9000),
 * ASA (asav) and the Linux hosts' boot scripts (alpine, ubuntu, server, desktop). External connectors
 * and unmanaged switches have no configuration: extraction is refused for them.
 */
import { findNodeDefinition } from './catalog.ts';

/** What the generator needs to know of a node. */
export interface ConfigurableNode {
  label: string;
  nodeDefinition: string;
  /** The node's `configuration`: the main file's text, named files, or nothing. */
  configuration: unknown;
  /** Interfaces in the node's order, with their labels (e.g. `GigabitEthernet0/0`, `Loopback0`). */
  interfaces: ReadonlyArray<{ label: string; type: 'physical' | 'loopback' }>;
}

type Dialect = 'ios' | 'nxos' | 'asa' | 'linux';

/** Per node definition: the dialect, the version line, and the name of the main configuration file. */
const DIALECTS: Record<string, { dialect: Dialect; version: string; file: string }> = {
  iosv: { dialect: 'ios', version: '15.9', file: 'ios_config.txt' },
  iosvl2: { dialect: 'ios', version: '15.2', file: 'ios_config.txt' },
  'iol-xe': { dialect: 'ios', version: '17.16', file: 'iol_config.txt' },
  'ioll2-xe': { dialect: 'ios', version: '17.16', file: 'iol_config.txt' },
  csr1000v: { dialect: 'ios', version: '17.3', file: 'iosxe_config.txt' },
  cat8000v: { dialect: 'ios', version: '17.16', file: 'iosxe_config.txt' },
  nxosv9000: { dialect: 'nxos', version: '10.5(3) Bios:version', file: 'nxos_config.txt' },
  asav: { dialect: 'asa', version: '9.22(1)1', file: 'day0-config' },
  alpine: { dialect: 'linux', version: '', file: 'node.cfg' },
  ubuntu: { dialect: 'linux', version: '', file: 'user-data' },
  server: { dialect: 'linux', version: '', file: 'node.cfg' },
  desktop: { dialect: 'linux', version: '', file: 'node.cfg' },
};

/** The file name of a node's main configuration (what `"Main"` stands for). */
export const mainConfigurationFileName = (nodeDefinition: string): string => DIALECTS[nodeDefinition]?.file ?? 'config.txt';

/** Whether the node's kind has a configuration CML can extract. */
export const supportsConfigurationExtraction = (nodeDefinition: string): boolean => nodeDefinition in DIALECTS;

/** The text of the main configuration file of a node's `configuration` (null when there is none). */
export function mainConfigurationText(configuration: unknown): string | null {
  if (typeof configuration === 'string') return configuration;
  const first = Array.isArray(configuration) ? (configuration[0] as unknown) : configuration;
  if (first && typeof first === 'object' && 'content' in first) {
    const content = (first as { content?: unknown }).content;
    return typeof content === 'string' ? content : null;
  }
  return null;
}

/**
 * `configuration` with its main file's text replaced by `text`, in the same form it had: a string stays
 * a string, named files keep their names and the other files.
 */
export function withMainConfiguration(configuration: unknown, text: string): unknown {
  if (Array.isArray(configuration) && configuration.length > 0) {
    const [first, ...rest] = configuration as Array<Record<string, unknown>>;
    return [{ ...first, content: text }, ...rest];
  }
  if (configuration && typeof configuration === 'object' && !Array.isArray(configuration)) {
    return { ...(configuration as Record<string, unknown>), content: text };
  }
  return text;
}

/** The running configuration the node shows once booted, or null when its kind has none. */
export function runningConfiguration(node: ConfigurableNode): string | null {
  const spec = DIALECTS[node.nodeDefinition];
  if (!spec) return null;
  const startup = mainConfigurationText(node.configuration) ?? '';
  const hostname = hostnameFor(node.label);
  switch (spec.dialect) {
    case 'ios':
      return iosRunningConfig(node, startup, hostname, spec.version);
    case 'nxos':
      return nxosRunningConfig(node, startup, hostname, spec.version);
    case 'asa':
      return asaRunningConfig(node, startup, hostname, spec.version);
    case 'linux':
      return linuxRunningConfig(startup, hostname);
  }
}

/** A device hostname from a node label: letters, digits and dashes, starting with a letter. */
export function hostnameFor(label: string): string {
  const cleaned = label
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  const name = /^[A-Za-z]/.test(cleaned) ? cleaned : `node-${cleaned}`;
  return name.slice(0, 63).replace(/-+$/, '') || 'node';
}

// ---- CLI configurations (IOS, NX-OS, ASA) ------------------------------------------------------

interface Block {
  head: string;
  children: string[];
}

/**
 * Splits a CLI configuration into top-level commands with their indented sub-commands. Comments (`!`,
 * `:`), blank lines, `end` and the banners a `show running-config` prints are dropped.
 */
function parseBlocks(text: string, ignore: (line: string) => boolean): Block[] {
  const blocks: Block[] = [];
  for (const raw of text.replace(/\r\n?/g, '\n').split('\n')) {
    const line = raw.replace(/\s+$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('!') || trimmed.startsWith(':') || ignore(trimmed)) continue;
    if (/^\s/.test(line) && blocks.length > 0) blocks[blocks.length - 1]!.children.push(trimmed);
    else blocks.push({ head: trimmed, children: [] });
  }
  return blocks;
}

const sameCommand = (a: string, b: string) => a.replace(/\s+/g, ' ').toLowerCase() === b.replace(/\s+/g, ' ').toLowerCase();

/** The interface name a block configures (`interface Gi0/0` → `Gi0/0`), or null. */
const interfaceOf = (head: string): string | null => /^interface\s+(\S.*)$/i.exec(head)?.[1]?.trim() ?? null;

interface CliDialect {
  /** Lines printed before the hostname. */
  preamble: string[];
  /** Top-level commands the device always shows after the hostname. */
  head: string[];
  /** Top-level commands the device always shows after the interfaces. */
  tail: string[];
  /** Sub-commands of an interface the startup configuration does not mention. */
  defaultInterface: (iface: { label: string; type: 'physical' | 'loopback' }) => string[];
  /** Closing blocks (consoles, vty lines), replaced by the startup configuration's blocks of the same head. */
  closing: Block[];
  indent: string;
  /** The line between sections: `!` on IOS and ASA, a blank line on NX-OS. */
  separator: string;
  footer: string[];
}

function cliRunningConfig(node: ConfigurableNode, startup: string, hostname: string, dialect: CliDialect): string {
  // What the generator prints itself is not copied again from a configuration it printed before.
  const generated = [...dialect.preamble, ...dialect.head, ...dialect.tail].filter((l) => l.trim() !== '');
  const blocks = parseBlocks(startup, (line) => /^(end|version\s|building configuration|current configuration|asa version)/i.test(line));
  const configuredHostname = blocks.find((b) => /^hostname\s+\S/i.test(b.head))?.head.split(/\s+/)[1];

  const interfaces = new Map<string, string[]>();
  const others: Block[] = [];
  const closing = new Map(dialect.closing.map((b) => [b.head.toLowerCase(), b.children]));
  for (const block of blocks) {
    const name = interfaceOf(block.head);
    if (name !== null) interfaces.set(name.toLowerCase(), block.children);
    else if (/^hostname\s/i.test(block.head)) continue;
    else if (closing.has(block.head.toLowerCase())) closing.set(block.head.toLowerCase(), block.children);
    else if (!generated.some((g) => sameCommand(g, block.head))) others.push(block);
  }

  const out: string[] = [...dialect.preamble];
  const sep = () => {
    if (out[out.length - 1] !== dialect.separator) out.push(dialect.separator);
  };
  const emit = (head: string, children: readonly string[]) => {
    out.push(head, ...children.map((c) => dialect.indent + c));
    if (children.length > 0) sep();
  };
  out.push(`hostname ${configuredHostname ?? hostname}`);
  sep();
  out.push(...dialect.head);
  sep();
  for (const block of others) emit(block.head, block.children);
  sep();
  const known = new Set<string>();
  const ordered = [...node.interfaces].sort((a, b) => Number(b.type === 'loopback') - Number(a.type === 'loopback'));
  for (const iface of ordered) {
    known.add(iface.label.toLowerCase());
    emit(`interface ${iface.label}`, interfaces.get(iface.label.toLowerCase()) ?? dialect.defaultInterface(iface));
    sep();
  }
  for (const block of blocks) {
    const name = interfaceOf(block.head);
    if (name !== null && !known.has(name.toLowerCase())) {
      known.add(name.toLowerCase());
      emit(block.head, block.children);
      sep();
    }
  }
  out.push(...dialect.tail);
  sep();
  for (const block of dialect.closing) out.push(block.head, ...(closing.get(block.head.toLowerCase()) ?? block.children).map((c) => dialect.indent + c));
  sep();
  out.push(...dialect.footer);
  while (out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n`;
}

function iosRunningConfig(node: ConfigurableNode, startup: string, hostname: string, version: string): string {
  return cliRunningConfig(node, startup, hostname, {
    preamble: ['!', `version ${version}`, 'service timestamps debug datetime msec', 'service timestamps log datetime msec', 'no service password-encryption', '!'],
    head: ['boot-start-marker', 'boot-end-marker', '!', 'no aaa new-model', '!', 'ip cef', 'no ipv6 cef', '!', 'multilink bundle-name authenticated'],
    tail: ['ip forward-protocol nd', '!', 'no ip http server', 'no ip http secure-server', '!', 'control-plane'],
    defaultInterface: (iface) => (iface.type === 'loopback' ? ['no ip address'] : ['no ip address', 'shutdown', 'duplex auto', 'speed auto']),
    closing: [
      { head: 'line con 0', children: [] },
      { head: 'line aux 0', children: [] },
      { head: 'line vty 0 4', children: ['login', 'transport input none'] },
    ],
    indent: ' ',
    separator: '!',
    footer: ['end'],
  });
}

function nxosRunningConfig(node: ConfigurableNode, startup: string, hostname: string, version: string): string {
  return cliRunningConfig(node, startup, hostname, {
    preamble: ['!Command: show running-config', '', `version ${version}`],
    head: ['no password strength-check', 'copp profile strict', 'rmon event 1 description FATAL(1) owner PMON@FATAL', '', 'vrf context management'],
    tail: [],
    defaultInterface: (iface) => (iface.label === 'mgmt0' ? ['vrf member management'] : []),
    closing: [
      { head: 'line console', children: [] },
      { head: 'line vty', children: [] },
    ],
    indent: '  ',
    separator: '',
    footer: [],
  });
}

function asaRunningConfig(node: ConfigurableNode, startup: string, hostname: string, version: string): string {
  return cliRunningConfig(node, startup, hostname, {
    preamble: [':', `ASA Version ${version}`, '!'],
    head: ['enable password ***** pbkdf2', 'names', 'no mac-address auto'],
    tail: ['ftp mode passive', 'pager lines 23', 'no failover', 'no asdm history enable', 'arp timeout 14400', 'no arp permit-nonconnected', 'timeout xlate 3:00:00'],
    defaultInterface: () => ['shutdown', 'no nameif', 'no security-level', 'no ip address'],
    closing: [{ head: 'console timeout 0', children: [] }],
    indent: ' ',
    separator: '!',
    footer: [': end'],
  });
}

// ---- Linux hosts ---------------------------------------------------------------------------------

/** A Linux node's boot script, with its hostname set (CML's default script when it has none). */
function linuxRunningConfig(startup: string, hostname: string): string {
  const script = startup.trim() === '' ? `# this is a shell script which will be sourced at boot\nhostname ${hostname}\n` : startup;
  if (/^\s*hostname\s+\S/m.test(script)) return script.endsWith('\n') ? script : `${script}\n`;
  const lines = script.replace(/\n$/, '').split('\n');
  const at = lines[0]?.startsWith('#') ? 1 : 0;
  lines.splice(at, 0, `hostname ${hostname}`);
  return `${lines.join('\n')}\n`;
}

/** Node definitions with a configuration generator (for documentation and tests). */
export const EXTRACTABLE_NODE_DEFINITIONS = Object.keys(DIALECTS).filter((id) => findNodeDefinition(id) !== undefined);
