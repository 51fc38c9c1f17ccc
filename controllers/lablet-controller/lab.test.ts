import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { desiredNodeTags, devicesOf, labTitle, markedLabYaml, parseLabMarkers, tagChanges, type LabNode, type PortEntry } from './lab.ts';

const NODES: LabNode[] = [
  { id: 'a', label: 'r1', tags: ['core', 'serial:2500'] },
  { id: 'b', label: 'r2', tags: [] },
  { id: 'c', label: 'sw', tags: ['vnc:2600'] },
];

const port = (name: string, p: number, protocol = 'serial'): PortEntry => ({ name, port: p, protocol });

describe('lab markers', () => {
  it('round-trip through the description the import writes, keeping the topology', () => {
    const yaml = markedLabYaml('lab: {version: 0.2.2, title: t, description: "Two routers"}\nnodes: []\nlinks: []\n', { definitionId: 'def_1', sessionId: 'ses_1' });
    const doc = parse(yaml) as { lab: { description: string; title: string } };
    expect(doc.lab.title).toBe('t');
    expect(doc.lab.description.startsWith('Two routers\n')).toBe(true);
    expect(parseLabMarkers(doc.lab.description)).toEqual({ definitionId: 'def_1', sessionId: 'ses_1' });
    expect(parseLabMarkers('a lab someone else made')).toBeUndefined();
    expect(parseLabMarkers(undefined)).toBeUndefined();
  });

  it('lab titles stay within CML’s 64 characters', () => {
    expect(labTitle('x'.repeat(100), 'ses_0123456789012345678901')).toHaveLength(64);
    expect(labTitle('ospf', 'ses_1')).toBe('ospf (ses_1)');
  });
});

describe('desiredNodeTags (ports → PATty tags)', () => {
  const TABLE: Array<[string, PortEntry[], Record<string, string[]>]> = [
    ['one console goes to the first node; old PATty tags go, other tags stay', [port('console', 3000)], { a: ['core', 'serial:3000'], b: [], c: [] }],
    ['consoles spread over the nodes in order', [port('console', 3000), port('console-2', 3001), port('console-3', 3002)], { a: ['core', 'serial:3000'], b: ['serial:3001'], c: ['serial:3002'] }],
    ['a port naming a node goes to it', [port('r2', 3000), port('sw-console', 3001)], { a: ['core'], b: ['serial:3000'], c: ['serial:3001'] }],
    ['vnc, ssh and https become vnc: and pat: tags', [port('r1-vnc', 3000, 'vnc'), port('r1-ssh', 3001, 'ssh'), port('web', 3002, 'https')], { a: ['core', 'vnc:3000', 'pat:tcp:3001:22'], b: ['pat:tcp:3002:443'], c: [] }],
    ['a second vnc port for a node is dropped (PATty allows one)', [port('r1', 3000, 'vnc'), port('r1-vnc2', 3001, 'vnc')], { a: ['core', 'vnc:3000'], b: [], c: [] }],
    ['more consoles than nodes: round-robin again', [port('c1', 3000), port('c2', 3001), port('c3', 3002), port('c4', 3003)], { a: ['core', 'serial:3000', 'serial:3003'], b: ['serial:3001'], c: ['serial:3002'] }],
    ['no ports: only the PATty tags are removed', [], { a: ['core'], b: [], c: [] }],
  ];
  it.each(TABLE)('%s', (_row, ports, expected) => {
    expect(Object.fromEntries(desiredNodeTags(NODES, ports))).toEqual(expected);
  });

  it('changes only nodes whose tags differ (in any order)', () => {
    const desired = new Map([
      ['a', ['serial:2500', 'core']],
      ['b', ['serial:3001']],
      ['c', ['vnc:2600']],
    ]);
    expect(tagChanges(NODES, desired)).toEqual([{ nodeId: 'b', tags: ['serial:3001'] }]);
  });
});

describe('devicesOf', () => {
  it('one device per mapped port, console for nodes without', () => {
    expect(
      devicesOf([
        { id: 'a', label: 'r1', tags: ['serial:3000', 'vnc:3001', 'pat:tcp:3002:22', 'core'] },
        { id: 'b', label: 'r2', tags: null },
      ]),
    ).toEqual([
      { label: 'r1', protocol: 'telnet', port: 3000 },
      { label: 'r1', protocol: 'vnc', port: 3001 },
      { label: 'r1', protocol: 'ssh', port: 3002 },
      { label: 'r2', protocol: 'console' },
    ]);
  });
});
