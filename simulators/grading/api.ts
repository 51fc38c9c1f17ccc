import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { noContent, ok, validate, type ErrorFormatter, type JsonRouter, type RequestContext } from '../shared/http.ts';
import { HttpError } from '../shared/http.ts';
import type { GradingEngine } from './engine.ts';
import { sessionStatus, toGradingSessionStatus, type GradingPart, type GradingSession, type Pod } from './model.ts';
import type { Ruleset } from './scoring.ts';

/**
 * The grading simulator's HTTP surface:
 * - the Grading Engine API v1 subset LCM needs (`/api/v1/sessions...`, camelCase, errors as RFC 7807
 *   ProblemDetails, as in `grading-engine-openapi.json`);
 * - a one-call facade for LCM (`/grading-sessions`): create a session with one part and a pod, and
 *   start grading it;
 * - test controls (`/_sim/grading-sessions/:id/complete|fail`).
 */

/** Errors as ASP.NET ProblemDetails (`application/problem+json`), with the stable `code` added. */
export const problemDetails: ErrorFormatter = (error, where) => {
  const body: Record<string, unknown> = {
    type: `https://httpstatuses.io/${error.status}`,
    title: STATUS_CODES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    instance: where.path,
    code: error.code,
  };
  const issues = error.details.issues as Array<{ field: string; message: string }> | undefined;
  if (issues) {
    const errors: Record<string, string[]> = {};
    for (const i of issues) (errors[i.field] ??= []).push(i.message);
    body.errors = errors;
  }
  for (const [key, value] of Object.entries(error.details)) if (key !== 'issues' && !(key in body)) body[key] = value;
  return { contentType: 'application/problem+json', body };
};

const interfaceSchema = z.object({
  name: z.string().min(1),
  protocol: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).optional(),
  authentication: z.object({ scheme: z.string().min(1), properties: z.record(z.string(), z.string()).nullable().optional() }).optional(),
  configuration: z.record(z.string(), z.unknown()).nullable().optional(),
});
const deviceSchema = z.object({
  label: z.string().min(1),
  hostname: z.string().min(1),
  collector: z.string().min(1),
  interfaces: z.array(interfaceSchema).min(1),
});
const podSchema = z.object({ id: z.string().min(1), devices: z.array(deviceSchema).nullable().optional() });
const partSchema = z.object({ id: z.string().min(3), pod: podSchema.nullable().optional() });

/** `POST /api/v1/sessions` body (CreateSessionCommand). */
const createSessionSchema = z.object({
  id: z.string().min(1).nullable().optional(),
  candidateId: z.string().min(3),
  lds: z.object({ id: z.string().min(1), environment: z.string().min(1) }).nullable().optional(),
  parts: z.array(partSchema).nullable().optional(),
  /** Simulator extension: the LCM lablet session, echoed in the events (default: `id` when given). */
  labletSessionId: z.string().min(1).optional(),
});
const addPartSchema = z.object({ sessionId: z.string().min(1), part: partSchema });
const scoringSchema = z.object({
  partId: z.string().min(1),
  scoringRequirements: z.object({
    version: z.number().int().optional(),
    cutScore: z.number().int().min(0),
    minScore: z.number().int().min(0),
    rereadScore: z.number().int().min(0),
  }),
});
const synchronizeSchema = z.object({ partId: z.string().min(1) });

/** `POST /grading-sessions` (facade) body. */
const facadeCreateSchema = z.object({
  labletSessionId: z.string().min(1),
  /** The ruleset / form to grade against (the part id); default "default". */
  ruleset: z.string().min(1).optional(),
  /** The student; default the lablet session id. */
  candidateId: z.string().min(1).optional(),
  ldsSessionId: z.string().min(1).optional(),
  /** The lab to collect from, as a grading-engine pod; or give `devices` and let the facade build it. */
  pod: podSchema.optional(),
  /** The worker (CML server) address: the host of every device that does not name one. */
  workerAddress: z.string().min(1).optional(),
  devices: z
    .array(
      z.object({
        label: z.string().min(1),
        protocol: z.string().min(1),
        host: z.string().min(1).optional(),
        port: z.number().int().min(1).max(65535).optional(),
      }),
    )
    .optional(),
}).superRefine((body, ctx) => {
  if (body.pod && body.devices) ctx.addIssue({ code: 'custom', path: ['devices'], message: 'give either pod or devices, not both' });
  (body.devices ?? []).forEach((d, i) => {
    if (d.host === undefined && body.workerAddress === undefined) {
      ctx.addIssue({ code: 'custom', path: ['devices', i, 'host'], message: 'a device needs a host when workerAddress is not given' });
    }
  });
});

