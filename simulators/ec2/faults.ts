import { z } from 'zod';
import type { SimInstance } from './model.ts';

/**
 * Faults injected on demand, at run time: programmatically (`sim.faults.throttle({...})`) or as JSON
 * over HTTP (`POST /_sim/faults`, same shapes as the methods). Each kind models what EC2 really does:
 * - `insufficientCapacity`: RunInstances fails with `InsufficientInstanceCapacity` (HTTP 500) for the
 *   next `count` calls, or until cleared, optionally only for some instance types.
 * - `throttle`: calls fail with `RequestLimitExceeded` (HTTP 503), either the next `count` calls or
 *   whatever exceeds a token bucket of `ratePerSecond` (burst `burst`); optionally one action only.
 * - `internalError`: calls fail with `InternalError` (HTTP 500).
 * - `slowBoot`: instances launched or started take `extraMs` longer to reach `running`.
 * - `eventualConsistency`: while set, an instance launched less than `windowMs` ago is invisible to
 *   Describe* calls and CreateTags (`InvalidInstanceID.NotFound` when named); setting 0 lifts it.
 * - `interrupt(id)`: the instance is reclaimed from outside (spot interruption): shutting-down, then
 *   terminated, with StateReason `Server.SpotInstanceTermination`.
 * Every count counts HTTP requests, so a client retry consumes one too.
 */
const count = z.number().int().min(1);

export const CapacityFaultSchema = z.strictObject({
  count: count.optional(),
  instanceTypes: z.array(z.string().min(1)).min(1).optional(),
});
export const ThrottleFaultSchema = z
  .strictObject({
    action: z.string().min(1).optional(),
    count: count.optional(),
    ratePerSecond: z.number().positive().optional(),
    burst: z.number().int().min(1).optional(),
  })
  .refine((f) => (f.count === undefined) !== (f.ratePerSecond === undefined), {
    message: 'give exactly one of count or ratePerSecond',
  });
export const InternalErrorFaultSchema = z.strictObject({
  action: z.string().min(1).optional(),
  count: count.optional(),
});
export const SlowBootFaultSchema = z.strictObject({
  extraMs: z.number().int().min(0),
  count: count.optional(),
});

const oneOrMany = <T extends z.ZodType>(schema: T) => z.union([schema, z.array(schema)]);

/** The JSON body of `POST /_sim/faults`: any subset; `clear: true` first removes every fault. */
export const FaultsRequestSchema = z.strictObject({
  clear: z.boolean().optional(),
  insufficientCapacity: oneOrMany(CapacityFaultSchema).optional(),
  throttle: oneOrMany(ThrottleFaultSchema).optional(),
  internalError: oneOrMany(InternalErrorFaultSchema).optional(),
  slowBoot: oneOrMany(SlowBootFaultSchema).optional(),
  eventualConsistency: z.strictObject({ windowMs: z.number().int().min(0) }).optional(),
});

export type CapacityFault = z.infer<typeof CapacityFaultSchema>;
export type ThrottleFault = z.infer<typeof ThrottleFaultSchema>;
export type InternalErrorFault = z.infer<typeof InternalErrorFaultSchema>;
export type SlowBootFault = z.infer<typeof SlowBootFaultSchema>;
export type FaultsRequest = z.infer<typeof FaultsRequestSchema>;

/** What is currently armed, as `GET /_sim/faults` reports it (`remaining` counts down). */
export interface FaultsSnapshot {
  insufficientCapacity: { remaining?: number; instanceTypes?: string[] }[];
  throttle: { action?: string; remaining?: number; ratePerSecond?: number; burst?: number }[];
  internalError: { action?: string; remaining?: number }[];
  slowBoot: { extraMs: number; remaining?: number }[];
  eventualConsistency: { windowMs: number };
}

interface CountedRule {
  /** Undefined: until cleared. */
  remaining?: number;
}
interface CapacityRule extends CountedRule {
  instanceTypes?: string[];
}
interface ThrottleRule extends CountedRule {
  action?: string;
  ratePerSecond?: number;
  burst?: number;
  tokens: number;
  refilledAt: number;
}
interface InternalErrorRule extends CountedRule {
  action?: string;
}
interface SlowBootRule extends CountedRule {
  extraMs: number;
}

/** Take one use of the first rule accepted by `applies`; drop the rule when it is used up. */
function consume<R extends CountedRule>(rules: R[], applies: (rule: R) => boolean): R | undefined {
  const index = rules.findIndex(applies);
  if (index === -1) return undefined;
  const rule = rules[index] as R;
  if (rule.remaining !== undefined) {
    rule.remaining -= 1;
    if (rule.remaining <= 0) rules.splice(index, 1);
  }
  return rule;
}

export class Ec2Faults {
  private capacity: CapacityRule[] = [];
  private throttles: ThrottleRule[] = [];
  private internalErrors: InternalErrorRule[] = [];
  private slowBoots: SlowBootRule[] = [];
  private visibilityWindowMs = 0;

