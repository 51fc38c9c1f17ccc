import { resolveEventsToken } from '../../core/auth/events-token.ts';
import { env } from '../../core/config.ts';
import type { RoleOptions } from '../../core/role.ts';
import { checkSinkToken, checkSinkUrl } from './delivery.ts';

/**
 * The options `lcm sim <name>` passes to a simulator's `run()` (see `cli/main.ts`): `--port`,
 * `--host`, `--sink`, `--sink-token`. Checked here so a simulator started by hand fails fast with a
 * clear message.
 */
export interface SimulatorRoleOptions {
  port: number;
  host: string;
  sinkUrl: string | null;
  /** Bearer token sent to the sink; null when there is no sink. */
  sinkToken: string | null;
}

/**
 * The sink token when `--sink` is given without `--sink-token`: the events token of this installation
 * (`LCM_EVENTS_TOKEN`, else derived from `LCM_INTERNAL_SECRET` or `.lcm/internal-secret`), which the
 * lablet-controller of the same machine or configuration requires.
 */
export const defaultSinkToken = (): string => resolveEventsToken(env());

export function simulatorRoleOptions(options: RoleOptions, defaultPort: number, fallbackToken: () => string = defaultSinkToken): SimulatorRoleOptions {
  const port = options.port ?? defaultPort;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`--port must be an integer 0..65535, got ${String(port)}`);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) throw new TypeError('--host must be a host name or address');
  const sink = options.sink;
  if (sink !== undefined && typeof sink !== 'string') throw new TypeError('--sink must be a URL');
  const token = options.sinkToken;
  if (token !== undefined && typeof token !== 'string') throw new TypeError('--sink-token must be a string');
  if (token !== undefined) {
    try {
      checkSinkToken(token);
    } catch (e) {
      throw new TypeError(`--sink-token: ${(e as Error).message}`);
    }
  }
  if (sink === undefined) return { port, host, sinkUrl: null, sinkToken: token ?? null };
  checkSinkUrl(sink);
  return { port, host, sinkUrl: sink, sinkToken: token ?? fallbackToken() };
}
