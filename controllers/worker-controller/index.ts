/**
 * The worker-controller (DESIGN.md §4): drives each CML worker through EC2 and CML towards its desired
 * status, and the fleet towards demand (minimum workers, idle scale-down, orphans). Decisions are in
 * decide.ts (pure), observation and actions in reconcile.ts, EC2 in ec2.ts, CML in cml.ts.
 *
 * Wiring: one `Controller` (leader-elected) whose queue holds worker ids and the fleet key. Worker
 * status projections (`/lcm/workers/<id>/status`) wake the worker and the fleet; new PENDING sessions
 * (`/lcm/sessions/<id>/status`) wake the fleet (a drained or stopped worker may be needed again); the
 * periodic resync re-lists both, so a missed event only delays work.
 */
import { WorkerStatus as W } from '../../core/domain/enums.ts';
import { CoordinationKeys, type WatchEvent } from '../../core/ports/coordination.ts';
import { Controller, type InformerSource } from '../../core/runtime/index.ts';
import type { ControllerDeps, ControllerFactory } from '../kit/role.ts';
import { workerSource } from '../kit/sources.ts';
import { CmlPool } from './cml.ts';
import { SdkEc2, ec2OptionsFrom, type Ec2Port } from './ec2.ts';
import { FLEET_KEY, WorkerReconciler, type ReconcilerTimings } from './reconcile.ts';

export { FLEET_KEY } from './reconcile.ts';

export interface WorkerControllerOptions extends Partial<ReconcilerTimings> {
  /** The EC2 port (default: `@aws-sdk/client-ec2` at LCM_EC2_ENDPOINT / the override). */
  ec2?: (deps: ControllerDeps) => Ec2Port;
  /** Keys reconciled at once. Default 8. */
  concurrency?: number;
}

export const DEFAULT_TIMINGS: ReconcilerTimings = {
  pollMs: 1_000,
  observeIntervalMs: 30_000,
  maxLaunchAttempts: 6,
  launchRoundBackoffMs: 30_000,
  orphanSweepMs: 60_000,
  orphanGraceMs: 60_000,
  fleetMinIntervalMs: 500,
};

/** Every worker except TERMINATED ones (they need nothing more; the orphan sweep covers their instances). */
const WATCHED = Object.values(W).filter((s) => s !== W.TERMINATED);

/** One object, the fleet: listed on every resync, and announced by every new PENDING session. */
function fleetSource(): InformerSource<{ id: string }> {
  return {
    name: 'fleet(pending sessions)',
    prefix: CoordinationKeys.sessions,
    keyOf: (o) => o.id,
    list: async () => [{ id: FLEET_KEY }],
    decode(event: WatchEvent) {
      if (event.type !== 'put' || !event.key.endsWith('/status')) return undefined;
      try {
        const v = JSON.parse(event.kv.value) as { status?: unknown };
        return v.status === 'PENDING' ? { key: FLEET_KEY, object: { id: FLEET_KEY } } : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export function createWorkerController(options: WorkerControllerOptions = {}): ControllerFactory {
  return async (deps) => {
    const timings: ReconcilerTimings = { ...DEFAULT_TIMINGS, ...Object.fromEntries(Object.entries(options).filter(([k, v]) => k in DEFAULT_TIMINGS && v !== undefined)) };
    const ec2 = options.ec2?.(deps) ?? new SdkEc2(ec2OptionsFrom(deps));
    const cml = new CmlPool(deps, deps.logger);
    const reconciler = new WorkerReconciler(deps, ec2, cml, timings);
    const controller = new Controller({
      name: 'worker-controller',
      store: deps.store,
      reconcile: (key, ctx) => reconciler.reconcile(key, ctx),
      watches: [
        { source: workerSource(deps.client, WATCHED), keysFor: (key) => [key, FLEET_KEY] },
        { source: fleetSource() },
      ],
      concurrency: options.concurrency ?? 8,
      resyncPeriodMs: deps.config.LCM_CONTROLLER_RESYNC_SECONDS * 1000,
      ...(deps.leaderElection ? { leaderElection: deps.leaderElection } : {}),
      registry: deps.registry,
      logger: deps.logger,
    });
    return {
      controllers: [controller],
      async stop() {
        await controller.stop();
        await cml.close();
        ec2.close();
      },
    };
  };
}

export const factory: ControllerFactory = createWorkerController();
