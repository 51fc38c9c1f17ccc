/**
 * The CML simulator over raw HTTP: status codes and bodies the client hides, the timing model, PATty
 * bookkeeping, the debug routes, and cleanup on close.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/eventually.ts';
import { MIXED_LAB_YAML, TWO_ROUTERS_YAML, singleNodeYaml } from '../../test/support/simulators/cml-fixtures.ts';
import { startCmlSimulator, type CmlSimulator, type CmlSimulatorOptions } from './index.ts';

let sim: CmlSimulator | undefined;

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: CmlSimulatorOptions = {}): Promise<CmlSimulator> {
  sim = await startCmlSimulator({ bootMs: 50, ...options });
  return sim;
}

/** A raw API caller bound to the current simulator. */
function api(s: CmlSimulator, token?: string) {
  return async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${s.url}/api/v0${path}`, {
      method,
      body,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, type: response.headers.get('content-type'), text, json };
  };
}

async function login(s: CmlSimulator): Promise<ReturnType<typeof api>> {
  const res = await api(s)('POST', '/authenticate', JSON.stringify({ username: 'admin', password: 'admin' }));
  expect(res.status).toBe(200);
  expect(typeof res.json).toBe('string');
  return api(s, res.json as string);
}

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

async function waitConverged(call: ReturnType<typeof api>, labId: string): Promise<void> {
  await eventually(`lab ${labId} to converge`, async () => (await call('GET', `/labs/${labId}/check_if_converged`)).json === true);
}

describe('authentication endpoints', () => {
  it('returns a bare JWT string shaped like CML\'s, valid for the web session timeout', async () => {
    const s = await start();
    const res = await api(s)('POST', '/authenticate', JSON.stringify({ username: 'admin', password: 'admin' }));
    const token = res.json as string;
    expect(token.split('.')).toHaveLength(3);
    const c = claims(token);
    expect(c).toMatchObject({ iss: 'com.cisco.virl' });
    expect((c.exp as number) - (c.iat as number)).toBeGreaterThanOrEqual(86_400);
  });

  it('answers 403 {code, description} to bad credentials and 400 to a malformed body', async () => {
    const s = await start();
    const bad = await api(s)('POST', '/authenticate', JSON.stringify({ username: 'admin', password: 'nope' }));
    expect(bad).toMatchObject({ status: 403, json: { code: 403, description: 'Authentication failed!' } });
    const malformed = await api(s)('POST', '/authenticate', '{"username":');
    expect(malformed).toMatchObject({ status: 400, json: { code: 400 } });
  });

  it('answers 401 without a token or with a forged one', async () => {
    const s = await start();
    expect(await api(s)('GET', '/labs')).toMatchObject({ status: 401, json: { code: 401, description: 'No authorization token provided.' } });
    const forged = await api(s, 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl')('GET', '/labs');
    expect(forged).toMatchObject({ status: 401, json: { code: 401, description: 'Invalid authorization token.' } });
  });

  it('serves auth_extended, authok, logout and web_session_timeout', async () => {
    const s = await start();
    const ext = await api(s)('POST', '/auth_extended', JSON.stringify({ username: 'admin', password: 'admin' }));
    expect(ext.json).toMatchObject({ username: 'admin', admin: true, error: null });
    const call = api(s, (ext.json as { token: string }).token);
    expect((await call('GET', '/authok')).status).toBe(200);
    expect((await call('GET', '/web_session_timeout')).json).toBe(86_400);
    expect((await call('PATCH', '/web_session_timeout/120')).status).toBe(204);
    const fresh = await api(s)('POST', '/authenticate', JSON.stringify({ username: 'admin', password: 'admin' }));
    const c = claims(fresh.json as string);
    expect((c.exp as number) - (c.iat as number)).toBeLessThanOrEqual(121);
    expect((await call('DELETE', '/logout')).json).toBe(true);
    expect((await call('GET', '/authok')).status).toBe(401);
  });
});

describe('routing and errors', () => {
  it('answers 404 to unknown paths and 405 to a wrong method, as {code, description}', async () => {
    const s = await start();
    const call = await login(s);
    expect(await call('GET', '/no_such_thing')).toMatchObject({ status: 404, json: { code: 404 } });
    expect(await call('PUT', '/labs')).toMatchObject({ status: 405, json: { code: 405 } });
    const missing = await call('GET', '/labs/90f84e38-a71c-4d57-8d90-00fa8a197385');
    expect(missing).toMatchObject({ status: 404, json: { code: 404, description: 'Lab not found: 90f84e38-a71c-4d57-8d90-00fa8a197385' } });
  });

  it('accepts a topology sent as application/json-labelled YAML (as some clients do)', async () => {
    const s = await start();
    const call = await login(s);
    const res = await call('POST', '/import', TWO_ROUTERS_YAML, { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ warnings: [] });
  });

  it('re-imports what it downloads', async () => {
    const s = await start();
    const call = await login(s);
    const { id } = (await call('POST', '/import', MIXED_LAB_YAML)).json as { id: string };
    const yaml = (await call('GET', `/labs/${id}/download`)).text;
    const again = (await call('POST', '/import', yaml)).json as { id: string };
    const lab = (await call('GET', `/labs/${again.id}`)).json;
    expect(lab).toMatchObject({ lab_title: 'mixed', node_count: 3, link_count: 2 });
  });

  it('refuses resource changes on a running node but accepts tag changes', async () => {
    const s = await start({ bootMs: 0 });
    const call = await login(s);
    const { id } = (await call('POST', '/import', TWO_ROUTERS_YAML)).json as { id: string };
    const [nodeId] = (await call('GET', `/labs/${id}/nodes`)).json as string[];
    await call('PUT', `/labs/${id}/start`);
    const ram = await call('PATCH', `/labs/${id}/nodes/${nodeId}`, JSON.stringify({ ram: 1024 }));
    expect(ram).toMatchObject({ status: 400, json: { code: 400 } });
    const tags = await call('PATCH', `/labs/${id}/nodes/${nodeId}`, JSON.stringify({ tags: ['serial:4500'] }));
    expect(tags).toMatchObject({ status: 200, json: nodeId }); // CML 2.9 answers the node's id
    expect((await call('GET', `/labs/${id}/nodes/${nodeId}`)).json).toMatchObject({ tags: ['serial:4500'] });
    expect((await call('GET', `/labs/${id}/nodes/${nodeId}/state`)).json).toEqual({ state: 'BOOTED', progress: 'Booted' });
    expect((await call('GET', `/labs/${id}/nodes/90f84e38-a71c-4d57-8d90-00fa8a197385/state`)).status).toBe(404);
  });
});

describe('timing model', () => {
  it('boots the whole lab in about bootMs, not at once', async () => {
    const s = await start({ bootMs: 300, jitter: 0 });
    const call = await login(s);
    const { id } = (await call('POST', '/import', TWO_ROUTERS_YAML)).json as { id: string };
    const started = Date.now();
    expect((await call('PUT', `/labs/${id}/start`)).status).toBe(204);
    await waitConverged(call, id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('keeps the real proportions between node kinds: a connector boots long before an IOSv router', async () => {
    const s = await start({ bootMs: 400, jitter: 0 });
    const call = await login(s);
    const yaml = `lab: {version: 0.2.2}
nodes:
  - {id: n0, label: ext, node_definition: external_connector, x: 0, y: 0}
  - {id: n1, label: rtr, node_definition: iosv, x: 0, y: 0}
links: []
`;
    const { id } = (await call('POST', '/import', yaml)).json as { id: string };
    await call('PUT', `/labs/${id}/start`);
    let sawConnectorBootedFirst = false;
    while ((await call('GET', `/labs/${id}/check_if_converged`)).json !== true) {
      const nodes = (await call('GET', `/labs/${id}/nodes?data=true`)).json as Array<{ label: string; state: string }>;
      const state = Object.fromEntries(nodes.map((n) => [n.label, n.state]));
      if (state.ext === 'BOOTED' && state.rtr !== 'BOOTED') sawConnectorBootedFirst = true;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(sawConnectorBootedFirst).toBe(true);
  });

  it('clears every timer on close, mid-boot', async () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const s = await start({ bootMs: 60_000, licensing: { registrationMs: 60_000 } });
    const call = await login(s);
    const { id } = (await call('POST', '/import', MIXED_LAB_YAML)).json as { id: string };
    const before = timeouts();
    await call('PUT', `/labs/${id}/start`);
    await call('POST', '/licensing/registration', JSON.stringify({ token: 'T0tFTg' }));
    expect(timeouts()).toBeGreaterThan(before);
    await s.close();
    sim = undefined;
    expect(timeouts()).toBeLessThan(before + 1);
  });
});

describe('warm-up', () => {
  it('answers nginx\'s HTML 502 everywhere but /system_information, which says ready: false', async () => {
    const s = await start({ warmUp: { ms: 60_000 } });
    const res = await api(s)('POST', '/authenticate', JSON.stringify({ username: 'admin', password: 'admin' }));
    expect(res.status).toBe(502);
    expect(res.type).toBe('text/html');
    expect(res.text).toContain('502 Bad Gateway');
    expect((await api(s)('GET', '/system_information')).json).toMatchObject({ ready: false });
    expect((await fetch(`${s.url}/readyz`)).status).toBe(503);
    const off = await fetch(`${s.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ warmUp: null }) });
    expect(off.status).toBe(200);
    expect((await api(s)('GET', '/system_information')).json).toMatchObject({ ready: true });
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
  });
});

