import { z } from 'zod';
import { HttpError, intParam, noContent, notFoundError, ok, validate, type JsonRouter, type Reply } from '../shared/http.ts';
import { LdsState, PART_STATE_OF, toUserSessionStatus, type LdsDevice, type LdsSession } from './model.ts';
import type { LdsSessions } from './sessions.ts';

/**
 * The LDS simulator's HTTP surface:
 * - the LDS Reservations API v3 subset LCM uses (`/reservations/v3/lab_session...`, snake_case, as in
 *   the original `lds_spi.py` and `LDS_openapi.json`);
 * - a one-call facade for LCM (`/sessions`, camelCase): create + set devices + launch URL at once;
 * - the student's launch page (`/lablet/launch/:id`), what the login URL opens;
 * - test controls that make the student act (`/_sim/sessions/:id/start|pause|resume|finish|timeout|finalize`).
 */

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date or date-time');
const stringish = z.union([z.string(), z.number()]).transform(String);

const partSchema = z
  .object({
    repository_type: z.enum(['svn', 'minio']).optional(),
    form_qualified_name: z.string().min(1).optional(),
    track: z.string().min(1).optional(),
    exam_version: z.string().min(1).optional(),
    variables: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .refine((p) => p.form_qualified_name !== undefined || (p.track !== undefined && p.exam_version !== undefined), {
    message: 'a session part needs form_qualified_name (minio) or track and exam_version (svn)',
  });

/** `POST /reservations/v3/lab_session` body (`LDSSession`; required fields as in the OpenAPI document). */
const createSessionSchema = z.object({
  origin: z.string().min(1),
  auth_id: z.string().min(1),
  auth_id_type: z.string().min(1),
  candidate_id: z.string().min(1),
  location: z.string(),
  timezone_offset: z.number().int(),
  first_name: z.string(),
  last_name: z.string(),
  rack_group: stringish,
  rack_number: stringish,
  scheduled_date: isoDate,
  email_address: z.string().nullable().optional(),
  session_parts: z.array(partSchema).default([]),
  /** Simulator extension: the LCM lablet session id, echoed in the CloudEvents. */
  lablet_session_id: z.string().min(1).optional(),
});

const deviceSchema = z.object({
  device_label: z.string().min(1),
  protocol: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).nullable().optional(),
  password: z.string().nullable().optional(),
});
const devicesSchema = z.array(deviceSchema);

/** `POST /sessions` (facade) body. */
const facadeCreateSchema = z.object({
  labletSessionId: z.string().min(1),
  /** The student (LDS candidate / auth id). */
  owner: z.string().min(1),
  /** Lab content name; defaults to "lablet". */
  formQualifiedName: z.string().min(1).optional(),
  /** The worker (CML server) address: the host of every device that does not name one. */
  workerAddress: z.string().min(1).optional(),
  devices: z
    .array(
      z.object({
        label: z.string().min(1),
        protocol: z.string().min(1),
        host: z.string().min(1).optional(),
        port: z.number().int().min(1).max(65535).nullable().optional(),
        password: z.string().nullable().optional(),
      }),
    )
    .default([]),
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  email: z.string().optional(),
}).superRefine((body, ctx) => {
  body.devices.forEach((d, i) => {
    if (d.host === undefined && body.workerAddress === undefined) {
      ctx.addIssue({ code: 'custom', path: ['devices', i, 'host'], message: 'a device needs a host when workerAddress is not given' });
    }
  });
});

/** The LDSSession JSON of the v3 API. */
export function v3View(s: LdsSession): Record<string, unknown> {
  return {
    id: s.id,
    active_reservation: s.state !== LdsState.FINALIZED,
    auth_id: s.auth_id,
    auth_id_type: s.auth_id_type,
    candidate_id: s.candidate_id,
    created: s.created,
    current_session_part: s.current_session_part,
    email_address: s.email_address,
    first_name: s.first_name,
    last_name: s.last_name,
    is_finalized: s.state === LdsState.FINALIZED,
    location: s.location,
    log_id: `SID=${s.id}`,
    origin: s.origin,
    password: null,
    rack_group: s.rack_group,
    rack_number: s.rack_number,
    scheduled_date: s.scheduled_date,
    session_parts: s.parts.map(({ devices: _devices, ...part }) => part),
    state: s.state,
    timer_paused: s.state === LdsState.PAUSED,
    timezone_offset: s.timezone_offset,
    lablet_session_id: s.labletSessionId,
  };
}

/** The facade's user-session JSON (what LCM stores as a UserSession). */
export interface UserSessionView {
  id: string;
  ldsSessionId: string;
  partId: number;
  labletSessionId: string | null;
  owner: string;
  loginUrl: string;
  devices: Array<{ label: string; protocol: string; host: string; port: number | null; password: string | null }>;
  /** LCM UserSessionStatus (PROVISIONED, ACTIVE, PAUSED, ENDED, EXPIRED). */
  status: string;
  /** LDS native state (SESSION_*). */
  state: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  endReason: string | null;
}

export function userSessionView(s: LdsSession, loginUrl: string): UserSessionView {
  const part = s.parts[s.current_session_part - 1];
  return {
    id: s.id,
    ldsSessionId: s.id,
    partId: s.current_session_part,
    labletSessionId: s.labletSessionId,
    owner: s.candidate_id,
    loginUrl,
    devices: (part?.devices ?? []).map((d) => ({
      label: d.device_label,
      protocol: d.protocol,
      host: d.host,
      port: d.port ?? null,
      password: d.password ?? null,
    })),
    status: toUserSessionStatus(s.state),
    state: s.state,
    createdAt: s.created,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    endReason: s.endReason,
  };
}

export interface LdsApiDeps {
  sessions: LdsSessions;
  /** Consumes one `failCreate` / `failSetDevices` fault; true = answer 500. */
  injectFailure(operation: 'create' | 'setDevices'): boolean;
  /** The base URL of the simulator as its clients reach it (the `location` of created sessions). */
  baseUrl(): string;
}

const injected = (operation: string) =>
  new HttpError(500, 'INJECTED_FAULT', `LDS ${operation} failed (injected fault)`);

export function addLdsApiRoutes(router: JsonRouter, deps: LdsApiDeps): void {
  const { sessions } = deps;
  const base = '/reservations/v3/lab_session';
  const view = (s: LdsSession) => userSessionView(s, sessions.launchUrl(s.id));

  // --- Reservations API v3 ---------------------------------------------------------------------
  router.post(base, async (ctx) => {
    const body = validate(createSessionSchema, await ctx.json());
    if (deps.injectFailure('create')) throw injected('session creation');
    const { lablet_session_id, ...rest } = body;
    const session = sessions.create({ ...rest, labletSessionId: lablet_session_id ?? null });
    return ok({ location: `${deps.baseUrl()}${base}/${session.id}`, message: 'Session created', session_id: session.id });
  });
  router.get(base, (ctx) => {
    const state = ctx.query.get('state');
    if (!state) throw new HttpError(400, 'BAD_USER_INPUT', 'query parameter state is required', { field: 'state' });
    const latest = sessions.latestForState(state);
    if (!latest) throw notFoundError('LDS session in state', state);
    return ok({ latest_session_id: latest.id, state: latest.state });
  });
  router.get(`${base}/:id`, (ctx) => ok(v3View(sessions.get(ctx.params.id as string))));
  router.put(`${base}/:id/pause`, (ctx) => {
    sessions.pause(ctx.params.id as string);
    return noContent();
  });
  router.put(`${base}/:id/resume`, (ctx) => {
    sessions.resume(ctx.params.id as string);
    return noContent();
  });
  router.post(`${base}/:id/release`, (ctx) => {
    sessions.finalize(ctx.params.id as string);
    return noContent();
  });
  router.put(`${base}/:id/force_user_finished`, (ctx) => {
    sessions.finish(ctx.params.id as string);
    return ok({ result: 'LDS Session Part and LDS Session set user finished' });
  });
  router.put(`${base}/:id/refresh_status`, (ctx) => {
    const session = sessions.get(ctx.params.id as string);
    return ok({ result: `LDS Session is ${session.state}` });
  });
  router.get(`${base}/:id/lablet_launch_url`, (ctx) => ok({ url: sessions.launchUrl(ctx.params.id as string) }));
  router.get(`${base}/:id/statuses`, (ctx) => {
    const session = sessions.get(ctx.params.id as string);
    const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);
    return ok({
      id: session.id,
      session_statuses: session.history.map((h) => ({ new_status: h.state, session_part: session.current_session_part, timestamp: epoch(h.at) })),
      session_part_statuses: session.history.map((h) => ({
        new_status: PART_STATE_OF[h.state],
        session_part: session.current_session_part,
        timestamp: epoch(h.at),
      })),
    });
  });
  router.get(`${base}/:id/part/:part`, (ctx) => {
    const { devices: _devices, ...part } = sessions.part(ctx.params.id as string, intParam(ctx, 'part'));
    return ok(part);
  });
  router.get(`${base}/:id/part/:part/devices`, (ctx) => ok(sessions.part(ctx.params.id as string, intParam(ctx, 'part')).devices));
  router.put(`${base}/:id/part/:part/devices`, async (ctx) => {
    const partNum = intParam(ctx, 'part');
    const devices = validate(devicesSchema, await ctx.json(), 'devices') as LdsDevice[];
    sessions.part(ctx.params.id as string, partNum);
    if (deps.injectFailure('setDevices')) throw injected('set devices');
    return ok(sessions.setDevices(ctx.params.id as string, partNum, devices));
  });

  // --- facade: one call per LCM step -----------------------------------------------------------
  router.post('/sessions', async (ctx) => {
    const body = validate(facadeCreateSchema, await ctx.json());
    if (deps.injectFailure('create')) throw injected('session creation');
    const session = sessions.create({
      origin: 'lablet-cloud-manager',
      auth_id: body.owner,
      auth_id_type: 'ordered_session',
      candidate_id: body.owner,
      location: 'cloud',
      timezone_offset: 0,
      first_name: body.firstName ?? body.owner,
      last_name: body.lastName ?? '',
      rack_group: 'LCM',
      rack_number: '1',
      scheduled_date: new Date().toISOString(),
      email_address: body.email ?? null,
      session_parts: [{ repository_type: 'minio', form_qualified_name: body.formQualifiedName ?? 'lablet' }],
      labletSessionId: body.labletSessionId,
    });
    if (deps.injectFailure('setDevices')) throw injected('set devices');
    sessions.setDevices(
      session.id,
      1,
      body.devices.map((d) => ({
        device_label: d.label,
        protocol: d.protocol,
        host: d.host ?? (body.workerAddress as string),
        port: d.port ?? null,
        password: d.password ?? null,
      })),
    );
    return { status: 201, body: view(session), headers: { location: `/sessions/${session.id}` } };
  });
  router.get('/sessions', (ctx) => {
    const labletSessionId = ctx.query.get('labletSessionId');
    const status = ctx.query.get('status');
    const list = sessions
      .list()
      .filter((s) => labletSessionId === null || s.labletSessionId === labletSessionId)
      .map(view)
      .filter((v) => status === null || v.status === status.toUpperCase());
    return ok({ sessions: list });
  });
  router.get('/sessions/:id', (ctx) => ok(view(sessions.get(ctx.params.id as string))));
  router.delete('/sessions/:id', (ctx) => ok(view(sessions.finalize(ctx.params.id as string))));

  // --- test controls: the student --------------------------------------------------------------
  const control = (action: (id: string) => LdsSession) => (ctx: { params: Record<string, string> }) =>
    ok(view(action(ctx.params.id as string)));
  router.post('/_sim/sessions/:id/start', control((id) => sessions.start(id)));
  router.post('/_sim/sessions/:id/pause', control((id) => sessions.pause(id)));
  router.post('/_sim/sessions/:id/resume', control((id) => sessions.resume(id)));
  router.post('/_sim/sessions/:id/finish', control((id) => sessions.finish(id)));
  router.post('/_sim/sessions/:id/timeout', control((id) => sessions.timeout(id)));
  router.post('/_sim/sessions/:id/finalize', control((id) => sessions.finalize(id)));

  // --- the student's launch page (what the login URL opens) ------------------------------------
  const checkToken = (session: LdsSession, token: string | null) => {
    if (token !== session.launchToken) throw new HttpError(403, 'FORBIDDEN', 'invalid or missing launch token');
  };
  router.get('/lablet/launch/:id', (ctx) => {
    const session = sessions.get(ctx.params.id as string);
    checkToken(session, ctx.query.get('token'));
    return launchPage(session, ctx.query.get('token') as string);
  });
  for (const action of ['start', 'finish'] as const) {
    router.post(`/lablet/launch/:id/${action}`, (ctx) => {
      const session = sessions.get(ctx.params.id as string);
      const token = ctx.query.get('token');
      checkToken(session, token);
      if (action === 'start') sessions.start(session.id);
      else sessions.finish(session.id);
      return { status: 303, headers: { location: `/lablet/launch/${encodeURIComponent(session.id)}?token=${token}` } };
    });
  }
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function launchPage(s: LdsSession, token: string): Reply {
  const devices = s.parts[s.current_session_part - 1]?.devices ?? [];
  const rows = devices
    .map((d) => `<tr><td>${escapeHtml(d.device_label)}</td><td>${escapeHtml(d.protocol)}</td><td>${escapeHtml(d.host)}:${d.port ?? ''}</td></tr>`)
    .join('');
  const action = (name: 'start' | 'finish', label: string, enabled: boolean) =>
    `<form method="post" action="/lablet/launch/${encodeURIComponent(s.id)}/${name}?token=${encodeURIComponent(token)}">` +
    `<button${enabled ? '' : ' disabled'}>${label}</button></form>`;
  const canStart = s.state === LdsState.PENDING || s.state === LdsState.PROVISIONED;
  const canFinish = s.state === LdsState.RUNNING || s.state === LdsState.PAUSED;
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Lablet ${escapeHtml(s.id)}</title></head><body>
<h1>Lablet session</h1>
<p>LDS session <code>${escapeHtml(s.id)}</code> for <b>${escapeHtml(s.candidate_id)}</b>: <b>${escapeHtml(s.state)}</b></p>
<table border="1" cellpadding="4"><tr><th>device</th><th>protocol</th><th>address</th></tr>${rows}</table>
${action('start', 'Start the lab', canStart)}${action('finish', 'Finish the lab', canFinish)}
<p><small>Simulated Lab Delivery System (LCM).</small></p></body></html>`;
  return { status: 200, body: html, headers: { 'content-type': 'text/html; charset=utf-8' } };
}
