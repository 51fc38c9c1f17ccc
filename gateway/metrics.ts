import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The gateway's Prometheus metrics. Operation names come from clients, so the `operation_name` label
 * is capped: after `maxOperationNames` distinct names, further names are counted as `__other__`.
 */
export class GatewayMetrics {
  readonly operationDuration: Histogram<'endpoint' | 'operation_name' | 'operation_type'>;
  readonly operationErrors: Counter<'endpoint' | 'operation_name' | 'operation_type'>;
  readonly subgraphFetchDuration: Histogram<'subgraph'>;
  readonly subgraphFetchErrors: Counter<'subgraph'>;
  readonly openSubscriptions: Gauge<'endpoint'>;
  readonly upstreamSubscriptions: Gauge<'subgraph'>;
  readonly subscriptionEvents: Counter<'endpoint'>;
  private readonly names = new Set<string>();
  private readonly operationChildren = new Map<string, { duration: { observe(v: number): void }; errors: { inc(): void } }>();
  private readonly fetchChildren = new Map<string, { duration: { observe(v: number): void }; errors: { inc(): void } }>();

  constructor(
    registry: Registry,
    private readonly maxOperationNames = 200,
  ) {
    const registers = [registry];
    this.operationDuration = new Histogram({
      name: 'lcm_gateway_operation_duration_seconds',
      help: 'Time to answer a GraphQL operation over HTTP (parse to response), by operation',
      labelNames: ['endpoint', 'operation_name', 'operation_type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.operationErrors = new Counter({
      name: 'lcm_gateway_operation_errors_total',
      help: 'GraphQL operations answered with errors, by operation',
      labelNames: ['endpoint', 'operation_name', 'operation_type'],
      registers,
    });
    this.subgraphFetchDuration = new Histogram({
      name: 'lcm_gateway_subgraph_fetch_duration_seconds',
      help: 'Time of one subgraph fetch, by subgraph',
      labelNames: ['subgraph'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.subgraphFetchErrors = new Counter({
      name: 'lcm_gateway_subgraph_fetch_errors_total',
      help: 'Subgraph fetches that failed (network or HTTP status), by subgraph',
      labelNames: ['subgraph'],
      registers,
    });
    this.openSubscriptions = new Gauge({
      name: 'lcm_gateway_subscriptions_open',
      help: 'Client subscriptions currently open, by endpoint',
      labelNames: ['endpoint'],
      registers,
    });
    this.upstreamSubscriptions = new Gauge({
      name: 'lcm_gateway_upstream_subscriptions_open',
      help: 'Subscriptions the gateway holds open to subgraphs (shared by identical client subscriptions)',
      labelNames: ['subgraph'],
      registers,
    });
    this.subscriptionEvents = new Counter({
      name: 'lcm_gateway_subscription_events_total',
      help: 'Subscription events delivered to clients, by endpoint',
      labelNames: ['endpoint'],
      registers,
    });
  }

  /** Records one answered operation (label sets are resolved once and cached). */
  observeOperation(endpoint: string, operationName: string | null, operationType: string, seconds: number, failed: boolean): void {
    const name = this.operationLabel(operationName);
    const key = endpoint + '\u0000' + name + '\u0000' + operationType;
    let child = this.operationChildren.get(key);
    if (!child) {
      const labels = { endpoint, operation_name: name, operation_type: operationType };
      child = { duration: this.operationDuration.labels(labels), errors: this.operationErrors.labels(labels) };
      this.operationChildren.set(key, child);
    }
    child.duration.observe(seconds);
    if (failed) child.errors.inc();
  }

  /** Records one subgraph fetch. */
  observeFetch(subgraph: string, seconds: number, failed: boolean): void {
    let child = this.fetchChildren.get(subgraph);
    if (!child) {
      child = {
        duration: this.subgraphFetchDuration.labels({ subgraph }),
        errors: this.subgraphFetchErrors.labels({ subgraph }),
      };
      this.fetchChildren.set(subgraph, child);
    }
    child.duration.observe(seconds);
    if (failed) child.errors.inc();
  }

  /** The label value for an operation name (bounded cardinality). */
  operationLabel(name: string | null | undefined): string {
    if (!name) return '__anonymous__';
    if (this.names.has(name)) return name;
    if (this.names.size >= this.maxOperationNames) return '__other__';
    this.names.add(name);
    return name;
  }
}
