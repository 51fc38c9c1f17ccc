import { describe, expect, it } from 'vitest';
import { run as runGrading } from '../grading/main.ts';
import { run as runLds } from '../lds/main.ts';
import { startGradingSimulator } from '../grading/index.ts';
import { startLdsSimulator } from '../lds/index.ts';
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
      expect((await request('GET', `${url}/_sim/state`)).body.config.sinkUrl).toBe(sink.url);
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
  });
});
