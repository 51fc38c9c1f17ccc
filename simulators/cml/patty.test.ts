/**
 * The simulator's own reading of PATty node tags (it shares no code with the control plane's client).
 */
import { describe, expect, it } from 'vitest';
import { PATTY_DEFAULT_RANGE, readPattyTag, readPattyTags } from './patty.ts';

describe('PATty tags as the simulated controller reads them', () => {
  it.each([
    ['serial:4001', { kind: 'serial', protocol: 'tcp', port: 4001 }],
    ['serial:4002:1', { kind: 'serial', protocol: 'tcp', port: 4002 }],
    ['vnc:5900', { kind: 'vnc', protocol: 'tcp', port: 5900 }],
    ['pat:4180:80', { kind: 'pat', protocol: 'tcp', port: 4180 }],
    ['pat:tcp:4180:80', { kind: 'pat', protocol: 'tcp', port: 4180 }],
    ['PAT:UDP:5161:161', { kind: 'pat', protocol: 'udp', port: 5161 }],
  ])('reads %s', (tag, expected) => {
    expect(readPattyTag(tag)).toEqual({ tag, ...expected });
  });

  it.each(['student', 'serial:', 'serial:70000', 'serial:4001:9', 'vnc:0', 'pat:80', 'pat:sctp:1:2', 'pat:1:99999', 'serial:4001:'])(
    'leaves %s alone',
    (tag) => {
      expect(readPattyTag(tag)).toBeNull();
    },
  );

  it('keeps tag order and the documented default range', () => {
    expect(readPattyTags(['x', 'vnc:4003', 'serial:4001']).map((t) => t.port)).toEqual([4003, 4001]);
    expect(PATTY_DEFAULT_RANGE).toEqual({ min: 2000, max: 7999 });
  });
});
