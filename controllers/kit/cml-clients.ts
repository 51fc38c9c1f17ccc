/**
 * One CML client per worker address, shared by the reconciles of a controller (keep-alive and the
 * token are reused): the worker-controller probes and observes each worker's CML, the lablet-controller
 * drives its labs. The address comes from the worker (`ipAddress`); scheme, port and credentials from
 * the configuration (`LCM_CML_*`), or from `overrides` under `lcm up` and in tests.
 */
import { CmlClient } from '../../core/clients/cml/index.ts';
import type { Logger } from '../../core/logging.ts';
import type { ControllerDeps } from './role.ts';

export interface WorkerCmlClientsOptions {
  timeoutMs: number;
  retry: { retries: number; baseDelayMs: number; maxDelayMs: number };
}

export class WorkerCmlClients {
  private readonly clients = new Map<string, CmlClient>();
  private readonly scheme: 'http' | 'https';
  private readonly port: number;

  constructor(
    private readonly deps: Pick<ControllerDeps, 'config' | 'overrides'>,
    private readonly logger: Logger,
    private readonly options: WorkerCmlClientsOptions,
  ) {
    this.scheme = deps.overrides?.cmlScheme ?? deps.config.LCM_CML_SCHEME;
    this.port = deps.overrides?.cmlPort ?? deps.config.LCM_CML_PORT;
  }

  /** The CML API of the worker at `address` (IPv4, IPv6 or a host name). */
  client(address: string): CmlClient {
    const host = address.includes(':') ? `[${address}]` : address;
    const baseUrl = `${this.scheme}://${host}:${this.port}`;
    let c = this.clients.get(baseUrl);
    if (!c) {
      c = new CmlClient({
        baseUrl,
        username: this.deps.config.LCM_CML_USERNAME,
        password: this.deps.config.LCM_CML_PASSWORD,
        timeoutMs: this.options.timeoutMs,
        retry: this.options.retry,
        // Workers serve CML's self-signed certificate.
        insecureTls: true,
        logger: this.logger,
      });
      this.clients.set(baseUrl, c);
    }
    return c;
  }

  /** Forget a worker's client (its instance stopped or went away). */
  async drop(address: string | null): Promise<void> {
    if (!address) return;
    for (const [url, c] of this.clients) {
      if (url.includes(`//${address}:`) || url.includes(`//[${address}]:`)) {
        this.clients.delete(url);
        await c.close().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }
}
