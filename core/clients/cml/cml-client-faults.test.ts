/**
 * The CML client against the simulator's injected faults: a node that never boots, 502 while the
 * controller warms up, token expiry mid-run, a slow wipe, a rejected start, connection failures and
 * cancellation.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startCmlSimulator, type CmlSimulator, type CmlSimulatorOptions } from '../../../simulators/cml/index.ts';
import { MIXED_LAB_YAML, TWO_ROUTERS_YAML } from '../../../test/support/simulators/cml-fixtures.ts';
import { CmlClient, type CmlClientOptions } from './client.ts';
import { CmlApiError, CmlConnectionError, CmlNotConvergedError } from './errors.ts';

let sim: CmlSimulator | undefined;
const clients: CmlClient[] = [];

async function setup(
  simOptions: CmlSimulatorOptions = {},
  clientOptions: Partial<CmlClientOptions> = {},
): Promise<{ sim: CmlSimulator; client: CmlClient }> {
  sim = await startCmlSimulator({ bootMs: 60, ...simOptions });
  const client = new CmlClient({
    baseUrl: sim.url,
    username: 'admin',
    password: 'admin',
    retry: { baseDelayMs: 5, maxDelayMs: 40, retries: 10 },
    ...clientOptions,
  });
  clients.push(client);
  return { sim, client };
}

const wait = { timeoutMs: 5_000, intervalMs: 20 };

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sim?.close();
  sim = undefined;
});

describe('node never boots', () => {
  it('keeps the node STARTED/"Booting" and waitForConverged times out naming it', async () => {
    const { sim, client } = await setup();
    sim.faults.neverBoot({ label: 'r2' });
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    await client.startLab(id);
    const error = await client.waitForConverged(id, { timeoutMs: 300, intervalMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmlNotConvergedError);
    const notConverged = error as CmlNotConvergedError;
    expect(notConverged.labId).toBe(id);
    expect(notConverged.pendingNodes).toEqual([expect.objectContaining({ label: 'r2', state: 'STARTED' })]);
    expect(notConverged.message).toContain('did not converge within 300 ms; nodes not converged: r2 (STARTED)');
    const nodes = await client.listNodes(id);
    expect(nodes.map((n) => [n.label, n.state, n.boot_progress])).toEqual([
      ['r1', 'BOOTED', 'Booted'],
      ['r2', 'STARTED', 'Booting'],
    ]);
    // The stuck lab can still be torn down.
    await client.teardownLab(id, wait);
    expect(await client.listLabs()).toEqual([]);
  });

  it('can target a node definition, and is switchable over HTTP', async () => {
    const { sim, client } = await setup();
    const response = await fetch(`${sim.url}/_sim/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ neverBoot: { nodeDefinitions: ['alpine'] } }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ neverBoot: { labels: [], nodeDefinitions: ['alpine'] } });
    const { id } = await client.importLab(MIXED_LAB_YAML);
    await client.startLab(id);
    const error = (await client.waitForConverged(id, { timeoutMs: 250, intervalMs: 20 }).catch((e: unknown) => e)) as CmlNotConvergedError;
    expect(error).toBeInstanceOf(CmlNotConvergedError);
    expect(error.pendingNodes.map((n) => n.label)).toEqual(['host']);
  });
});

describe('controller warming up (502)', () => {
  it('retries 502 answers and succeeds once the controller is up (N requests)', async () => {
    const { sim, client } = await setup({ warmUp: { requests: 4 } });
    expect(sim.faults.snapshot().warmUp).toMatchObject({ active: true, remainingRequests: 4 });
    await expect(client.listLabs()).resolves.toEqual([]);
    expect(sim.faults.snapshot().warmUp.active).toBe(false);
  });

  it('reports not ready during the first N milliseconds, then waitForSystemReady resolves', async () => {
    const { client } = await setup({ warmUp: { ms: 250 } });
    expect(await client.isSystemReady()).toBe(false);
    expect((await client.systemInformation()).ready).toBe(false);
    await client.waitForSystemReady({ timeoutMs: 5_000, intervalMs: 20 });
    expect(await client.isSystemReady()).toBe(true);
    await expect(client.listLabs()).resolves.toEqual([]);
  });

  it('gives up after its retries with a 502 CmlApiError describing the proxy error', async () => {
    const { sim, client } = await setup({}, { retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    sim.faults.warmUp();
    const error = await client.listLabs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmlApiError);
    expect(error).toMatchObject({ status: 502, code: 502, description: '502 Bad Gateway' });
    expect((error as CmlApiError).isNotReady).toBe(true);
    sim.faults.endWarmUp();
    await expect(client.listLabs()).resolves.toEqual([]);
  });

  it('retries 503 but never a 4xx (counted on a stub server)', async () => {
    const http = await import('node:http');
    const statuses = [503, 503, 200, 409];
    let hits = 0;
    const stub = http.createServer((req, res) => {
      const status = statuses[Math.min(hits++, statuses.length - 1)]!;
      const body = status === 200 ? '{"version":"2.9.1","ready":true}' : JSON.stringify({ code: status, description: `status ${status}` });
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    const port = (stub.address() as { port: number }).port;
    const client = new CmlClient({ baseUrl: `http://127.0.0.1:${port}`, username: 'a', password: 'b', retry: { retries: 5, baseDelayMs: 1, maxDelayMs: 2 } });
    clients.push(client);
    try {
      await expect(client.systemInformation()).resolves.toMatchObject({ ready: true });
      expect(hits).toBe(3);
      const error = await client.systemInformation().catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 409, code: 409, description: 'status 409' });
      expect(hits).toBe(4);
    } finally {
      await client.close();
      stub.closeAllConnections();
      await new Promise<void>((resolve) => stub.close(() => resolve()));
    }
  });
});

describe('token expiry mid-run', () => {
  it('survives revoked tokens in the middle of start → converge → teardown', async () => {
    const { sim, client } = await setup({ bootMs: 120 });
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    await client.startLab(id);
    sim.faults.expireTokens();
    await client.waitForConverged(id, wait);
    sim.faults.expireTokens();
    await client.teardownLab(id, wait);
    expect(await client.listLabs()).toEqual([]);
  });

  it('answers 401 with CML description to a request with a revoked token', async () => {
    const { sim, client } = await setup();
    const token = await client.authenticate();
    sim.faults.expireTokens();
    const response = await fetch(`${sim.url}/api/v0/labs`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ code: 401, description: 'Authorization token has expired or was revoked.' });
  });
});

describe('slow wipe', () => {
  it('keeps the lab unconverged while wiping: delete is refused until the wipe completes', async () => {
    const { sim, client } = await setup();
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    await client.startLab(id);
    await client.waitForConverged(id, wait);
    await client.stopLab(id);
    await client.waitForConverged(id, wait);
    sim.faults.slowWipe(300);
    await client.wipeLab(id);
    expect(await client.checkIfConverged(id)).toBe(false);
    const early = await client.deleteLab(id).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(CmlApiError);
    expect((early as CmlApiError).description).toContain('being wiped');
    await client.waitForConverged(id, wait);
    await client.deleteLab(id);
    expect(await client.listLabs()).toEqual([]);
  });
});

describe('other failures', () => {
  it('rejects a start with 400 "Cannot start lab" when told to', async () => {
    const { sim, client } = await setup();
    sim.faults.rejectStart();
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    const error = await client.startLab(id).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400 });
    expect((error as CmlApiError).description).toMatch(/^Cannot start lab/);
    expect(await client.labState(id)).toBe('DEFINED_ON_CORE');
  });

  it('retries connection failures, then reports CmlConnectionError', async () => {
    const { sim, client } = await setup({}, { retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    await sim.close();
    const error = await client.listLabs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmlConnectionError);
    expect((error as CmlConnectionError).reason).toContain('ECONNREFUSED');
  });

  it('times out a request that gets no answer', async () => {
    const net = await import('node:net');
    const sockets = new Set<Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const client = new CmlClient({ baseUrl: `http://127.0.0.1:${port}`, username: 'a', password: 'b', timeoutMs: 100, retry: { retries: 0 } });
    clients.push(client);
    try {
      const error = await client.systemInformation().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CmlConnectionError);
      expect((error as CmlConnectionError).reason).toBe('no answer within 100 ms');
    } finally {
      await client.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('stops waiting when the caller aborts', async () => {
    const { sim, client } = await setup();
    sim.faults.neverBoot({ label: 'r1' });
    const { id } = await client.importLab(TWO_ROUTERS_YAML);
    await client.startLab(id);
    const controller = new AbortController();
    const waiting = client.waitForConverged(id, { timeoutMs: 60_000, intervalMs: 20, signal: controller.signal });
    controller.abort(new Error('session terminated'));
    await expect(waiting).rejects.toThrow('session terminated');
  });
});
