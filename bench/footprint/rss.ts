/**
 * Resident memory of `npm start` (`node bin/lcm.js up`: subgraphs, gateway, simulators and the three
 * controllers in one process) as a child with its own working directory and free ports, measured over
 * its whole process tree: idle; after creating sessions through the public API; with graphql-ws
 * subscribers to `sessionUpdated` (cross-subgraph fields) open on top.
 *
 * The sessions' definition asks for more CPU than any seeded worker template offers, so they stay
 * PENDING (UNPLACEABLE) with the controllers running: no worker is launched, and the memory measured
 * is the sessions themselves plus what the controllers keep of them (the scheduler lists every PENDING
 * session each cycle), not simulated CML labs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { data, subscribe, type Subscription } from '../../test/support/gateway-client.ts';
import { LAB_YAML } from '../../test/support/subgraph-harness.ts';
import { freePort, residentMiB, startProcess, waitUntil, type BenchProcess } from '../support/processes.ts';
import { pool } from './pool.ts';

const ADMIN = 'footprint-bench-admin-token-0123456789';

export interface RssSample {
  state: string;
  rssMiB: number;
  /** Sessions or subscribers added since the previous state. */
  added: number;
  unit: 'session' | 'subscriber' | null;
  ms: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Median of a few readings a second apart, after `settleMs` (lets the event loop and GC calm down). */
async function settledRss(proc: BenchProcess, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = residentMiB(proc.child.pid);
    if (r === undefined) throw new Error(`cannot read the RSS of ${proc.label} (Linux /proc only)`);
    readings.push(r);
    await sleep(400);
  }
  return readings.sort((a, b) => a - b)[2]!;
}

export async function measureRss(options: { sessions: number; subscribers: number; concurrency: number; settleMs: number }): Promise<RssSample[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcm-footprint-'));
  const port = await freePort();
  const cmlPort = await freePort();
  const root = path.resolve(import.meta.dirname, '../..');
  const proc = startProcess('lcm up', process.execPath, [path.join(root, 'bin/lcm.js'), 'up'], {
    cwd: dir,
    env: { LCM_GATEWAY_PORT: String(port), LCM_SIM_CML_PORT: String(cmlPort), LCM_ADMIN_TOKEN: ADMIN, LCM_LOG_LEVEL: 'error' },
  });
  const subscriptions: Array<Subscription<unknown>> = [];
  const publicUrl = `http://127.0.0.1:${port}/graphql`;
  const internalUrl = `http://127.0.0.1:${port}/internal/graphql`;
  try {
    await waitUntil(proc, async () => (await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: '{"query":"{ sessions { totalCount } }"}' })).ok, 120_000);
    const samples: RssSample[] = [];
    const t0 = performance.now();
    samples.push({ state: 'idle (started, nothing created)', rssMiB: await settledRss(proc, options.settleMs), added: 0, unit: null, ms: performance.now() - t0 });

    const t1 = performance.now();
    const definition = await data<{ createDefinition: { id: string } }>(publicUrl, ADMIN, `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`, {
      // 100 cores: more than the largest seeded template (metal, 48), so the sessions stay PENDING.
      input: { name: 'footprint-unplaceable', version: '1.0.0', labYaml: LAB_YAML, resourceRequirements: { cpuCores: 100, memoryGb: 8, storageGb: 8, nodeCount: 2 }, portTemplate: [{ name: 'console', protocol: 'serial' }] },
    });
    const ids: string[] = [];
    await pool(options.sessions, options.concurrency, async (i) => {
      const s = await data<{ createSession: { id: string } }>(publicUrl, ADMIN, `mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`, {
        input: { definitionId: definition.createDefinition.id, owner: `student-${i % 500}` },
      });
      ids.push(s.createSession.id);
    });
    const created = performance.now() - t1;
    samples.push({ state: `${options.sessions} sessions (PENDING, unplaceable; controllers on)`, rssMiB: await settledRss(proc, options.settleMs), added: options.sessions, unit: 'session', ms: created });

    const t2 = performance.now();
    const wsUrl = `ws://127.0.0.1:${port}/graphql`;
    const query = `subscription { sessionUpdated { id status owner definition { name version } worker { name } } }`;
    for (let i = 0; i < options.subscribers; i += 50) {
      const batch = Array.from({ length: Math.min(50, options.subscribers - i) }, () => subscribe(wsUrl, ADMIN, query));
      subscriptions.push(...batch);
      await Promise.all(batch.map((s) => s.connected));
    }
    // graphql-ws does not acknowledge a subscription: nudge a session until every subscriber saw an event.
    const deadline = Date.now() + 120_000;
    const probe = ids[0]!;
    while (subscriptions.some((s) => s.events.length === 0)) {
      if (Date.now() > deadline) throw new Error(`${subscriptions.filter((s) => s.events.length === 0).length} of ${subscriptions.length} subscribers saw no event`);
      await data(internalUrl, ADMIN, `mutation($id: ID!) { recordPipelineProgress(id: $id, pipeline: "footprint", progress: {n: 1}) { id } }`, { id: probe });
      await sleep(500);
    }
    const subscribed = performance.now() - t2;
    const errors = subscriptions.flatMap((s) => s.events).filter((e) => (e as { errors?: unknown[] }).errors?.length);
    if (errors.length) throw new Error(`subscription errors: ${JSON.stringify(errors[0])}`);
    samples.push({ state: `+ ${options.subscribers} sessionUpdated subscribers (graphql-ws, one connection each)`, rssMiB: await settledRss(proc, options.settleMs), added: options.subscribers, unit: 'subscriber', ms: subscribed });
    return samples;
  } finally {
    await Promise.all(subscriptions.map((s) => s.close().catch(() => undefined)));
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
