/**
 * Client of the lab delivery system (LDS) for the lablet-controller: provision the student's user
 * session (login URL, devices), read it, and finalize it at teardown.
 *
 * It speaks the LCM facade of LDS (`/sessions`, simulators/lds/README.md): one call creates the LDS
 * session, sets part 1's devices and returns the launch URL, and sessions can be listed by the lablet
 * session they were created for. That lookup is what makes provisioning idempotent: `ensureSession`
 * looks for a live user session of the lablet session before creating one, so a controller that died
 * between "created" and "recorded" adopts the session instead of creating a second one. (The raw
 * Reservations v3 API has no such lookup: a v3 adapter would need the id recorded before the call.)
 */
import { z } from 'zod';
import { HttpServiceError, JsonHttp, type JsonHttpOptions } from '../json-http.ts';

export const LdsDevice = z.object({
  label: z.string(),
  protocol: z.string(),
  host: z.string().nullable().optional(),
  port: z.number().nullable().optional(),
  password: z.string().nullable().optional(),
});
export type LdsDevice = z.infer<typeof LdsDevice>;

export const LdsUserSession = z.looseObject({
  id: z.string(),
  ldsSessionId: z.string().optional(),
  partId: z.number().optional(),
  labletSessionId: z.string().nullable().optional(),
  owner: z.string().optional(),
  loginUrl: z.string().nullable().optional(),
  devices: z.array(LdsDevice).default([]),
  /** LCM's UserSessionStatus: PROVISIONED, ACTIVE, PAUSED, ENDED, EXPIRED. */
  status: z.string(),
  /** LDS native state, e.g. SESSION_RUNNING, SESSION_FINALIZED. */
  state: z.string(),
  startedAt: z.string().nullable().optional(),
  endedAt: z.string().nullable().optional(),
  endReason: z.string().nullable().optional(),
});
export type LdsUserSession = z.infer<typeof LdsUserSession>;

export interface NewLdsSession {
  labletSessionId: string;
  owner: string;
  formQualifiedName?: string;
  /** Host of every device that names none (the worker's address). */
  workerAddress?: string;
  devices: Array<{ label: string; protocol: string; host?: string; port?: number }>;
}

export const isFinalized = (s: LdsUserSession): boolean => s.state === 'SESSION_FINALIZED';

export class LdsClient {
  private readonly http: JsonHttp;

  constructor(options: Omit<JsonHttpOptions, 'service'>) {
    this.http = new JsonHttp({ ...options, service: 'LDS' });
  }

  /** User sessions created for a lablet session, oldest first. */
  async findByLabletSession(labletSessionId: string, signal?: AbortSignal): Promise<LdsUserSession[]> {
    const body = await this.http.request<unknown>('GET', `/sessions?labletSessionId=${encodeURIComponent(labletSessionId)}`, undefined, { signal });
    return z.object({ sessions: z.array(LdsUserSession) }).parse(body).sessions;
  }

  async get(id: string, signal?: AbortSignal): Promise<LdsUserSession | undefined> {
    try {
      return LdsUserSession.parse(await this.http.request<unknown>('GET', `/sessions/${encodeURIComponent(id)}`, undefined, { signal }));
    } catch (e) {
      if (e instanceof HttpServiceError && e.notFound) return undefined;
      throw e;
    }
  }

  /** The lablet session's live (not finalized) user session, created when there is none. */
  async ensureSession(input: NewLdsSession, signal?: AbortSignal): Promise<{ session: LdsUserSession; created: boolean }> {
    const existing = (await this.findByLabletSession(input.labletSessionId, signal)).find((s) => !isFinalized(s));
    if (existing) return { session: existing, created: false };
    const body = await this.http.request<unknown>('POST', '/sessions', input, { signal });
    return { session: LdsUserSession.parse(body), created: true };
  }

  /** Finalize (release) a user session; finalizing again, or one LDS does not know, is a no-op. */
  async finalize(id: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.http.request('DELETE', `/sessions/${encodeURIComponent(id)}`, undefined, { signal });
    } catch (e) {
      if (e instanceof HttpServiceError && e.notFound) return;
      throw e;
    }
  }
}
