import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseExternalEvent, type GradingSessionCompletedData } from '../../core/events/external-events.ts';
import { eventually } from '../../test/support/eventually.ts';
import { startTestSink, type TestSink } from '../../test/support/simulators/event-sink.ts';
import { request } from '../../test/support/simulators/http-client.ts';
import { startGradingSimulator, type GradingSimulator } from './index.ts';

const FAST_RETRY = { initialDelayMs: 5, maxDelayMs: 20, multiplier: 2, maxAttempts: 4 };

const gradingRequest = (labletSessionId: string, ruleset?: string) => ({
  labletSessionId,
  ...(ruleset ? { ruleset } : {}),
  ldsSessionId: 'lds-1',
  workerAddress: '10.0.0.5',
  devices: [
    { label: 'R1', protocol: 'telnet', host: '10.0.0.5', port: 2001 },
    { label: 'R2', protocol: 'ssh', port: 2002 },
  ],
});

const pod = {
  id: 'pod-1',
  devices: [
    {
      label: 'R1',
      hostname: 'r1',
      collector: 'lcm',
      interfaces: [{ name: 'console-R1', protocol: 'telnet', host: '10.0.0.5', port: 2001, authentication: { scheme: 'none' } }],
    },
  ],
};

describe('grading simulator', () => {
  let sink: TestSink;
  let sim: GradingSimulator;

  beforeEach(async () => {
    sink = await startTestSink();
    sim = await startGradingSimulator({ sinkUrl: sink.url, retry: FAST_RETRY, gradingDelayMs: 10 });
  });
  afterEach(async () => {
    await sim.close();
    await sink.close();
  });

  describe.each(['binary', 'structured'] as const)('%s mode', (mode) => {
    it('a grading request ends in grading.session.completed with a score report whose sections add up to the score', async () => {
      sim.configure({ mode });
      const created = await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-1'));
      expect(created.status).toBe(202);
      expect(created.body).toMatchObject({ labletSessionId: 'ls-1', partId: 'default', status: 'GRADING', state: 'grading', podId: 'ls-1', scoreReport: null });
      const id = created.body.id as string;

      const [received] = await sink.waitForCount(1, 'grading.session.completed');
      expect(received?.mode).toBe(mode);
      const parsed = parseExternalEvent(received!.event);
      expect(parsed.event).toMatchObject({ source: 'grading-engine', subject: id, type: 'grading.session.completed' });
      const data = parsed.data as GradingSessionCompletedData;
      expect(data).toMatchObject({ gradingSessionId: id, labletSessionId: 'ls-1', partId: 'default', podId: 'ls-1', status: 'locked' });
      const report = data.scoreReport;
      expect(report.sections.map((s) => s.name)).toEqual(['Configuration', 'Verification', 'Troubleshooting']);
      expect(report.sections.reduce((sum, s) => sum + s.score, 0)).toBe(report.score);
      expect(report.maxScore).toBe(100);
      expect(report.cutScore).toBe(70);
      expect(report.passed).toBe(report.score >= 70);
      expect(Date.parse(report.submittedAt)).toBeGreaterThanOrEqual(Date.parse(report.gradedAt));

      const v1 = await request('GET', `${sim.url}/api/v1/sessions/${id}`);
      expect(v1.body.parts[0].pod.devices[1]).toEqual({
        label: 'R2',
        hostname: 'R2',
        collector: 'lcm',
        interfaces: [{ name: 'ssh-R2', protocol: 'ssh', host: '10.0.0.5', port: 2002 }],
      });
      const after = await request('GET', `${sim.url}/grading-sessions/${id}`);
      expect(after.body).toMatchObject({ status: 'SUBMITTED', state: 'locked', scoreReport: { score: report.score } });
    });
  });

  it('scores deterministically from the seed: the same lablet session gets the same report', async () => {
    const first = await startGradingSimulator({ gradingDelayMs: 0, seed: 'exam-42' });
    const second = await startGradingSimulator({ gradingDelayMs: 0, seed: 'exam-42' });
    try {
      for (const s of [first, second]) await request('POST', `${s.url}/grading-sessions`, gradingRequest('ls-same'));
      await eventually('both gradings', () => [first, second].every((s) => s.state().sessions[0]?.status === 'SUBMITTED'), { timeoutMs: 5_000 });
      const [a, b] = [first, second].map((s) => s.state().sessions[0]?.scoreReport);
      expect(a?.sections).toEqual(b?.sections);
      expect(a?.score).toBe(b?.score);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('applies the configured ruleset and outcome', async () => {
    await request('POST', `${sim.url}/_sim/config`, {
      outcome: 'fail',
      rulesets: { 'Exam CCNA LAB 1.0': { version: '2.1', sections: [{ name: 'Routing', maxScore: 60, weight: 2 }, { name: 'Switching', maxScore: 40 }], cutScore: 80 } },
    });
    await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-rules', 'Exam CCNA LAB 1.0'));
    const [received] = await sink.waitForCount(1);
    const report = (received?.event.data as GradingSessionCompletedData).scoreReport;
    expect(report).toMatchObject({ maxScore: 100, cutScore: 80, passed: false });
    expect(report.sections.map(({ name, maxScore, weight }) => ({ name, maxScore, weight }))).toEqual([
      { name: 'Routing', maxScore: 60, weight: 2 },
      { name: 'Switching', maxScore: 40, weight: 1 },
    ]);
    expect(report.score).toBeLessThan(80);
  });

  it('failGrading fault: the grading ends in grading.session.failed with the reason', async () => {
    const faults = await request('POST', `${sim.url}/_sim/faults`, { failGrading: 1, failReason: 'collector lost the console' });
    expect(faults.body).toMatchObject({ failGrading: 1, failReason: 'collector lost the console' });
    const created = await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-fail'));
    const [received] = await sink.waitForCount(1);
    expect(received?.event.type).toBe('grading.session.failed');
    expect(parseExternalEvent(received!.event).data).toMatchObject({
      gradingSessionId: created.body.id,
      labletSessionId: 'ls-fail',
      partId: 'default',
      reason: 'collector lost the console',
    });
    expect(sim.view(created.body.id)).toMatchObject({ status: 'FAULTED', state: 'faulted', statusReason: 'collector lost the console' });
    expect(sim.faults.failGrading).toBe(false);

    // Grading a faulted part again works (the fault was used up).
    expect((await request('POST', `${sim.url}/api/v1/sessions/${created.body.id}/parts/default/grade`)).status).toBe(202);
    await sink.waitForCount(1, 'grading.session.completed');
  });

  it('duplicate and drop faults: a completed event sent twice (one id), then one lost for good', async () => {
    expect((await request('POST', `${sim.url}/_sim/faults`, { duplicate: 1 })).body).toMatchObject({ duplicate: 1, drop: false });
    await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-dup'));
    const twice = await sink.waitForCount(2, 'grading.session.completed');
    expect(twice[0]?.event.id).toBe(twice[1]?.event.id);

    await request('POST', `${sim.url}/_sim/faults`, { drop: 1 });
    const lost = await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-lost'));
    await eventually('the grading to end', () => sim.view(lost.body.id).status === 'SUBMITTED', { timeoutMs: 5_000 });
    await sim.idle();
    expect(sink.events).toHaveLength(2);
    expect(sim.state().delivery.stats).toMatchObject({ duplicated: 1, dropped: 1, deadLettered: 0 });
    expect(sim.faults).toMatchObject({ duplicate: false, drop: false, reorder: false });
  });

  it('slowGradingMs fault delays the result; the test control completes it at once', async () => {
    await request('POST', `${sim.url}/_sim/faults`, { slowGradingMs: 60_000 });
    const created = await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-slow'));
    // Positive signal first: a grading started later without the fault completes; the slow one has not.
    await request('POST', `${sim.url}/_sim/faults`, { slowGradingMs: 0 });
    const fast = await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-fast'));
    await sink.waitForCount(1, 'grading.session.completed');
    expect(sink.events.map((e) => e.event.subject)).toEqual([fast.body.id]);
    expect(sim.view(created.body.id).status).toBe('GRADING');
    const completed = await request('POST', `${sim.url}/_sim/grading-sessions/${created.body.id}/complete`, {});
    expect(completed.body).toMatchObject({ status: 'SUBMITTED' });
    const events = await sink.waitForCount(2, 'grading.session.completed');
    expect(events.map((e) => e.event.subject)).toEqual([fast.body.id, created.body.id]);
  });

  it('the fail test control faults a grading in progress', async () => {
    sim.configure({ gradingDelayMs: 60_000 });
    const created = await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-ctl'));
    const failed = await request('POST', `${sim.url}/_sim/grading-sessions/${created.body.id}/fail`, { reason: 'proctor voided the attempt' });
    expect(failed.body).toMatchObject({ status: 'FAULTED', statusReason: 'proctor voided the attempt' });
    const [received] = await sink.waitForCount(1, 'grading.session.failed');
    expect(received?.event.data).toMatchObject({ reason: 'proctor voided the attempt' });
  });

  it('serves the Grading Engine API v1: create with a part and pod, grade (202), review, submit', async () => {
    sim.configure({ autoSubmit: false, gradingDelayMs: 0 });
    const created = await request('POST', `${sim.url}/api/v1/sessions`, {
      id: 'ls-v1',
      candidateId: 'student-1',
      lds: { id: 'lds-9', environment: 'prod' },
      parts: [{ id: 'Exam CCNA LAB 1.0' }],
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ id: 'ls-v1', candidateId: 'student-1', status: 'created', labletSessionId: 'ls-v1', parts: [{ id: 'Exam CCNA LAB 1.0', status: 'created', pod: null }] });
    const part = `${sim.url}/api/v1/sessions/ls-v1/parts/${encodeURIComponent('Exam CCNA LAB 1.0')}`;

    const noPod = await request('POST', `${part}/grade`);
    expect(noPod.status).toBe(409);
    expect(noPod.headers.get('content-type')).toContain('application/problem+json');
    expect(noPod.body).toMatchObject({ status: 409, title: 'Conflict', code: 'CONFLICT' });
    expect(noPod.body.detail).toContain('has no pod');

    expect((await request('PUT', `${part}/pod`, pod)).body.parts[0].pod).toEqual(pod);
    expect((await request('POST', `${part}/grade`)).status).toBe(202);
    await eventually('the part to be graded', () => sim.view('ls-v1').state === 'reviewing', { timeoutMs: 5_000 });
    const reviewing = await request('GET', `${sim.url}/api/v1/sessions/ls-v1`);
    expect(reviewing.body.status).toBe('reviewing');
    const report = reviewing.body.parts[0].scoreReport;
    expect(report).toMatchObject({ generation: 1, maxScore: 100, gradingRulesetVersion: '1.0' });
    expect(reviewing.body.parts[0].firstGraded).not.toBeNull();
    expect(sink.events).toHaveLength(0);

    const submitted = await request('POST', `${part}/submit`);
    expect(submitted.body.parts[0]).toMatchObject({ status: 'locked' });
    expect((await request('POST', `${part}/submit`)).status).toBe(409);
    expect((await request('POST', `${part}/grade`)).status).toBe(409);
    const [received] = await sink.waitForCount(1);
    expect(received?.event.data).toMatchObject({ labletSessionId: 'ls-v1', podId: 'pod-1', scoreReport: { score: report.score } });

    expect((await request('POST', `${sim.url}/api/v1/sessions`, { id: 'ls-v1', candidateId: 'student-1' })).status).toBe(409);
    const added = await request('POST', `${sim.url}/api/v1/sessions/parts`, { sessionId: 'ls-v1', part: { id: 'second-part' } });
    expect(added.body.parts.map((p: { id: string }) => p.id)).toEqual(['Exam CCNA LAB 1.0', 'second-part']);
    const removed = await request('DELETE', `${sim.url}/api/v1/sessions/ls-v1/parts/second-part`);
    expect(removed.body.parts).toHaveLength(1);
  });

  it('exposes the ruleset and accepts scoring requirements (cut score) per part', async () => {
    const rules = await request('GET', `${sim.url}/api/v1/sessions/parts/default/ruleset/grading/rules`);
    expect(rules.body).toMatchObject({ id: 'default', scoring: { cutScore: 70 } });
    expect(rules.body.grading.ruleset.sections.map((s: { points: number }) => s.points)).toEqual([40, 30, 30]);
    const put = await request('PUT', `${sim.url}/api/v1/sessions/parts/ruleset/scoring`, {
      partId: 'default',
      scoringRequirements: { cutScore: 50, minScore: 0, rereadScore: 45 },
    });
    expect(put.status).toBe(204);
    await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-cut'));
    const [received] = await sink.waitForCount(1);
    expect((received?.event.data as GradingSessionCompletedData).scoreReport.cutScore).toBe(50);
    const tooHigh = await request('PUT', `${sim.url}/api/v1/sessions/parts/ruleset/scoring`, {
      partId: 'default',
      scoringRequirements: { cutScore: 500, minScore: 0, rereadScore: 0 },
    });
    expect(tooHigh.status).toBe(400);
    expect(tooHigh.body.detail).toContain('above the ruleset');
  });

  it('failCreate fault answers 500 for the next N creations', async () => {
    await request('POST', `${sim.url}/_sim/faults`, { failCreate: 1 });
    const failed = await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-500'));
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ status: 500, code: 'INJECTED_FAULT' });
    expect((await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-500'))).status).toBe(202);
  });

  it('a sink down for a while gets the result after retries; a 4xx sink gets it once, then dead-lettered', async () => {
    sink.failNext(2, 503);
    await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-retry'));
    await sink.waitForCount(1);
    await sim.idle();
    expect(sim.state().delivery.delivered[0]?.attempts).toBe(3);

    sink.failNext(1, 404);
    await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-dead'));
    await eventually('the dead letter', () => sim.state().delivery.deadLetters.length === 1, { timeoutMs: 5_000 });
    const { deadLetters } = (await request('GET', `${sim.url}/_sim/state`)).body.delivery;
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ attempts: 1, lastStatus: 404, event: { type: 'grading.session.completed' } });
    expect(sink.events).toHaveLength(1);
  });

  it('answers bad requests with 400 ProblemDetails listing the fields', async () => {
    const bad = await request('POST', `${sim.url}/api/v1/sessions`, { candidateId: 'ab', parts: [{ id: 'x' }] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: 400, title: 'Bad Request', code: 'BAD_USER_INPUT' });
    expect(Object.keys(bad.body.errors)).toEqual(['candidateId', 'parts.0.id']);

    const badPod = await request('POST', `${sim.url}/grading-sessions`, { labletSessionId: 'x', pod: { id: 'p', devices: [{ label: 'R1' }] } });
    expect(badPod.status).toBe(400);
    expect(Object.keys(badPod.body.errors)).toEqual(expect.arrayContaining(['pod.devices.0.hostname', 'pod.devices.0.interfaces']));

    expect((await request('POST', `${sim.url}/grading-sessions`, {})).body.errors).toHaveProperty('labletSessionId');
    const noHost = await request('POST', `${sim.url}/grading-sessions`, { labletSessionId: 'x', devices: [{ label: 'R1', protocol: 'ssh' }] });
    expect(noHost.body.errors).toEqual({ 'devices.0.host': ['a device needs a host when workerAddress is not given'] });
    expect((await request('POST', `${sim.url}/_sim/config`, { outcome: 'maybe' })).status).toBe(400);
    const badRuleset = await request('POST', `${sim.url}/_sim/config`, { rulesets: { x: { sections: [{ name: 'a', maxScore: 10 }], cutScore: 20 } } });
    expect(badRuleset.status).toBe(400);
    expect(badRuleset.body.detail).toContain('cutScore must be between 0 and the total');
    const unknown = await request('GET', `${sim.url}/api/v1/sessions/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toBe('grading session nope not found');
  });

  it('lists grading sessions by lablet session and status', async () => {
    sim.configure({ gradingDelayMs: 60_000 });
    await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-x'));
    await request('POST', `${sim.url}/grading-sessions`, gradingRequest('ls-y'));
    expect((await request('GET', `${sim.url}/grading-sessions?labletSessionId=ls-x`)).body.sessions).toHaveLength(1);
    expect((await request('GET', `${sim.url}/grading-sessions?status=grading`)).body.sessions).toHaveLength(2);
    expect((await request('GET', `${sim.url}/grading-sessions?status=SUBMITTED`)).body.sessions).toHaveLength(0);
  });
});
