/**
 * PATty, as the simulated controller runs it (research/cml-api.md §3): the service reads node tags and
 * maps outside TCP/UDP ports of the controller to a node's serial lines, its VNC display or a port of
 * its own address. The simulator has its own reading of the tags, written from CML's documentation,
 * so that it checks the control plane's client instead of agreeing with it by construction.
 *
 *   serial:<port>             serial line 0 (the console)
 *   serial:<port>:<line>      another serial line (1 is usually AUX)
 *   vnc:<port>                the VNC display
 *   pat:<out>:<in>            TCP <out> on the controller → TCP <in> on the node
 *   pat:tcp:<out>:<in>        the same, protocol spelled out
 *   pat:udp:<out>:<in>        UDP
 *
 * A tag of any other shape is an ordinary label that PATty leaves alone.
 */

/** The outside port range PATty uses unless the controller's configuration widens it (CML 2.6+). */
export const PATTY_DEFAULT_RANGE: Readonly<{ min: number; max: number }> = Object.freeze({ min: 2000, max: 7999 });

/** One port PATty would serve for a node. */
export interface PattyTag {
  tag: string;
  kind: 'serial' | 'vnc' | 'pat';
  protocol: 'tcp' | 'udp';
  /** The controller's (outside) port. */
  port: number;
}

const SERIAL = /^serial:(\d{1,5})(?::([0-4]))?$/i;
const VNC = /^vnc:(\d{1,5})$/i;
const FORWARD = /^pat:(?:(tcp|udp):)?(\d{1,5}):(\d{1,5})$/i;

const validPort = (digits: string | undefined): number | null => {
  const port = Number(digits);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
};

/** What PATty makes of one tag: a port to serve, or null when the tag is not one of its own. */
export function readPattyTag(tag: string): PattyTag | null {
  const text = tag.trim();
  let m = SERIAL.exec(text);
  if (m) {
    const port = validPort(m[1]);
    return port === null ? null : { tag, kind: 'serial', protocol: 'tcp', port };
  }
  m = VNC.exec(text);
  if (m) {
    const port = validPort(m[1]);
    return port === null ? null : { tag, kind: 'vnc', protocol: 'tcp', port };
  }
  m = FORWARD.exec(text);
  if (m) {
    const port = validPort(m[2]);
    if (port === null || validPort(m[3]) === null) return null;
    return { tag, kind: 'pat', protocol: m[1]?.toLowerCase() === 'udp' ? 'udp' : 'tcp', port };
  }
  return null;
}

/** Every PATty tag among a node's tags, in tag order. */
export function readPattyTags(tags: readonly string[]): PattyTag[] {
  return tags.map(readPattyTag).filter((t): t is PattyTag => t !== null);
}
