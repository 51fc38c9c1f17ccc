import { request } from 'undici';

/**
 * `/readyz` for the gateway: every subgraph of every served supergraph answers HTTP. A probe is a
 * `{ __typename }` query; any answer below 500 counts as reachable (a subgraph that refuses
 * unauthenticated probes is still up). Results are reused for `cacheMs` so probes stay cheap.
 */
export class SubgraphReadiness {
  private cached: { at: number; failing: Promise<string[]> } | undefined;

  constructor(
    private readonly subgraphs: () => readonly { name: string; url: string }[],
    private readonly cacheMs: number,
    private readonly timeoutMs = 2000,
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
        return problem ? `subgraph ${name} (${url}): ${problem}` : undefined;
      }),
    );
    return results.filter((r): r is string => r !== undefined);
  }

  private async probe(url: string): Promise<string | undefined> {
    try {
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'apollo-require-preflight': 'true' },
        body: '{"query":"query __GatewayReadiness__ { __typename }"}',
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      await response.body.dump();
      return response.statusCode >= 500 ? `HTTP ${response.statusCode}` : undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }
}
