import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseExternalEvent } from '../../core/events/external-events.ts';
import { startTestSink, type TestSink } from '../../test/support/simulators/event-sink.ts';
import { request } from '../../test/support/simulators/http-client.ts';
import { startLdsSimulator, type LdsSimulator } from './index.ts';

const FAST_RETRY = { initialDelayMs: 5, maxDelayMs: 20, multiplier: 2, maxAttempts: 4 };

const v3Session = {
  origin: 'lablet-cloud-manager',
  auth_id: 'student-1',
  auth_id_type: 'ordered_session',
  candidate_id: 'student-1',
  location: 'cloud',
  timezone_offset: 0,
  first_name: 'Ada',
  last_name: 'Lovelace',
  rack_group: 'LCM',
  rack_number: 1,
  scheduled_date: '2026-01-15',
  session_parts: [{ repository_type: 'minio', form_qualified_name: 'Exam CCNA LAB 1.0' }],
  lablet_session_id: 'ls-v3',
};

const facadeBody = (labletSessionId: string) => ({
  labletSessionId,
  owner: 'student-1',
  formQualifiedName: 'Exam CCNA LAB 1.0',
  workerAddress: '10.0.0.5',
  devices: [
    { label: 'R1', protocol: 'telnet', host: '10.0.0.5', port: 2001 },
    { label: 'PC1', protocol: 'vnc', port: 2002, password: 'pw' },
  ],
});

