/**
 * Client of the grading engine for the lablet-controller: ask for the grading of a session's lab (the
 * pod: its devices with the collected configurations) and follow it.
 *
 * It speaks the LCM facade of the engine (`/grading-sessions`, simulators/grading/README.md): one call
 * creates the engine session with one part and the pod and starts grading, and gradings can be listed
 * by lablet session — the lookup that makes `ensureGrading` idempotent (a controller that died after
 * asking adopts the grading in flight instead of asking twice). `regrade` asks the engine again for a
 * faulted part (Grading Engine API v1 `…/parts/{partId}/grade`).
 */
import { z } from 'zod';
import { HttpServiceError, JsonHttp, type JsonHttpOptions } from '../json-http.ts';

export const GradingScoreReport = z.looseObject({
  score: z.number(),
  maxScore: z.number(),
  cutScore: z.number().nullable().optional(),
  passed: z.boolean().nullable().optional(),
  sections: z.array(z.looseObject({ name: z.string(), score: z.number(), maxScore: z.number(), weight: z.number().optional() })),
  gradedAt: z.string().nullable().optional(),
  submittedAt: z.string().nullable().optional(),
});
export type GradingScoreReport = z.infer<typeof GradingScoreReport>;

export const GradingView = z.looseObject({
  id: z.string(),
  labletSessionId: z.string().nullable().optional(),
  partId: z.string().nullable().optional(),
  /** LCM's GradingSessionStatus: PENDING, GRADING, REVIEWING, SUBMITTED, FAULTED. */
  status: z.string(),
  state: z.string().nullable().optional(),
  statusReason: z.string().nullable().optional(),
  scoreReport: GradingScoreReport.nullable().optional(),
});
export type GradingView = z.infer<typeof GradingView>;

export interface GradingInterface {
  name: string;
  protocol: string;
  host: string;
  port?: number;
  configuration?: Record<string, unknown> | null;
}

export interface GradingPod {
  id: string;
  devices: Array<{ label: string; hostname: string; collector: string; interfaces: GradingInterface[] }>;
}

export interface NewGrading {
  labletSessionId: string;
  /** The ruleset (part id) to grade against. */
  ruleset?: string;
  candidateId?: string;
  ldsSessionId?: string;
  pod: GradingPod;
}

export class GradingClient {
  private readonly http: JsonHttp;

  constructor(options: Omit<JsonHttpOptions, 'service'>) {
    this.http = new JsonHttp({ ...options, service: 'grading engine' });
  }

  async findByLabletSession(labletSessionId: string, signal?: AbortSignal): Promise<GradingView[]> {
    const body = await this.http.request<unknown>('GET', `/grading-sessions?labletSessionId=${encodeURIComponent(labletSessionId)}`, undefined, { signal });
    return z.object({ sessions: z.array(GradingView) }).parse(body).sessions;
  }

  async get(id: string, signal?: AbortSignal): Promise<GradingView | undefined> {
    try {
      return GradingView.parse(await this.http.request<unknown>('GET', `/grading-sessions/${encodeURIComponent(id)}`, undefined, { signal }));
    } catch (e) {
      if (e instanceof HttpServiceError && e.notFound) return undefined;
      throw e;
    }
  }

  /** The lablet session's grading (the newest), requested when there is none. */
  async ensureGrading(input: NewGrading, signal?: AbortSignal): Promise<{ grading: GradingView; created: boolean }> {
    const existing = (await this.findByLabletSession(input.labletSessionId, signal)).at(-1);
    if (existing) return { grading: existing, created: false };
    const body = await this.http.request<unknown>('POST', '/grading-sessions', input, { signal });
    return { grading: GradingView.parse(body), created: true };
  }

  /** Grade a faulted (or reviewed) part again; the engine answers 409 while it is grading. */
  async regrade(gradingSessionId: string, partId: string, signal?: AbortSignal): Promise<void> {
    await this.http.request(
      'POST',
      `/api/v1/sessions/${encodeURIComponent(gradingSessionId)}/parts/${encodeURIComponent(partId)}/grade`,
      undefined,
      { signal, idempotent: true },
    );
  }
}
