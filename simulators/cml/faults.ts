/**
 * Faults the simulated CML controller injects on demand (research/cml-api.md §8), switchable at run time
 * from code (`sim.faults.neverBoot({ label: 'r1' })`) or over HTTP (`POST /_sim/faults`).
 */
import { z } from 'zod';

export interface WarmUpOptions {
  /** 502 for this many milliseconds from now. */
  ms?: number;
  /** 502 for this many requests from now. When both are given, the first limit reached ends it. */
  requests?: number;
}

/** What `GET /_sim/state` and `faults.snapshot()` report. */
export interface FaultSnapshot {
  neverBoot: { labels: string[]; nodeDefinitions: string[] };
  warmUp: { active: boolean; remainingMs: number | null; remainingRequests: number | null };
  tokenTtlMs: number | null;
  slowWipeMs: number;
  rejectStart: boolean;
  failLicenseRegistration: boolean;
}

/** The body of `POST /_sim/faults`; every field optional, applied in the order listed. */
export const FaultRequestSchema = z
  .object({
    clear: z.boolean().optional(),
    neverBoot: z
      .object({ labels: z.array(z.string()).optional(), nodeDefinitions: z.array(z.string()).optional() })
      .nullable()
      .optional(),
    warmUp: z
      .object({ ms: z.number().int().min(0).optional(), requests: z.number().int().min(0).optional() })
      .nullable()
      .optional(),
    expireTokens: z.boolean().optional(),
    tokenTtlMs: z.number().int().min(1).nullable().optional(),
    slowWipeMs: z.number().int().min(0).optional(),
    rejectStart: z.boolean().optional(),
    failLicenseRegistration: z.boolean().optional(),
  })
  .strict();
export type FaultRequest = z.infer<typeof FaultRequestSchema>;

interface WarmUpWindow {
  startedAtMs: number;
  ms: number | undefined;
  requests: number | undefined;
  served: number;
}

export class CmlFaults {
  private readonly neverBootLabels = new Set<string>();
  private readonly neverBootDefinitions = new Set<string>();
  private warmUpWindow: WarmUpWindow | null = null;
  private ttlMs: number | null = null;
  private wipeExtraMs = 0;
  private startRejected = false;
  private registrationFails = false;

  constructor(private readonly hooks: { expireTokens(): number; now(): number }) {}

  /** Nodes with this label, or of this node definition, reach STARTED and never BOOTED. */
  neverBoot(target: { label?: string; nodeDefinition?: string }): void {
    if (target.label !== undefined) this.neverBootLabels.add(target.label);
    if (target.nodeDefinition !== undefined) this.neverBootDefinitions.add(target.nodeDefinition);
  }

  clearNeverBoot(): void {
    this.neverBootLabels.clear();
    this.neverBootDefinitions.clear();
  }

  /** Whether a node reaching STARTED now will stay there. */
  shouldNeverBoot(node: { label: string; nodeDefinition: string }): boolean {
    return this.neverBootLabels.has(node.label) || this.neverBootDefinitions.has(node.nodeDefinition);
  }

  /**
   * The controller is warming up from now on: every API path but `/system_information` answers 502
   * (as CML's nginx does while services start) and `system_information.ready` is false. Without limits
   * it lasts until `endWarmUp()`.
   */
  warmUp(options: WarmUpOptions = {}): void {
    this.warmUpWindow = { startedAtMs: this.hooks.now(), ms: options.ms, requests: options.requests, served: 0 };
  }

  endWarmUp(): void {
    this.warmUpWindow = null;
  }

  isWarmingUp(): boolean {
    const w = this.warmUpWindow;
    if (!w) return false;
    const timeLeft = w.ms === undefined || this.hooks.now() - w.startedAtMs < w.ms;
    const requestsLeft = w.requests === undefined || w.served < w.requests;
    if (timeLeft && requestsLeft) return true;
    this.warmUpWindow = null;
    return false;
  }

  /** Counts a request against the warm-up window; true when it must be answered 502. */
  takeWarmUpRequest(): boolean {
    if (!this.isWarmingUp()) return false;
    this.warmUpWindow!.served += 1;
    return true;
  }

  /** Every token issued so far stops working now; the next call with one gets 401. */
  expireTokens(): number {
    return this.hooks.expireTokens();
  }

  /** Lifetime of tokens issued from now on (null = the server's web session timeout). */
  shortTokenTtl(ms: number | null): void {
    this.ttlMs = ms;
  }

  get tokenTtlMs(): number | null {
    return this.ttlMs;
  }

  /** Every wipe takes `extraMs` longer before the nodes reach DEFINED_ON_CORE. */
  slowWipe(extraMs: number): void {
    this.wipeExtraMs = Math.max(0, extraMs);
  }

  get slowWipeMs(): number {
    return this.wipeExtraMs;
  }

  /** `PUT /labs/{id}/start` answers 400 "Cannot start lab" (e.g. not enough resources). */
  rejectStart(on = true): void {
    this.startRejected = on;
  }

  get startRejectedNow(): boolean {
    return this.startRejected;
  }

  /** Licence registrations end in FAILED instead of COMPLETED. */
  failLicenseRegistration(on = true): void {
    this.registrationFails = on;
  }

  get licenseRegistrationFails(): boolean {
    return this.registrationFails;
  }

  /** Removes every fault (tokens already expired stay expired). */
  clear(): void {
    this.clearNeverBoot();
    this.warmUpWindow = null;
    this.ttlMs = null;
    this.wipeExtraMs = 0;
    this.startRejected = false;
    this.registrationFails = false;
  }

  /** Applies a `POST /_sim/faults` body. */
  apply(request: FaultRequest): void {
    if (request.clear) this.clear();
    if (request.neverBoot === null) this.clearNeverBoot();
    for (const label of request.neverBoot?.labels ?? []) this.neverBoot({ label });
    for (const nodeDefinition of request.neverBoot?.nodeDefinitions ?? []) this.neverBoot({ nodeDefinition });
    if (request.warmUp === null) this.endWarmUp();
    else if (request.warmUp) this.warmUp(request.warmUp);
    if (request.expireTokens) this.expireTokens();
    if (request.tokenTtlMs !== undefined) this.shortTokenTtl(request.tokenTtlMs);
    if (request.slowWipeMs !== undefined) this.slowWipe(request.slowWipeMs);
    if (request.rejectStart !== undefined) this.rejectStart(request.rejectStart);
    if (request.failLicenseRegistration !== undefined) this.failLicenseRegistration(request.failLicenseRegistration);
  }

  snapshot(): FaultSnapshot {
    const active = this.isWarmingUp();
    const w = this.warmUpWindow;
    return {
      neverBoot: { labels: [...this.neverBootLabels], nodeDefinitions: [...this.neverBootDefinitions] },
      warmUp: {
        active,
        remainingMs: active && w?.ms !== undefined ? Math.max(0, w.ms - (this.hooks.now() - w.startedAtMs)) : null,
        remainingRequests: active && w?.requests !== undefined ? w.requests - w.served : null,
      },
      tokenTtlMs: this.ttlMs,
      slowWipeMs: this.wipeExtraMs,
      rejectStart: this.startRejected,
      failLicenseRegistration: this.registrationFails,
    };
  }
}
