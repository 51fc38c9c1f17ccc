import { Counter, type Registry } from 'prom-client';

/** Outcome of one action a reconcile asked for. */
export type ActionOutcome = 'ok' | 'skipped' | 'conflict' | 'error';

/**
 * `lcm_controller_actions_total{controller, action, outcome}`: what the controllers did to the world,
 * beside the runtime's reconcile latency histogram and queue depth (core/runtime/metrics.ts).
 */
export function actionRecorder(registry: Registry, controller: string): (action: string, outcome: ActionOutcome) => void {
  const name = 'lcm_controller_actions_total';
  const counter =
    (registry.getSingleMetric(name) as Counter<'controller' | 'action' | 'outcome'> | undefined) ??
    new Counter({ name, help: 'Actions the controllers performed, by outcome', labelNames: ['controller', 'action', 'outcome'], registers: [registry] });
  return (action, outcome) => counter.inc({ controller, action, outcome });
}