type PodInput = z.infer<typeof podSchema>;
const toPod = (p: PodInput): Pod => ({ id: p.id, devices: p.devices ?? null });
const toPart = (p: z.infer<typeof partSchema>): { id: string; pod: Pod | null } => ({ id: p.id, pod: p.pod ? toPod(p.pod) : null });

const failSchema = z.object({ reason: z.string().min(1).optional(), partId: z.string().min(1).optional() });

/** The Session JSON of the API v1. */
export function v1View(session: GradingSession): Record<string, unknown> {
  return {
    id: session.id,
    createdAt: session.createdAt,
    lastModified: session.lastModified,
    candidateId: session.candidateId,
    lds: session.lds,
    status: sessionStatus(session),
    parts: session.parts.map((p) => ({ ...p })),
    labletSessionId: session.labletSessionId,
  };
}

export interface GradingPartView {
  partId: string;
  /** LCM GradingSessionStatus (PENDING, GRADING, REVIEWING, SUBMITTED, FAULTED). */
  status: string;
  /** Grading-engine native part status (created, grading, reviewing, locked, faulted). */
  state: string;
  statusReason: string | null;
  podId: string | null;
  scoreReport: {
    score: number;
    maxScore: number;
    cutScore: number | null;
    passed: boolean | null;
    sections: Array<{ name: string; score: number; maxScore: number; weight: number }>;
    gradedAt: string;
    submittedAt: string | null;
  } | null;
}

/** The facade's grading-session JSON; the top-level part fields describe the first part. */
export interface GradingSessionView extends GradingPartView {
  id: string;
  gradingSessionId: string;
  labletSessionId: string | null;
  candidateId: string;
  createdAt: string;
  updatedAt: string;
  parts: GradingPartView[];
}

function partView(part: GradingPart): GradingPartView {
  const r = part.scoreReport;
  return {
    partId: part.id,
    status: toGradingSessionStatus(part.status),
    state: part.status,
    statusReason: part.statusReason,
    podId: part.pod?.id ?? null,
    scoreReport: r && {
      score: r.score,
      maxScore: r.maxScore,
      cutScore: r.cutScore,
      passed: r.passed,
      sections: r.sections.map(({ name, score, maxScore, weight }) => ({ name, score, maxScore, weight })),
      gradedAt: r.createdAt,
      submittedAt: part.lastSubmitted,
    },
  };
}

export function gradingSessionView(session: GradingSession): GradingSessionView {
  const parts = session.parts.map(partView);
  const first: GradingPartView = parts[0] ?? {
    partId: '',
    status: toGradingSessionStatus(sessionStatus(session)),
    state: sessionStatus(session),
    statusReason: null,
    podId: null,
    scoreReport: null,
  };
  return {
    id: session.id,
    gradingSessionId: session.id,
    labletSessionId: session.labletSessionId,
    candidateId: session.candidateId,
    createdAt: session.createdAt,
    updatedAt: session.lastModified ?? session.createdAt,
    ...first,
    parts,
  };
}

export interface GradingApiDeps {
  engine: GradingEngine;
  /** Consumes one `failCreate` fault; true = answer 500. */
  injectCreateFailure(): boolean;
  ruleset(partId: string): Ruleset;
  /** Set the scoring requirements (cut score) of a ruleset; TypeError when out of range. */
  setCutScore(partId: string, cutScore: number): void;
}

const injected = () => new HttpError(500, 'INJECTED_FAULT', 'grading session creation failed (injected fault)');
const param = (ctx: RequestContext, name: string) => ctx.params[name] as string;

