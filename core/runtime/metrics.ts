import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Prometheus metrics of the controller runtime. Names follow client-go's workqueue metrics and
 * controller-runtime's controller metrics, under `lcm_`. Several controllers (and their queues) can
 * share one registry — `lcm up` runs all three in one process — so each metric is created once per
 * registry and labelled by controller/queue name.
 */
function metric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** Per registry: the queues whose in-flight items the longest-running gauge reports. */
const registryTrackers = new WeakMap<Registry, Map<string, { startTimes: () => Iterable<number>; now: () => number }>>();

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What a work queue reports. A no-op implementation is used when none is given. */
export interface WorkQueueMetrics {
  /** An item was queued (an add of an item that is already queued does not count, as in client-go). */
  added(): void;
  depth(n: number): void;
  /** An item was handed to a worker after waiting `ms` in the queue. */
  dequeued(ms: number): void;
  /** A worker finished an item after `ms`. */
  processed(ms: number): void;
  retried(): void;
  /** Start times (ms) of the items being processed, for the longest-running gauge. */
  trackProcessing(startTimes: () => Iterable<number>, now: () => number): void;
}

export const noopWorkQueueMetrics: WorkQueueMetrics = {
  added() {},
  depth() {},
  dequeued() {},
  processed() {},
  retried() {},
  trackProcessing() {},
};

/** Work-queue metrics for the queue `name` in `registry`. */
export function prometheusWorkQueueMetrics(registry: Registry, name: string): WorkQueueMetrics {
  const labels = { name };
  const depth = metric(registry, 'lcm_workqueue_depth', () => new Gauge({ name: 'lcm_workqueue_depth', help: 'Current depth of the work queue', labelNames: ['name'], registers: [registry] }));
  const adds = metric(registry, 'lcm_workqueue_adds_total', () => new Counter({ name: 'lcm_workqueue_adds_total', help: 'Adds handled by the work queue', labelNames: ['name'], registers: [registry] }));
  const retries = metric(registry, 'lcm_workqueue_retries_total', () => new Counter({ name: 'lcm_workqueue_retries_total', help: 'Retries (rate-limited re-adds) handled by the work queue', labelNames: ['name'], registers: [registry] }));
  const queueDuration = metric(registry, 'lcm_workqueue_queue_duration_seconds', () => new Histogram({ name: 'lcm_workqueue_queue_duration_seconds', help: 'How long an item stays in the work queue before being processed', labelNames: ['name'], buckets: DURATION_BUCKETS, registers: [registry] }));
  const workDuration = metric(registry, 'lcm_workqueue_work_duration_seconds', () => new Histogram({ name: 'lcm_workqueue_work_duration_seconds', help: 'How long processing an item from the work queue takes', labelNames: ['name'], buckets: DURATION_BUCKETS, registers: [registry] }));
  let trackers = registryTrackers.get(registry);
  if (!trackers) registryTrackers.set(registry, (trackers = new Map()));
  metric(registry, 'lcm_workqueue_longest_running_processor_seconds', () => {
    const gauge: Gauge = new Gauge({
      name: 'lcm_workqueue_longest_running_processor_seconds',
      help: 'How long the longest-running item of the work queue has been processed',
      labelNames: ['name'],
      registers: [registry],
      collect() {
        for (const [queue, t] of registryTrackers.get(registry) ?? []) {
          let oldest = Infinity;
          for (const s of t.startTimes()) oldest = Math.min(oldest, s);
          gauge.set({ name: queue }, oldest === Infinity ? 0 : (t.now() - oldest) / 1000);
        }
      },
    });
    return gauge;
  });
  const tracked = trackers;
  return {
    added: () => adds.inc(labels),
    depth: (n) => depth.set(labels, n),
    dequeued: (ms) => queueDuration.observe(labels, ms / 1000),
    processed: (ms) => workDuration.observe(labels, ms / 1000),
    retried: () => retries.inc(labels),
    trackProcessing: (startTimes, now) => tracked.set(name, { startTimes, now }),
  };
}

/** What a controller reports, beyond its queue. */
export interface ControllerMetrics {
  reconciled(outcome: 'success' | 'requeue' | 'requeue_after' | 'error', seconds: number): void;
  leader(isLeader: boolean): void;
  informerEvent(informer: string, kind: 'add' | 'update' | 'delete'): void;
  informerReset(informer: string): void;
  watchConnected(informer: string, connected: boolean): void;
  /** Reconciles of ended leadership terms still running past the abort grace (hung: see `Controller`). */
  abandoned(running: number): void;
}

export function prometheusControllerMetrics(registry: Registry, controller: string): ControllerMetrics {
  const total = metric(registry, 'lcm_controller_reconcile_total', () => new Counter({ name: 'lcm_controller_reconcile_total', help: 'Reconciliations per controller and outcome', labelNames: ['controller', 'result'], registers: [registry] }));
  const errors = metric(registry, 'lcm_controller_reconcile_errors_total', () => new Counter({ name: 'lcm_controller_reconcile_errors_total', help: 'Reconciliations that failed', labelNames: ['controller'], registers: [registry] }));
  const latency = metric(registry, 'lcm_controller_reconcile_time_seconds', () => new Histogram({ name: 'lcm_controller_reconcile_time_seconds', help: 'Time per reconciliation', labelNames: ['controller'], buckets: DURATION_BUCKETS, registers: [registry] }));
  const leader = metric(registry, 'lcm_controller_leader', () => new Gauge({ name: 'lcm_controller_leader', help: '1 while this process is the leader of the controller', labelNames: ['controller'], registers: [registry] }));
  const events = metric(registry, 'lcm_informer_events_total', () => new Counter({ name: 'lcm_informer_events_total', help: 'Changes seen by informers', labelNames: ['controller', 'informer', 'kind'], registers: [registry] }));
  const resets = metric(registry, 'lcm_informer_resets_total', () => new Counter({ name: 'lcm_informer_resets_total', help: 'Informer re-lists after a watch reset (compaction)', labelNames: ['controller', 'informer'], registers: [registry] }));
  const connected = metric(registry, 'lcm_informer_watch_connected', () => new Gauge({ name: 'lcm_informer_watch_connected', help: '1 while the informer watch is connected', labelNames: ['controller', 'informer'], registers: [registry] }));
  const abandoned = metric(registry, 'lcm_controller_abandoned_reconciles', () => new Gauge({ name: 'lcm_controller_abandoned_reconciles', help: 'Reconciles that did not stop within the grace after their term ended (a hung call): still running', labelNames: ['controller'], registers: [registry] }));
  leader.set({ controller }, 0);
  abandoned.set({ controller }, 0);
  return {
    reconciled(outcome, seconds) {
      total.inc({ controller, result: outcome });
      if (outcome === 'error') errors.inc({ controller });
      latency.observe({ controller }, seconds);
    },
    leader: (isLeader) => leader.set({ controller }, isLeader ? 1 : 0),
    informerEvent: (informer, kind) => events.inc({ controller, informer, kind }),
    informerReset: (informer) => resets.inc({ controller, informer }),
    watchConnected: (informer, c) => connected.set({ controller, informer }, c ? 1 : 0),
    abandoned: (running) => abandoned.set({ controller }, running),
  };
}

export const noopControllerMetrics: ControllerMetrics = {
  reconciled() {},
  leader() {},
  informerEvent() {},
  informerReset() {},
  watchConnected() {},
  abandoned() {},
};
