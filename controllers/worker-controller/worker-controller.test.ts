import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../kit/role.ts';
import { startHarness, type Harness } from '../../test/support/controller-harness.ts';
import { eventually } from '../../test/support/eventually.ts';
import { data } from '../../test/support/gateway-client.ts';
import { createWorkerController } from './index.ts';

const WORKER = `id status desiredStatus statusReason ec2InstanceId ipAddress instanceType amiId cmlVersion nodeDefinitions licenseType licenseStatus
  declaredCapacity { cpuCores memoryGb storageGb maxNodes } systemStats idleSince revision`;

interface Worker {
  id: string;
  status: string;
  desiredStatus: string;
  statusReason: string | null;
  ec2InstanceId: string | null;
  ipAddress: string | null;
  instanceType: string | null;
  amiId: string | null;
  cmlVersion: string | null;
  nodeDefinitions: string[];
  licenseType: string | null;
  licenseStatus: string | null;
  declaredCapacity: { cpuCores: number; memoryGb: number; storageGb: number; maxNodes: number };
  systemStats: { observedAt?: string } | null;
  idleSince: string | null;
  revision: number;
}

describe('worker-controller against the system', () => {
  let h: Harness;
  const running: RunningController[] = [];

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await Promise.all(running.map((c) => c.stop()));
    await h?.stop();
  });

  const request = async (templateName: string, requestKey?: string): Promise<string> =>
    (await data<{ requestWorker: { id: string } }>(h.internalUrl, h.token, `mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { id } }`, {
      input: { templateName, ...(requestKey ? { requestKey } : {}) },
    })).requestWorker.id;
  const worker = async (id: string): Promise<Worker> =>
    (await data<{ worker: Worker }>(h.internalUrl, h.token, `query($id: ID!) { worker(id: $id) { ${WORKER} } }`, { id })).worker;

  it('brings a requested worker to RUNNING with an instance, an address, capacity and the CML version', async () => {
    const c = await startController('worker-controller', createWorkerController({ pollMs: 50 }), await h.deps('worker-controller'), { port: 0 });
    running.push(c);
    const id = await request('metal');
    const w = await eventually('worker RUNNING', async () => {
      const w = await worker(id);
      return w.status === 'RUNNING' ? w : undefined;
    });
    expect(w.ec2InstanceId).toMatch(/^i-/);
    expect(w.ipAddress).toMatch(/^127\./);
    expect(w.cmlVersion).toBeTruthy();
    expect(w.nodeDefinitions.length).toBeGreaterThan(0);
    expect(w.systemStats?.observedAt).toBeTruthy();
    const instance = h.system.simulators!.ec2.instance(w.ec2InstanceId!);
    expect(instance?.state).toBe('running');
  });
});