export function addGradingApiRoutes(router: JsonRouter, deps: GradingApiDeps): void {
  const { engine } = deps;
  const base = '/api/v1/sessions';

  // --- Grading Engine API v1 -------------------------------------------------------------------
  router.post(base, async (ctx) => {
    const body = validate(createSessionSchema, await ctx.json());
    if (deps.injectCreateFailure()) throw injected();
    const session = engine.createSession({
      ...body,
      parts: body.parts?.map(toPart) ?? [],
      labletSessionId: body.labletSessionId ?? body.id ?? null,
    });
    return ok(v1View(session));
  });
  router.get(`${base}/:sessionId`, (ctx) => ok(v1View(engine.get(param(ctx, 'sessionId')))));
  router.post(`${base}/parts`, async (ctx) => {
    const body = validate(addPartSchema, await ctx.json());
    return ok(v1View(engine.addPart(body.sessionId, toPart(body.part))));
  });
  router.delete(`${base}/:sessionId/parts/:partId`, (ctx) => ok(v1View(engine.removePart(param(ctx, 'sessionId'), param(ctx, 'partId')))));
  router.post(`${base}/:sessionId/parts/:partId/grade`, (ctx) => {
    engine.grade(param(ctx, 'sessionId'), param(ctx, 'partId'));
    return { status: 202 };
  });
  router.post(`${base}/:sessionId/parts/:partId/submit`, (ctx) => ok(v1View(engine.submit(param(ctx, 'sessionId'), param(ctx, 'partId')))));
  const setPod = async (ctx: RequestContext) => {
    const pod = toPod(validate(podSchema, await ctx.json(), 'pod'));
    return ok(v1View(engine.setPod(param(ctx, 'sessionId'), param(ctx, 'partId'), pod)));
  };
  router.post(`${base}/:sessionId/parts/:partId/pod`, setPod);
  router.put(`${base}/:sessionId/parts/:partId/pod`, setPod);
  router.delete(`${base}/:sessionId/parts/:partId/pod`, (ctx) => ok(v1View(engine.setPod(param(ctx, 'sessionId'), param(ctx, 'partId'), null))));
  router.get(`${base}/parts/:partId/ruleset/grading/rules`, (ctx) => ok(rulesetView(deps.ruleset(param(ctx, 'partId')))));
  router.post(`${base}/parts/ruleset/grading/synchronize`, async (ctx) => {
    validate(synchronizeSchema, await ctx.json());
    return noContent();
  });
  router.put(`${base}/parts/ruleset/scoring`, async (ctx) => {
    const body = validate(scoringSchema, await ctx.json());
    try {
      deps.setCutScore(body.partId, body.scoringRequirements.cutScore);
    } catch (e) {
      if (e instanceof TypeError) throw new HttpError(400, 'BAD_USER_INPUT', e.message, { field: 'scoringRequirements.cutScore' });
      throw e;
    }
    return noContent();
  });

  // --- facade: one call per LCM step -----------------------------------------------------------
  router.post('/grading-sessions', async (ctx) => {
    const body = validate(facadeCreateSchema, await ctx.json());
    if (deps.injectCreateFailure()) throw injected();
    const pod: Pod = body.pod
      ? toPod(body.pod)
      : {
          id: body.labletSessionId,
          devices: (body.devices ?? []).map((d) => ({
            label: d.label,
            hostname: d.label,
            collector: 'lcm',
            interfaces: [{ name: `${d.protocol}-${d.label}`, protocol: d.protocol, host: d.host ?? (body.workerAddress as string), port: d.port }],
          })),
        };
    const partId = body.ruleset ?? 'default';
    const session = engine.createSession({
      candidateId: body.candidateId ?? body.labletSessionId,
      lds: body.ldsSessionId ? { id: body.ldsSessionId, environment: 'lcm' } : null,
      parts: [{ id: partId, pod }],
      labletSessionId: body.labletSessionId,
    });
    engine.grade(session.id, partId);
    return { status: 202, body: gradingSessionView(session), headers: { location: `/grading-sessions/${session.id}` } };
  });
  router.get('/grading-sessions', (ctx) => {
    const labletSessionId = ctx.query.get('labletSessionId');
    const status = ctx.query.get('status')?.toUpperCase() ?? null;
    const sessions = engine
      .list()
      .filter((s) => labletSessionId === null || s.labletSessionId === labletSessionId)
      .map(gradingSessionView)
      .filter((v) => status === null || v.status === status);
    return ok({ sessions });
  });
  router.get('/grading-sessions/:id', (ctx) => ok(gradingSessionView(engine.get(param(ctx, 'id')))));

  // --- test controls ---------------------------------------------------------------------------
  const firstPart = (id: string, partId: string | undefined): string => {
    const session = engine.get(id);
    const part = partId ?? session.parts[0]?.id;
    if (part === undefined) throw new HttpError(409, 'CONFLICT', `grading session ${id} has no parts`, { id });
    return part;
  };
  router.post('/_sim/grading-sessions/:id/complete', async (ctx) => {
    const body = validate(failSchema.pick({ partId: true }), (await ctx.json()) ?? {});
    const id = param(ctx, 'id');
    engine.completeNow(id, firstPart(id, body.partId));
    return ok(gradingSessionView(engine.get(id)));
  });
  router.post('/_sim/grading-sessions/:id/fail', async (ctx) => {
    const body = validate(failSchema, (await ctx.json()) ?? {});
    const id = param(ctx, 'id');
    engine.failNow(id, firstPart(id, body.partId), body.reason ?? 'grading failed (test control)');
    return ok(gradingSessionView(engine.get(id)));
  });
}

/** The grading engine's Ruleset JSON for a simulator ruleset. */
function rulesetView(r: Ruleset): Record<string, unknown> {
  return {
    id: r.name,
    grading: {
      ruleset: {
        lab: { title: r.name, version: r.version },
        sections: r.sections.map((s, index) => ({ index, description: s.name, points: s.maxScore, items: [] })),
      },
    },
    scoring: { cutScore: r.cutScore, minScore: 0, rereadScore: r.cutScore },
  };
}
