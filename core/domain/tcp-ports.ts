/**
 * TCP port allocation on a worker (research/lcm-domain.md §2.4): every session's ports come from one range
 * per worker (2000–9999 by default), lowest free port first, and no port is held twice.
 */

/** A named port and the number it got on a worker. */
export interface PortMapping {
  name: string;
  port: number;
}

/** What port allocation needs of a worker: the ports its reservations hold. */
export interface PortHolder {
  reservations: ReadonlyArray<{ ports: ReadonlyArray<Pick<PortMapping, 'port'>> }>;
}

/** An inclusive range of port numbers. */
export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_PORT_RANGE: Readonly<PortRange> = Object.freeze({ min: 2000, max: 9999 });

/** Ports held by the worker's reservations. */
export function heldPorts(worker: PortHolder): Set<number> {
  const held = new Set<number>();
  for (const r of worker.reservations) for (const p of r.ports) held.add(p.port);
  return held;
}

export const portRangeSize = (range: PortRange): number => range.max - range.min + 1;

/** How many ports of the range are not held by any reservation. */
export function freePortCount(worker: PortHolder, range: PortRange = DEFAULT_PORT_RANGE): number {
  let inRange = 0;
  for (const p of heldPorts(worker)) if (p >= range.min && p <= range.max) inRange += 1;
  return portRangeSize(range) - inRange;
}

/**
 * The `count` lowest ports of the range not in `held`, ascending, or undefined when fewer are free.
 * Linear in the number of held ports below the answer (a worker holds at most a few hundred).
 */
export function lowestFreePorts(held: ReadonlySet<number>, count: number, range: PortRange = DEFAULT_PORT_RANGE): number[] | undefined {
  const out: number[] = [];
  for (let port = range.min; port <= range.max && out.length < count; port++) {
    if (!held.has(port)) out.push(port);
  }
  return out.length === count ? out : undefined;
}