  constructor(
    private readonly interruptInstance: (instanceId: string) => SimInstance,
    private readonly now: () => number = Date.now,
  ) {}

  /** RunInstances fails with InsufficientInstanceCapacity (next `count` calls, or until cleared). */
  insufficientCapacity(fault: CapacityFault = {}): this {
    const f = CapacityFaultSchema.parse(fault);
    this.capacity.push({ remaining: f.count, instanceTypes: f.instanceTypes });
    return this;
  }

  /** Calls fail with RequestLimitExceeded: the next `count`, or beyond `ratePerSecond` (burst `burst`). */
  throttle(fault: ThrottleFault): this {
    const f = ThrottleFaultSchema.parse(fault);
    const burst = f.burst ?? Math.max(1, Math.ceil(f.ratePerSecond ?? 1));
    this.throttles.push({
      action: f.action,
      remaining: f.count,
      ratePerSecond: f.ratePerSecond,
      burst: f.ratePerSecond === undefined ? undefined : burst,
      tokens: burst,
      refilledAt: this.now(),
    });
    return this;
  }

  /** Calls fail with InternalError (HTTP 500): the next `count` (of `action`), or until cleared. */
  internalError(fault: InternalErrorFault = {}): this {
    const f = InternalErrorFaultSchema.parse(fault);
    this.internalErrors.push({ action: f.action, remaining: f.count });
    return this;
  }

  /** The next `count` launches/starts (or all, until cleared) take `extraMs` longer to boot. */
  slowBoot(fault: SlowBootFault): this {
    const f = SlowBootFaultSchema.parse(fault);
    this.slowBoots.push({ extraMs: f.extraMs, remaining: f.count });
    return this;
  }

  /** Instances stay invisible to Describe* calls and CreateTags for `windowMs` after launch (0: off). */
  eventualConsistency(windowMs: number): this {
    this.visibilityWindowMs = z.number().int().min(0).parse(windowMs);
    return this;
  }

  /** Reclaim an instance from outside, like a spot interruption. Returns the instance after the change. */
  interrupt(instanceId: string): SimInstance {
    return this.interruptInstance(instanceId);
  }

  /** Remove every armed fault. */
  clear(): this {
    this.capacity = [];
    this.throttles = [];
    this.internalErrors = [];
    this.slowBoots = [];
    this.visibilityWindowMs = 0;
    return this;
  }

  /** Apply a `POST /_sim/faults` body (throws a ZodError on a bad one). */
  apply(body: unknown): this {
    const request = FaultsRequestSchema.parse(body);
    const many = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
    if (request.clear) this.clear();
    for (const f of many(request.insufficientCapacity)) this.insufficientCapacity(f);
    for (const f of many(request.throttle)) this.throttle(f);
    for (const f of many(request.internalError)) this.internalError(f);
    for (const f of many(request.slowBoot)) this.slowBoot(f);
    if (request.eventualConsistency) this.eventualConsistency(request.eventualConsistency.windowMs);
    return this;
  }

  snapshot(): FaultsSnapshot {
    return {
      insufficientCapacity: this.capacity.map((r) => ({ remaining: r.remaining, instanceTypes: r.instanceTypes })),
      throttle: this.throttles.map((r) => ({
        action: r.action,
        remaining: r.remaining,
        ratePerSecond: r.ratePerSecond,
        burst: r.burst,
      })),
      internalError: this.internalErrors.map((r) => ({ action: r.action, remaining: r.remaining })),
      slowBoot: this.slowBoots.map((r) => ({ extraMs: r.extraMs, remaining: r.remaining })),
      eventualConsistency: { windowMs: this.visibilityWindowMs },
    };
  }

  // ---- used by the simulator -------------------------------------------------------------------

  /** Whether this call of `action` is throttled (consumes a count or a bucket token). */
  takeThrottle(action: string): boolean {
    const now = this.now();
    for (const rule of this.throttles) {
      if (rule.action !== undefined && rule.action !== action) continue;
      if (rule.ratePerSecond === undefined) {
        consume(this.throttles, (r) => r === rule);
        return true;
      }
      const burst = rule.burst ?? 1;
      rule.tokens = Math.min(burst, rule.tokens + ((now - rule.refilledAt) / 1000) * rule.ratePerSecond);
      rule.refilledAt = now;
      if (rule.tokens >= 1) {
        rule.tokens -= 1;
        continue;
      }
      return true;
    }
    return false;
  }

  takeInternalError(action: string): boolean {
    return consume(this.internalErrors, (r) => r.action === undefined || r.action === action) !== undefined;
  }

  takeCapacityFailure(instanceType: string): boolean {
    return consume(this.capacity, (r) => !r.instanceTypes || r.instanceTypes.includes(instanceType)) !== undefined;
  }

  /** Extra boot time for one launch or start. */
  takeBootDelay(): number {
    return consume(this.slowBoots, () => true)?.extraMs ?? 0;
  }

  get visibilityDelayMs(): number {
    return this.visibilityWindowMs;
  }
}
