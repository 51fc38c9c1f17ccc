import { request } from 'undici';
import { silentLogger, type Logger } from '../core/logging.ts';

/**
 * `/readyz` for the gateway: every subgraph of every served supergraph answers HTTP. A probe is a
 * `{ __typename }` query; any answer below 500 counts as reachable (a subgraph that refuses
 * unauthenticated probes is still up). Results are reused for `cacheMs` so probes stay cheap.
 * `/readyz` is open to anyone who reaches the port, so it names a failing subgraph and the kind of
 * failure only; its address and the raw error (`connect ECONNREFUSED 10.0.3.7:4003`) are logged.
 */
export class SubgraphReadiness {
  private cached: { at: number; failing: Promise<string[]> } | undefined;

  constructor(
    private readonly subgraphs: () => readonly { name: string; url: string }[],
    private readonly cacheMs: number,
    private readonly timeoutMs = 2000,
    private readonly logger: Logger = silentLogger,
  ) {}

  /** Names (with reasons) of unreachable subgraphs; empty when all are reachable. */
  failing(): Promise<string[]> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.failing;
    const failing = this.probeAll();
    this.cached = { at: now, failing };
    return failing;
  }

  private async probeAll(): Promise<string[]> {
    const results = await Promise.all(
      this.subgraphs().map(async ({ name, url }) => {
        const problem = await this.probe(url);
        if (!problem) return undefined;
        this.logger.warn({ subgraph: name, url, problem: problem.detail }, 'subgraph not ready');
        return `subgraph ${name}: ${problem.public}`;
      }),
    );
    return results.filter((r): r is string => r !== undefined);
  }

  private async probe(url: string): Promise<{ public: string; detail: string } | undefined> {
    try {
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'apollo-require-preflight': 'true' },
        body: '{"query":"query __GatewayReadiness__ { __typename }"}',
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      await response.body.dump();
      if (response.statusCode < 500) return undefined;
      return { public: `HTTP ${response.statusCode}`, detail: `HTTP ${response.statusCode}` };
    } catch (e) {
      return { public: 'unreachable', detail: e instanceof Error ? e.message : String(e) };
    }
  }
}
