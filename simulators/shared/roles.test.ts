import { describe, expect, it } from 'vitest';
import { run as runGrading } from '../grading/main.ts';
import { run as runLds } from '../lds/main.ts';
import { startGradingSimulator } from '../grading/index.ts';
import { startLdsSimulator } from '../lds/index.ts';
import { simulatorRoleOptions } from './role-options.ts';
import { createMetricsRegistry } from '../../core/ops/ops-server.ts';
import { request } from '../../test/support/simulators/http-client.ts';
import { startTestSink } from '../../test/support/simulators/event-sink.ts';

describe('lcm sim lds|grading role modules', () => {
  it.each([
    ['lds', runLds, '/sessions'],
    ['grading', runGrading, '/grading-sessions'],
  ] as const)('%s: run() serves on the given port with the --sink option and stops cleanly', async (_name, run, listPath) => {
    const sink = await startTestSink();
    const previous = process.env.LCM_LOG_LEVEL;
    process.env.LCM_LOG_LEVEL = 'silent';
    const role = await run({ port: 0, sink: sink.url });
    try {
      const url = role.banner?.[0]?.match(/http:\/\/[\d.]+:\d+/)?.[0] as string;
      expect(url).toBeDefined();
      expect((await request('GET', `${url}${listPath}`)).body).toEqual({ sessions: [] });
      expect((await request('GET', `${url}/_sim/state`)).body.config).toMatchObject({ sinkUrl: sink.url, sinkTokenSet: true });
    } finally {
      await role.stop();
      await sink.close();
      if (previous === undefined) delete process.env.LCM_LOG_LEVEL;
      else process.env.LCM_LOG_LEVEL = previous;
    }
  });

  it('both simulators embed in one process and can share one metrics registry', async () => {
    const registry = createMetricsRegistry(false);
    const lds = await startLdsSimulator({ registry });
    const grading = await startGradingSimulator({ registry });
    try {
      const metrics = await request('GET', `${grading.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(lds.port).not.toBe(grading.port);
    } finally {
      await Promise.all([lds.close(), grading.close()]);
    }
  });

  it('refuses a bad --sink URL before listening', async () => {
    await expect(runLds({ port: 0, sink: 'not a url' })).rejects.toThrow(/sink URL "not a url" is not a valid URL/);
    await expect(runGrading({ port: 0, sink: 'http://127.0.0.1:9/events', sinkToken: 'two words' })).rejects.toThrow(/--sink-token/);
  });

  it('--sink-token is sent to the sink; without it the events token of the configuration; without a sink none', () => {
    const fallback = () => 'derived-events-token-0123456789';
    expect(simulatorRoleOptions({ sink: 'http://127.0.0.1:4012/events', sinkToken: 'given-token-0123456789abcdef' }, 1, fallback)).toMatchObject({ sinkToken: 'given-token-0123456789abcdef' });
    expect(simulatorRoleOptions({ sink: 'http://127.0.0.1:4012/events' }, 1, fallback)).toMatchObject({ sinkUrl: 'http://127.0.0.1:4012/events', sinkToken: 'derived-events-token-0123456789' });
    expect(simulatorRoleOptions({}, 1, () => {
      throw new Error('not resolved without a sink');
    })).toMatchObject({ sinkUrl: null, sinkToken: null });
  });
});