describe('PATty', () => {
  it('skips a port another running node holds and reports it on /_sim/pat', async () => {
    const s = await start({ bootMs: 0 });
    const call = await login(s);
    const a = (await call('POST', '/import', singleNodeYaml('alpine', 'a', ['serial:4001']))).json as { id: string };
    const b = (await call('POST', '/import', singleNodeYaml('alpine', 'b', ['serial:4001', 'vnc:4002']))).json as { id: string };
    await call('PUT', `/labs/${a.id}/start`);
    await call('PUT', `/labs/${b.id}/start`);
    const pat = (await (await fetch(`${s.url}/_sim/pat`)).json()) as {
      bindings: Array<{ port: number; nodeLabel: string }>;
      skipped: Array<{ tag: string; reason: string; nodeLabel: string; heldBy?: { nodeLabel: string } }>;
    };
    expect(pat.bindings.map((x) => [x.port, x.nodeLabel])).toEqual([
      [4001, 'a'],
      [4002, 'b'],
    ]);
    expect(pat.skipped).toEqual([expect.objectContaining({ tag: 'serial:4001', nodeLabel: 'b', reason: 'port_in_use', heldBy: expect.objectContaining({ nodeLabel: 'a' }) })]);
  });
});

describe('debug routes', () => {
  it('rejects an unknown fault with 400 and reports the state of labs and faults', async () => {
    const s = await start({ bootMs: 0 });
    const bad = await fetch(`${s.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ meteorStrike: true }) });
    expect(bad.status).toBe(400);
    const ok = await fetch(`${s.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ slowWipeMs: 25, tokenTtlMs: 5000, rejectStart: true }) });
    expect(await ok.json()).toMatchObject({ slowWipeMs: 25, tokenTtlMs: 5000, rejectStart: true });
    const call = await login(s);
    await call('POST', '/import', TWO_ROUTERS_YAML);
    const state = (await (await fetch(`${s.url}/_sim/state`)).json()) as { labs: Array<{ state: string; nodes: unknown[] }>; activeTokens: number };
    expect(state.activeTokens).toBe(1);
    expect(state.labs).toEqual([expect.objectContaining({ state: 'DEFINED_ON_CORE', converged: true, nodes: expect.any(Array) })]);
    await fetch(`${s.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ clear: true }) });
    expect(s.faults.snapshot()).toMatchObject({ slowWipeMs: 0, tokenTtlMs: null, rejectStart: false });
  });

  it('binds the address it is given (one loopback address per simulated worker)', async () => {
    const s = await start({ host: '127.23.4.5' });
    expect(s.url).toMatch(/^http:\/\/127\.23\.4\.5:\d+$/);
    expect((await api(s)('GET', '/system_information')).status).toBe(200);
  });
});