describe('LDS simulator', () => {
  let sink: TestSink;
  let sim: LdsSimulator;

  beforeEach(async () => {
    sink = await startTestSink();
    sim = await startLdsSimulator({ sinkUrl: sink.url, retry: FAST_RETRY });
  });
  afterEach(async () => {
    await sim.close();
    await sink.close();
  });

  describe.each(['binary', 'structured'] as const)('%s mode', (mode) => {
    it('create → start → finish emits lds.session.started then lds.session.ended, each once', async () => {
      sim.configure({ mode });
      const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-1'));
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ labletSessionId: 'ls-1', partId: 1, status: 'PROVISIONED', state: 'SESSION_PROVISIONED' });
      expect(created.body.devices).toEqual([
        { label: 'R1', protocol: 'telnet', host: '10.0.0.5', port: 2001, password: null },
        { label: 'PC1', protocol: 'vnc', host: '10.0.0.5', port: 2002, password: 'pw' },
      ]);
      const id = created.body.id as string;
      expect(created.body.loginUrl).toBe(`${sim.url}/lablet/launch/${id}?token=${new URL(created.body.loginUrl).searchParams.get('token')}`);

      const started = await request('POST', `${sim.url}/_sim/sessions/${id}/start`);
      expect(started.body).toMatchObject({ status: 'ACTIVE', state: 'SESSION_RUNNING' });
      const finished = await request('POST', `${sim.url}/_sim/sessions/${id}/finish`);
      expect(finished.body).toMatchObject({ status: 'ENDED', state: 'SESSION_USER_FINISHED', endReason: 'user_finished' });
      // Releasing afterwards (LCM teardown) does not announce the end a second time.
      expect((await request('DELETE', `${sim.url}/sessions/${id}`)).body.state).toBe('SESSION_FINALIZED');

      await sim.idle();
      expect(sink.events.map((e) => e.event.type)).toEqual(['lds.session.started', 'lds.session.ended']);
      expect(sink.events.every((e) => e.mode === mode)).toBe(true);
      const [start, end] = sink.events.map((e) => parseExternalEvent(e.event));
      expect(start?.event).toMatchObject({ specversion: '1.0', source: 'lds', subject: id, datacontenttype: 'application/json' });
      expect(start?.data).toMatchObject({ ldsSessionId: id, labletSessionId: 'ls-1', partId: 1, state: 'SESSION_RUNNING' });
      expect(end?.data).toMatchObject({ ldsSessionId: id, labletSessionId: 'ls-1', reason: 'user_finished', state: 'SESSION_USER_FINISHED' });
      const endData = end?.data as { startedAt: string; endedAt: string };
      expect(endData.startedAt).toBe(start?.data && (start.data as { startedAt: string }).startedAt);
      expect(Date.parse(endData.endedAt)).toBeGreaterThanOrEqual(Date.parse(endData.startedAt));
    });
  });

  it('serves the Reservations API v3 flow the original LCM client uses', async () => {
    const created = await request('POST', `${sim.url}/reservations/v3/lab_session`, v3Session);
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ message: 'Session created' });
    const id = created.body.session_id as string;
    expect(created.body.location).toBe(`${sim.url}/reservations/v3/lab_session/${id}`);

    const session = await request('GET', `${sim.url}/reservations/v3/lab_session/${id}`);
    expect(session.body).toMatchObject({
      id,
      state: 'SESSION_PENDING',
      is_finalized: false,
      active_reservation: true,
      rack_number: '1',
      lablet_session_id: 'ls-v3',
      session_parts: [{ repository_type: 'minio', form_qualified_name: 'Exam CCNA LAB 1.0', session_part_state: 'SESSION_PART_PENDING' }],
    });

    const devices = [{ device_label: 'R1', protocol: 'telnet', host: '10.0.0.5', port: 2001 }];
    const put = await request('PUT', `${sim.url}/reservations/v3/lab_session/${id}/part/1/devices`, devices);
    expect(put.status).toBe(200);
    expect(put.body).toEqual(devices);
    expect((await request('GET', `${sim.url}/reservations/v3/lab_session/${id}/part/1/devices`)).body).toEqual(devices);
    expect((await request('GET', `${sim.url}/reservations/v3/lab_session?state=SESSION_PROVISIONED`)).body).toEqual({
      latest_session_id: id,
      state: 'SESSION_PROVISIONED',
    });

    const launch = await request('GET', `${sim.url}/reservations/v3/lab_session/${id}/lablet_launch_url`);
    const url = launch.body.url as string;
    expect(url.startsWith(`${sim.url}/lablet/launch/${id}?token=`)).toBe(true);

    // The student opens the login URL and presses "Start the lab".
    const page = await request('GET', url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.body).toContain('SESSION_PROVISIONED');
    const token = new URL(url).searchParams.get('token') as string;
    const pressed = await request('POST', `${sim.url}/lablet/launch/${id}/start?token=${token}`);
    expect(pressed.status).toBe(303);
    expect((await request('GET', `${sim.url}/lablet/launch/${id}?token=wrong`)).status).toBe(403);

    expect((await request('PUT', `${sim.url}/reservations/v3/lab_session/${id}/pause`)).status).toBe(204);
    expect((await request('GET', `${sim.url}/reservations/v3/lab_session/${id}`)).body).toMatchObject({ state: 'SESSION_PAUSED', timer_paused: true });
    expect((await request('PUT', `${sim.url}/reservations/v3/lab_session/${id}/resume`)).status).toBe(204);
    const forced = await request('PUT', `${sim.url}/reservations/v3/lab_session/${id}/force_user_finished`);
    expect(forced.body).toEqual({ result: 'LDS Session Part and LDS Session set user finished' });
    expect((await request('POST', `${sim.url}/reservations/v3/lab_session/${id}/release`, {})).status).toBe(204);
    expect((await request('POST', `${sim.url}/reservations/v3/lab_session/${id}/release`, {})).status).toBe(204);
    expect((await request('GET', `${sim.url}/reservations/v3/lab_session/${id}`)).body).toMatchObject({
      state: 'SESSION_FINALIZED',
      is_finalized: true,
      active_reservation: false,
    });
    const statuses = await request('GET', `${sim.url}/reservations/v3/lab_session/${id}/statuses`);
    expect(statuses.body.session_statuses.map((s: { new_status: string }) => s.new_status)).toEqual([
      'SESSION_PENDING',
      'SESSION_PROVISIONED',
      'SESSION_RUNNING',
      'SESSION_PAUSED',
      'SESSION_RUNNING',
      'SESSION_USER_FINISHED',
      'SESSION_FINALIZED',
    ]);

    await sim.idle();
    expect(sink.events.map((e) => e.event.type)).toEqual(['lds.session.started', 'lds.session.ended']);
    expect(sink.events[0]?.event.data).toMatchObject({ labletSessionId: 'ls-v3' });
  });

  it('the automatic student starts and finishes by itself after the configured delays', async () => {
    sim.configure({ autoStartMs: 5, autoFinishMs: 10 });
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-auto'));
    const received = await sink.waitForCount(2);
    expect(received.map((e) => e.event.type)).toEqual(['lds.session.started', 'lds.session.ended']);
    expect(received[1]?.event.data).toMatchObject({ reason: 'user_finished', ldsSessionId: created.body.id });
    expect(sim.view(created.body.id).status).toBe('ENDED');
  });

  it('the part timer expires a running session: lds.session.ended with reason timeout', async () => {
    sim.configure({ timeoutMs: 15 });
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-timeout'));
    await request('POST', `${sim.url}/_sim/sessions/${created.body.id}/start`);
    const received = await sink.waitForCount(1, 'lds.session.ended');
    expect(received.at(-1)?.event.data).toMatchObject({ reason: 'timeout', state: 'SESSION_TIMEOUT' });
    expect(sim.view(created.body.id).status).toBe('EXPIRED');
  });

  it('refuses invalid moves with 409 INVALID_TRANSITION naming both states', async () => {
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-bad'));
    const res = await request('POST', `${sim.url}/_sim/sessions/${created.body.id}/finish`);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'INVALID_TRANSITION', from: 'SESSION_PROVISIONED', to: 'SESSION_USER_FINISHED' });
    expect(res.body.error.message).toContain('SESSION_PROVISIONED');
    expect((await request('PUT', `${sim.url}/reservations/v3/lab_session/${created.body.id}/resume`)).status).toBe(409);
  });

  it('failCreate: the next N creations answer 500, then creation works again', async () => {
    const faults = await request('POST', `${sim.url}/_sim/faults`, { failCreate: 2 });
    expect(faults.body).toMatchObject({ failCreate: 2, sinkDown: false });
    for (let i = 0; i < 2; i++) {
      const res = await request('POST', `${sim.url}/reservations/v3/lab_session`, v3Session);
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('INJECTED_FAULT');
    }
    expect((await request('POST', `${sim.url}/sessions`, facadeBody('ls-after'))).status).toBe(201);
    expect(sim.faults.failCreate).toBe(0);
    expect(sim.state().sessions).toHaveLength(1);
  });

  it('a sink that is down for a while gets the events after retries, in order', async () => {
    sink.failNext(2, 503);
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-retry'));
    sim.sessions.start(created.body.id);
    sim.sessions.finish(created.body.id);
    await sim.idle();
    expect(sink.events.map((e) => e.event.type)).toEqual(['lds.session.started', 'lds.session.ended']);
    const { delivered, deadLetters, stats } = sim.state().delivery;
    expect(deadLetters).toEqual([]);
    expect(delivered.map((d) => d.attempts)).toEqual([3, 1]);
    expect(stats.failedAttempts).toBe(2);
  });

  it('sinkDown fault: injected failed attempts are retried, then delivered', async () => {
    await request('POST', `${sim.url}/_sim/faults`, { sinkDown: 2 });
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-down'));
    sim.sessions.start(created.body.id);
    await sim.idle();
    expect(sink.events).toHaveLength(1);
    expect(sink.requestCount).toBe(1);
    expect(sim.state().delivery.delivered[0]?.attempts).toBe(3);
    expect(sim.faults.sinkDown).toBe(false);
  });

  it('duplicate, reorder and drop faults over /_sim/faults: what the sink receives, and the counts in the state', async () => {
    const armed = await request('POST', `${sim.url}/_sim/faults`, { duplicate: 1, reorder: 1 });
    expect(armed.body).toMatchObject({ duplicate: 1, reorder: 1, drop: false });
    // reorder takes the first event (held), duplicate the second: ended, ended, then the held started.
    const a = await request('POST', `${sim.url}/sessions`, facadeBody('ls-faults'));
    sim.sessions.start(a.body.id);
    sim.sessions.finish(a.body.id);
    await sim.idle();
    expect(sink.events.map((e) => e.event.type)).toEqual(['lds.session.ended', 'lds.session.ended', 'lds.session.started']);
    expect(new Set(sink.events.slice(0, 2).map((e) => e.event.id)).size).toBe(1);

    await request('POST', `${sim.url}/_sim/faults`, { drop: true });
    const b = await request('POST', `${sim.url}/sessions`, facadeBody('ls-dropped'));
    sim.sessions.start(b.body.id);
    await sim.idle();
    expect(sink.events).toHaveLength(3);
    const state = await request('GET', `${sim.url}/_sim/state`);
    expect(state.body.faults).toMatchObject({ duplicate: false, reorder: false, drop: true });
    expect(state.body.delivery.stats).toMatchObject({ duplicated: 1, reordered: 1, dropped: 1, deadLettered: 0 });
    expect(state.body.delivery.dropped[0]).toMatchObject({ type: 'lds.session.started' });

    expect((await request('POST', `${sim.url}/_sim/faults`, { drop: -1 })).status).toBe(400);
    expect((await request('POST', `${sim.url}/_sim/faults`, { reorder: 'sometimes' })).status).toBe(400);
    await request('POST', `${sim.url}/_sim/reset`);
    expect(sim.faults).toMatchObject({ duplicate: false, reorder: false, drop: false });
  });

  it('a 4xx sink is not retried: the event is dead-lettered, visible in the state, and can be redelivered', async () => {
    sink.failNext(1, 400);
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-dead'));
    sim.sessions.start(created.body.id);
    await sim.idle();
    expect(sink.requestCount).toBe(1);
    const state = await request('GET', `${sim.url}/_sim/state`);
    expect(state.body.delivery.deadLetters).toHaveLength(1);
    expect(state.body.delivery.deadLetters[0]).toMatchObject({ attempts: 1, lastStatus: 400, event: { type: 'lds.session.started' } });
    expect(state.body.delivery.deadLetters[0].reason).toContain('400');

    const again = await request('POST', `${sim.url}/_sim/dead-letters/redeliver`, {});
    expect(again.body).toEqual({ requeued: 1 });
    await sim.idle();
    expect(sink.events.map((e) => e.event.type)).toEqual(['lds.session.started']);
    expect(sim.state().delivery.deadLetters).toEqual([]);
  });

  it('gives up after maxAttempts against a sink that keeps failing', async () => {
    sim.configure({ retry: { maxAttempts: 3 } });
    sink.failAll(502);
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-giveup'));
    sim.sessions.start(created.body.id);
    await sim.idle();
    expect(sink.requestCount).toBe(3);
    expect(sim.state().delivery.deadLetters[0]?.reason).toMatch(/gave up after 3 attempts: sink answered 502/);
  });

  it('the sink URL and the mode can change at run time', async () => {
    const other = await startTestSink();
    try {
      const res = await request('POST', `${sim.url}/_sim/config`, { sinkUrl: other.url, mode: 'structured', autoStartMs: 0 });
      expect(res.body).toMatchObject({ sinkUrl: other.url, mode: 'structured', autoStartMs: 0 });
      await request('POST', `${sim.url}/sessions`, facadeBody('ls-moved'));
      const received = await other.waitForCount(1);
      expect(received[0]?.mode).toBe('structured');
      expect(sink.events).toHaveLength(0);
    } finally {
      await other.close();
    }
  });

  it('the sink token can be set at run time; the state shows whether one is set, never the token', async () => {
    const TOKEN = 'lds-sink-token-0123456789abcdef';
    try {
      const res = await request('POST', `${sim.url}/_sim/config`, { sinkToken: TOKEN });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ sinkTokenSet: true });
      const state = await request('GET', `${sim.url}/_sim/state`);
      expect(state.body.config.sinkTokenSet).toBe(true);
      expect(state.body.delivery.sinkTokenSet).toBe(true);
      expect(JSON.stringify(state.body)).not.toContain(TOKEN);
      expect((await request('POST', `${sim.url}/_sim/config`, { sinkToken: 'has a space' })).status).toBe(400);
    } finally {
      expect((await request('POST', `${sim.url}/_sim/config`, { sinkToken: null })).body.sinkTokenSet).toBe(false);
    }
  });

  it('answers bad requests with 400 and a JSON error naming every problem', async () => {
    const missing = await request('POST', `${sim.url}/reservations/v3/lab_session`, { origin: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('BAD_USER_INPUT');
    const fields = missing.body.error.issues.map((i: { field: string }) => i.field);
    expect(fields).toEqual(expect.arrayContaining(['auth_id', 'candidate_id', 'scheduled_date', 'timezone_offset']));

    const notJson = await request('POST', `${sim.url}/sessions`, '{"labletSessionId":', { 'content-type': 'application/json' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.message).toMatch(/not valid JSON/);

    const wrongType = await request('POST', `${sim.url}/sessions`, 'owner=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(wrongType.status).toBe(415);

    const badDevices = await request('POST', `${sim.url}/sessions`, { ...facadeBody('x'), workerAddress: undefined, devices: [{ label: 'R1', protocol: 'ssh', port: 70000 }] });
    expect(badDevices.status).toBe(400);
    expect(badDevices.body.error.message).toMatch(/devices\.0\.host/);
    expect(badDevices.body.error.message).toMatch(/devices\.0\.port/);

    expect((await request('POST', `${sim.url}/_sim/faults`, { failEverything: true })).status).toBe(400);
    expect((await request('POST', `${sim.url}/_sim/config`, { sinkUrl: 'ftp://nowhere' })).status).toBe(400);
    expect((await request('POST', `${sim.url}/_sim/config`, { retry: { maxAttempts: 0 } })).status).toBe(400);
    expect((await request('GET', `${sim.url}/reservations/v3/lab_session`)).status).toBe(400);

    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-400'));
    const badPart = await request('GET', `${sim.url}/reservations/v3/lab_session/${created.body.id}/part/zero/devices`);
    expect(badPart.status).toBe(400);
    expect(badPart.body.error.field).toBe('part');
    expect((await request('GET', `${sim.url}/reservations/v3/lab_session/${created.body.id}/part/2`)).status).toBe(404);

    const unknown = await request('GET', `${sim.url}/sessions/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'LDS session nope not found' });
    expect((await request('GET', `${sim.url}/no/such/path`)).status).toBe(404);
    const wrongMethod = await request('PATCH', `${sim.url}/sessions`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
  });

  it('lists sessions by lablet session and status, and resets', async () => {
    const a = await request('POST', `${sim.url}/sessions`, facadeBody('ls-a'));
    await request('POST', `${sim.url}/sessions`, facadeBody('ls-b'));
    sim.sessions.start(a.body.id);
    expect((await request('GET', `${sim.url}/sessions?labletSessionId=ls-a`)).body.sessions.map((s: { id: string }) => s.id)).toEqual([a.body.id]);
    expect((await request('GET', `${sim.url}/sessions?status=active`)).body.sessions).toHaveLength(1);
    expect((await request('GET', `${sim.url}/sessions`)).body.sessions).toHaveLength(2);
    await sim.idle();
    expect((await request('POST', `${sim.url}/_sim/reset`)).body).toEqual({ reset: true });
    const state = sim.state();
    expect(state.sessions).toEqual([]);
    expect(state.delivery.delivered).toEqual([]);
  });

  it('serves /healthz and /metrics', async () => {
    expect((await request('GET', `${sim.url}/healthz`)).body).toEqual({ status: 'ok' });
    const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-metrics'));
    sim.sessions.start(created.body.id);
    await sim.idle();
    const metrics = await request('GET', `${sim.url}/metrics`);
    expect(metrics.body).toContain('lcm_sim_cloudevent_deliveries_total{simulator="lds",outcome="delivered"} 1');
  });
});

describe('LDS simulator with credentials', () => {
  it('requires HTTP Basic auth on the Reservations API when configured', async () => {
    const sim = await startLdsSimulator({ credentials: { username: 'lcm', password: 'secret' } });
    try {
      const url = `${sim.url}/reservations/v3/lab_session`;
      const denied = await request('POST', url, v3Session);
      expect(denied.status).toBe(401);
      expect(denied.body.error.code).toBe('UNAUTHENTICATED');
      const auth = { authorization: `Basic ${Buffer.from('lcm:secret').toString('base64')}` };
      expect((await request('POST', url, v3Session, auth)).status).toBe(200);
      // Without a sink, emitted events are dead-lettered, not lost silently.
      const created = await request('POST', `${sim.url}/sessions`, facadeBody('ls-nosink'));
      sim.sessions.start(created.body.id);
      await sim.idle();
      expect(sim.state().delivery.deadLetters[0]?.reason).toBe('no sink configured');
    } finally {
      await sim.close();
    }
  });
});
