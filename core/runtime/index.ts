/**
 * The controller runtime (DESIGN.md §4): work queue, rate limiters, informer, leader election and the
 * `Controller` that ties them together. See docs/coordination.md.
 */
export { Controller, serveControllerOps } from './controller.ts';
export type { ControllerOptions, ObjectChange, ReconcileContext, ReconcileResult, Reconciler, WatchSpec } from './controller.ts';
export { Informer } from './informer.ts';
export type { InformerHandlers, InformerOptions, InformerSource } from './informer.ts';
export { LeaderElector, defaultCandidateId } from './leader-elector.ts';
export type { LeaderElectorOptions } from './leader-elector.ts';
export { noopControllerMetrics, noopWorkQueueMetrics, prometheusControllerMetrics, prometheusWorkQueueMetrics } from './metrics.ts';
export type { ControllerMetrics, WorkQueueMetrics } from './metrics.ts';
export { ItemExponentialBackoff, MaxOfRateLimiter, TokenBucketRateLimiter, defaultControllerRateLimiter } from './rate-limiter.ts';
export type { ControllerRateLimiterOptions, ExponentialBackoffOptions, RateLimiter, TokenBucketOptions } from './rate-limiter.ts';
export { WorkQueue, runWorkers } from './work-queue.ts';
export type { WorkQueueOptions } from './work-queue.ts';
