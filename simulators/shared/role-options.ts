import type { RoleOptions } from '../../core/role.ts';

/**
 * The options `lcm sim <name>` passes to a simulator's `run()` (see `cli/main.ts`): `--port`,
 * `--host`, `--sink`. Checked here so a simulator started by hand fails fast with a clear message.
 */
export interface SimulatorRoleOptions {
  port: number;
  host: string;
  sinkUrl: string | null;
}

export function simulatorRoleOptions(options: RoleOptions, defaultPort: number): SimulatorRoleOptions {
  const port = options.port ?? defaultPort;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`--port must be an integer 0..65535, got ${String(port)}`);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) throw new TypeError('--host must be a host name or address');
  const sink = options.sink;
  if (sink !== undefined && typeof sink !== 'string') throw new TypeError('--sink must be a URL');
  return { port, host, sinkUrl: sink ?? null };
}
