import { describe, expect, it } from 'vitest';
import { formatPattyTag, nodeExternalAccess, nonPattyTags, parsePattyTag } from './external-access.ts';

describe('PATty tags', () => {
  it.each([
    ['serial:4001', { kind: 'serial', port: 4001, line: 0, protocol: 'tcp' }],
    ['serial:4002:1', { kind: 'serial', port: 4002, line: 1, protocol: 'tcp' }],
    ['vnc:5900', { kind: 'vnc', port: 5900, protocol: 'tcp' }],
    ['pat:4180:80', { kind: 'pat', port: 4180, insidePort: 80, protocol: 'tcp' }],
    ['pat:tcp:4122:22', { kind: 'pat', port: 4122, insidePort: 22, protocol: 'tcp' }],
    ['pat:udp:4161:161', { kind: 'pat', port: 4161, insidePort: 161, protocol: 'udp' }],
  ])('parses %s', (tag, expected) => {
    expect(parsePattyTag(tag)).toEqual({ tag, ...expected });
  });

  it.each(['student', 'serial:', 'serial:abc', 'serial:70000', 'serial:4001:', 'serial:4001:9', 'vnc:1:2', 'pat:4180', 'pat:sctp:1:2', 'pat:0:80'])(
    'does not treat %s as a PATty tag',
    (tag) => {
      expect(parsePattyTag(tag)).toBeNull();
    },
  );

  it('formats the tags it parses', () => {
    for (const tag of ['serial:4001', 'serial:4002:1', 'vnc:5900', 'pat:tcp:4122:22', 'pat:udp:4161:161']) {
      const parsed = parsePattyTag(tag)!;
      expect(formatPattyTag(parsed)).toBe(tag);
    }
  });

  it('summarises a node\'s external access, first VNC tag winning, and keeps other tags apart', () => {
    const tags = ['serial:4001', 'grp:a', 'vnc:4002', 'vnc:4003', 'pat:udp:4004:53'];
    expect(nodeExternalAccess({ id: 'x', label: 'r1', tags })).toEqual({
      nodeId: 'x',
      label: 'r1',
      serial: [{ port: 4001, line: 0 }],
      vnc: 4002,
      pat: [{ protocol: 'udp', port: 4004, insidePort: 53 }],
    });
    expect(nonPattyTags(tags)).toEqual(['grp:a']);
  });
});
