import net from 'node:net';

/**
 * Ports a role binds, checked before anything starts, and the one-line message for a port in use
 * (`lcm up` checks its fixed ports first; every role's EADDRINUSE at listen gets the same message).
 */
export interface FixedPort {
  port: number;
  /** An address of the kind the role binds; a probe there also fails when something holds the wildcard address. */
  host: string;
  /** What needs the port, e.g. `the gateway`. */
  what: string;
  /** The setting that chooses it, e.g. `LCM_GATEWAY_PORT`. */
  setting: string;
}

export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly host: string,
    readonly needed?: { what: string; setting: string },
  ) {
    super(
      needed
        ? `port ${port} is already in use, and ${needed.what} needs it: stop what listens on it or set ${needed.setting} to another port`
        : `port ${port} is already in use on ${host}: stop what listens on it or choose another with --port`,
    );
    this.name = 'PortInUseError';
  }
}

/** A listen error turned into a PortInUseError when it is EADDRINUSE (else undefined). */
export function portInUse(error: unknown): PortInUseError | undefined {
  if (error instanceof PortInUseError) return error;
  if (!error || typeof error !== 'object' || (error as { code?: unknown }).code !== 'EADDRINUSE') return undefined;
  const { port, address } = error as { port?: unknown; address?: unknown };
  return new PortInUseError(typeof port === 'number' ? port : Number.NaN, typeof address === 'string' ? address : 'any address');
}

/** Bind and release each port; throws PortInUseError for the first one taken. Port 0 needs no check. */
export async function checkPortsFree(ports: readonly FixedPort[]): Promise<void> {
  for (const p of ports) {
    if (p.port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer();
      probe.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' ? new PortInUseError(p.port, p.host, { what: p.what, setting: p.setting }) : err);
      });
      probe.listen({ port: p.port, host: p.host, exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}
