/**
 * The operator CLI as an operator runs it: the real `bin/lcm.js` as child processes against a running
 * system (CONTRACT.md "The operator CLI"): output, `--json`, and every exit code (0 ok, 2 usage,
 * 3 unauthenticated/forbidden, 4 not found, 5 conflict or invalid transition, 1 other).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/logging.ts';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { startLcmGateway, type LcmGateway } from '../../gateway/lcm-gateway.ts';
import { LAB_YAML } from '../support/subgraph-harness.ts';
import { data } from '../support/gateway-client.ts';
import { freePort } from '../support/services.ts';
import { eventually } from '../support/eventually.ts';
import { csvRow } from '../../cli/operator/output.ts';
import { advance, createDefinition, createSession, runningWorker, schedule, transition, type Endpoints } from './fixtures.ts';

const LCM = fileURLToPath(new URL('../../bin/lcm.js', import.meta.url));
const ADMIN = 'operator-cli-admin-token-0123456789';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function childEnv(url: string, extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LCM_URL: url, LCM_TOKEN: ADMIN, LCM_LOG_LEVEL: 'warn' };
  delete env.LCM_ADMIN_TOKEN;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

describe('the operator CLI (lcm definitions|sessions|workers|reports|keys)', () => {
  let system: RunningSystem;
  let e: Endpoints;
  let dir: string;
  const extraGateways: LcmGateway[] = [];

  /** Start `lcm ARGS` with LCM_URL/LCM_TOKEN for the system (override with `env`). */
  function start(args: string[], env: Record<string, string | undefined> = {}, cwd = dir): { proc: ChildProcess; out: () => string; err: () => string; done: Promise<Run> } {
    const proc = spawn(process.execPath, [LCM, ...args], { cwd, env: childEnv(system.gatewayUrl, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<Run>((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
    return { proc, out: () => stdout, err: () => stderr, done };
  }
  const lcm = (args: string[], env: Record<string, string | undefined> = {}, cwd = dir): Promise<Run> => start(args, env, cwd).done;
  const lcmJson = async <T = unknown>(args: string[]): Promise<T> => {
    const r = await lcm([...args, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as T;
  };
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    system = await startSystem({ gatewayPort: 0, adminToken: ADMIN, simulators: false, controllers: false, logger: silentLogger });
    e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    dir = mkdtempSync(join(tmpdir(), 'lcm-operator-'));
  });
  afterAll(async () => {
    for (const g of extraGateways) await g.close().catch(() => undefined);
    await system?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const definitionYaml = (name: string, version: string, storageGb = 4) => `name: ${name}
version: ${version}
resourceRequirements: {cpuCores: 1, memoryGb: 1, storageGb: ${storageGb}, nodeCount: 2}
portTemplate:
  - {name: console, protocol: serial}
`;

  it('definitions apply: labYaml, topology and labYamlFile; again is a no-op; different content is a conflict (5)', { timeout: 60_000 }, async () => {
    mkdirSync(join(dir, 'labs'), { recursive: true });
    writeFileSync(join(dir, 'labs', 'ospf.yaml'), LAB_YAML);
    const block = file('block.yaml', `${definitionYaml('cli-block', '1.0.0')}labYaml: |\n${LAB_YAML.replace(/^/gm, '  ')}`);
    const nested = file('nested.yaml', `${definitionYaml('cli-nested', '1.0.0')}topology:\n${LAB_YAML.replace(/^/gm, '  ')}`);
    const multi = file(
      'multi.yaml',
      `${definitionYaml('cli-file', '1.0.0')}labYamlFile: labs/ospf.yaml\n---\n${definitionYaml('cli-file', '1.2.0')}labYamlFile: labs/ospf.yaml\n---\n${definitionYaml('cli-file', '1.10.0')}labYamlFile: ./labs/ospf.yaml\n`,
    );

    const first = await lcm(['definitions', 'apply', block, nested, multi]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^created cli-block@1\.0\.0 \(def_\w+\)$/),
      expect.stringMatching(/^created cli-nested@1\.0\.0 \(def_\w+\)$/),
      expect.stringMatching(/^created cli-file@1\.0\.0 /),
      expect.stringMatching(/^created cli-file@1\.2\.0 /),
      expect.stringMatching(/^created cli-file@1\.10\.0 /),
    ]);

    const again = await lcmJson<Array<{ action: string; name: string; version: string; id: string }>>(['definitions', 'apply', block, nested, multi]);
    expect(again.map((r) => `${r.action} ${r.name}@${r.version}`)).toEqual([
      'unchanged cli-block@1.0.0',
      'unchanged cli-nested@1.0.0',
      'unchanged cli-file@1.0.0',
      'unchanged cli-file@1.2.0',
      'unchanged cli-file@1.10.0',
    ]);
    const human = await lcm(['definitions', 'apply', nested]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^unchanged cli-nested@1\.0\.0 \(def_\w+\): already applied/);

    const changed = file('changed.yaml', `${definitionYaml('cli-block', '1.0.0', 8)}labYaml: |\n${LAB_YAML.replace(/^/gm, '  ')}`);
    const conflict = await lcm(['definitions', 'apply', changed]);
    expect(conflict.code).toBe(5);
    expect(conflict.stdout).toBe('');
    expect(conflict.stderr).toMatch(/^error: .*cli-block@1\.0\.0 already exists .*resourceRequirements\.storageGb/);
    expect(conflict.stderr.trim().split('\n')).toHaveLength(1);

    // Usage errors (2): a file that is not a definition, two topologies, a missing file. Nothing is applied.
    const bad = file('bad.yaml', 'name: cli-bad\nversion: 1.0.0\n');
    const both = file('both.yaml', `${definitionYaml('cli-both', '1.0.0')}labYaml: x\nlabYamlFile: labs/ospf.yaml\n`);
    const fresh = file('fresh.yaml', `${definitionYaml('cli-fresh', '1.0.0')}labYamlFile: labs/ospf.yaml\n`);
    for (const args of [[bad], [both], [join(dir, 'missing.yaml')], [fresh, bad]]) {
      const r = await lcm(['definitions', 'apply', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
    // A server-side validation error is a usage error too (BAD_USER_INPUT), with its message and code.
    const invalid = await lcm(['definitions', 'apply', file('invalid.yaml', `${definitionYaml('cli-invalid', 'one')}labYamlFile: labs/ospf.yaml\n`)]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('BAD_USER_INPUT');

    const list = await lcmJson<Array<{ name: string; version: string }>>(['definitions', 'list']);
    expect(list.map((d) => `${d.name}@${d.version}`)).toEqual(expect.arrayContaining(['cli-block@1.0.0', 'cli-nested@1.0.0', 'cli-file@1.10.0']));
    expect(list.some((d) => d.name === 'cli-fresh' || d.name === 'cli-bad')).toBe(false);
    const table = await lcm(['definitions', 'list']);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+VERSION\s+STATUS/);
    expect(table.stdout).toMatch(/cli-file\s+1\.10\.0\s+ACTIVE/);
  });

  it('sessions create (newest ACTIVE version by semver, or NAME@VERSION), list, get, transition, terminate', { timeout: 60_000 }, async () => {
    await createDefinition(e, 'cli-sem', '1.2.0');
    const newest = await createDefinition(e, 'cli-sem', '1.10.0');
    const pinned = await createDefinition(e, 'cli-sem', '1.9.0');

    const [a, b, missing, badTime, noOwner] = await Promise.all([
      lcm(['sessions', 'create', '--definition', 'cli-sem', '--owner', 'carol']),
      lcm(['sessions', 'create', '--definition', 'cli-sem@1.9.0', '--owner', 'dave', '--start', '2030-01-01T10:00:00Z', '--end', '2030-01-01T12:00:00Z', '--json']),
      lcm(['sessions', 'create', '--definition', 'no-such-lab', '--owner', 'carol']),
      lcm(['sessions', 'create', '--definition', 'cli-sem', '--owner', 'carol', '--start', 'tomorrow']),
      lcm(['sessions', 'create', '--definition', 'cli-sem']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    const idA = a.stdout.trim();
    expect(idA).toMatch(/^ses_\w+$/);
    expect(b.code, b.stderr).toBe(0);
    const sessionB = JSON.parse(b.stdout) as { id: string; owner: string; definition: { id: string }; timeslotStart: string; timeslotEnd: string };
    expect(sessionB).toMatchObject({ owner: 'dave', definition: { id: pinned }, timeslotStart: '2030-01-01T10:00:00.000Z', timeslotEnd: '2030-01-01T12:00:00.000Z' });
    expect([missing.code, badTime.code, noOwner.code]).toEqual([4, 2, 2]);
    expect(missing.stderr).toMatch(/^error: no ACTIVE definition named "no-such-lab"\n$/);

    const got = await lcmJson<{ id: string; status: string; owner: string; definition: { id: string; version: string } }>(['sessions', 'get', idA]);
    expect(got).toMatchObject({ id: idA, status: 'PENDING', owner: 'carol', definition: { id: newest, version: '1.10.0' } });
    const human = await lcm(['sessions', 'get', idA]);
    expect(human.stdout).toMatch(/^id\s+ses_/);
    expect(human.stdout).toMatch(/definition\s+cli-sem@1\.10\.0/);
    expect(human.stdout).toMatch(/status history:\n\s+AT\s+FROM\s+TO/);

    const [byOwner, byStatus, both, table] = await Promise.all([
      lcmJson<Array<{ id: string }>>(['sessions', 'list', '--owner', 'dave']),
      lcmJson<Array<{ id: string; status: string }>>(['sessions', 'list', '--status', 'pending']),
      lcmJson<Array<{ id: string }>>(['sessions', 'list', '--status', 'TERMINATED,ARCHIVED', '--owner', 'carol']),
      lcm(['sessions', 'list', '--owner', 'carol']),
    ]);
    expect(byOwner.map((s) => s.id)).toEqual([sessionB.id]);
    expect(byStatus.map((s) => s.id)).toEqual(expect.arrayContaining([idA, sessionB.id]));
    expect(byStatus.every((s) => s.status === 'PENDING')).toBe(true);
    expect(both).toEqual([]);
    expect(table.stdout).toMatch(new RegExp(`^ID\\s+STATUS\\s+OWNER[^\\n]*\\n${idA}\\s+PENDING\\s+carol\\s+cli-sem@1\\.10\\.0`));

    const [invalid, unknown, badStatus, notFound] = await Promise.all([
      lcm(['sessions', 'transition', idA, 'RUNNING']),
      lcm(['sessions', 'get', 'ses_doesnotexist']),
      lcm(['sessions', 'list', '--status', 'SLEEPING']),
      lcm(['sessions', 'terminate', 'ses_doesnotexist']),
    ]);
    expect(invalid.code).toBe(5);
    expect(invalid.stderr).toMatch(/^error: .*PENDING.*RUNNING.*\(INVALID_TRANSITION\)\n$/);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toBe('error: session ses_doesnotexist not found\n');
    expect(badStatus.code).toBe(2);
    expect(notFound.code).toBe(4);

    const terminated = await lcm(['sessions', 'terminate', idA, '--reason', 'operator test']);
    expect(terminated.code).toBe(0);
    expect(terminated.stdout).toBe(`${idA} TERMINATED\n`);
    const history = await lcmJson<{ statusHistory: Array<{ to: string; reason: string | null }> }>(['sessions', 'get', idA]);
    expect(history.statusHistory.at(-1)).toMatchObject({ to: 'TERMINATED', reason: 'operator test' });
    expect((await lcm(['sessions', 'terminate', idA])).code).toBe(5);
    const moved = await lcmJson<{ status: string }>(['sessions', 'transition', sessionB.id, 'terminated', '--reason', 'not needed']);
    expect(moved.status).toBe('TERMINATED');
  });

  it('sessions watch prints the current state, then each change live, and exits when the session ends', { timeout: 60_000 }, async () => {
    const definitionId = await createDefinition(e, 'cli-watch');
    const workerId = await runningWorker(e, 'cml-watch');
    const id = await createSession(e, definitionId, 'erin');
    const watch = start(['sessions', 'watch', id]);
    await eventually('the current state', () => watch.out().includes('PENDING'), { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1_000)); // the subscription is open
    await schedule(e, id, workerId);
    await eventually('SCHEDULED, live', () => watch.out().includes('SCHEDULED'), { timeoutMs: 10_000 });
    await advance(e, id, 'INSTANTIATING');
    await advance(e, id, 'READY');
    await eventually('READY, live', () => watch.out().includes('READY'), { timeoutMs: 10_000 });
    expect(watch.proc.exitCode).toBeNull();
    await transition(e, id, 'RUNNING');
    await transition(e, id, 'TERMINATED');
    const r = await watch.done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const statuses = r.stdout
      .trim()
      .split('\n')
      .map((l) => /^\S+ \S+\s+([A-Z]+)/.exec(l)?.[1]);
    expect(statuses).toEqual(['PENDING', 'SCHEDULED', 'INSTANTIATING', 'READY', 'RUNNING', 'TERMINATED']);
    expect(r.stdout).toMatch(/SCHEDULED\s+worker=cml-watch/);

    // An ended session: its state once, exit 0. An unknown one: exit 4. --json: one object per line.
    const ended = await lcm(['sessions', 'watch', id, '--json']);
    expect(ended.code).toBe(0);
    expect(ended.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { status: string }).status)).toEqual(['TERMINATED']);
    expect((await lcm(['sessions', 'watch', 'ses_doesnotexist'])).code).toBe(4);
  });

  it('sessions watch survives a gateway restart and does not miss the final state', { timeout: 90_000 }, async () => {
    const definitionId = await createDefinition(e, 'cli-watch-restart');
    const id = await createSession(e, definitionId, 'frank');
    const watch = start(['sessions', 'watch', id, '--json']);
    await eventually('the current state', () => watch.out().includes('"PENDING"'), { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1_000));

    // The gateway goes away; while it is away the session ends (through another gateway replica).
    const port = Number(new URL(system.gatewayUrl).port);
    await system.gateway.close();
    const subgraphUrls = Object.fromEntries(Object.entries(system.subgraphs).map(([n, s]) => [n, s.graphqlUrl]));
    const common = { storage: system.deps.storage, signer: system.deps.signer, adminToken: ADMIN, logger: silentLogger, subgraphUrls };
    const other = await startLcmGateway({ ...common, port: 0 });
    extraGateways.push(other);
    await data(`${other.url}/graphql`, ADMIN, `mutation($id: ID!) { terminateSession(id: $id, reason: "while away") { id } }`, { id });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(watch.proc.exitCode).toBeNull();

    // The gateway comes back on its address: the watch reconnects, reads the session, and ends.
    extraGateways.push(await startLcmGateway({ ...common, port }));
    const r = await watch.done;
    expect(r.code).toBe(0);
    const states = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: string; statusHistory: Array<{ reason: string | null }> });
    expect(states.map((s) => s.status)).toEqual(['PENDING', 'TERMINATED']);
    expect(states.at(-1)?.statusHistory.at(-1)?.reason).toBe('while away');
  });

  it('workers list, drain (internal scope, else 3) and stop (refused with sessions: 5)', { timeout: 60_000 }, async () => {
    const busy = await runningWorker(e, 'cml-busy');
    const idle = await runningWorker(e, 'cml-idle');
    const definitionId = await createDefinition(e, 'cli-workers');
    await schedule(e, await createSession(e, definitionId), busy);

    const list = await lcmJson<Array<{ id: string; name: string; status: string; reservations: unknown[] }>>(['workers', 'list']);
    expect(list.find((w) => w.id === busy)).toMatchObject({ name: 'cml-busy', status: 'RUNNING', reservations: [expect.anything()] });
    const table = await lcm(['workers', 'list']);
    expect(table.stdout).toMatch(new RegExp(`${busy}\\s+cml-busy\\s+RUNNING\\s+RUNNING\\s+metal`));

    const reader = (await system.gateway.apiKeys.create('cli-reader', ['read'])).key;
    const forbidden = await lcm(['workers', 'drain', busy], { LCM_TOKEN: reader });
    expect(forbidden.code).toBe(3);
    expect(forbidden.stderr).toMatch(/^error: .*`internal` scope.*\(FORBIDDEN\)\n$/);

    const stopBusy = await lcm(['workers', 'stop', busy]);
    expect(stopBusy.code).toBe(5);
    expect(stopBusy.stderr).toMatch(/hosts 1 session.*drain it first/);

    const drained = await lcm(['workers', 'drain', busy]);
    expect(drained.stderr).toBe('');
    expect(drained.stdout).toBe(`${busy} DRAINING (desired RUNNING)\n`);
    const again = await lcm(['workers', 'drain', busy]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already draining');

    const stopped = await lcmJson<{ id: string; desiredStatus: string }>(['workers', 'stop', idle]);
    expect(stopped).toMatchObject({ id: idle, desiredStatus: 'STOPPED' });
    const [unknownDrain, unknownStop] = await Promise.all([lcm(['workers', 'drain', 'wkr_nope']), lcm(['workers', 'stop', 'wkr_nope'])]);
    expect([unknownDrain.code, unknownStop.code]).toEqual([4, 4]);
  });

  it('reports export: every page, CSV with quoting, a JSON array, and the filters', { timeout: 90_000 }, async () => {
    const v1 = await createDefinition(e, 'cli-reports', '1.0.0');
    const v2 = await createDefinition(e, 'cli-reports', '2.0.0');
    const other = await createDefinition(e, 'cli-reports-other', '1.0.0');
    const workerId = await runningWorker(e, 'cml-reports');
    const publish = async (definitionId: string, owner: string, score: number) => {
      const id = await createSession(e, definitionId, owner);
      await schedule(e, id, workerId);
      await advance(e, id, 'INSTANTIATING');
      await advance(e, id, 'READY');
      await transition(e, id, 'RUNNING');
      await transition(e, id, 'COLLECTING');
      await advance(e, id, 'GRADING');
      await data(e.internalUrl, ADMIN, `mutation($input: PublishScoreReportInput!) { publishScoreReport(input: $input) { id } }`, {
        input: { sessionId: id, definitionId, owner, score, maxScore: 100, cutScore: 70, sections: [{ name: 'routing, "ospf"', score, maxScore: 100 }] },
      });
      return id;
    };
    const tricky = 'doe, "jj"';
    const published: string[] = [];
    for (let i = 0; i < 4; i++) published.push(await publish(v1, i === 0 ? tricky : 'gina', 50 + i * 10));
    for (let i = 0; i < 3; i++) published.push(await publish(v2, 'gina', 90));
    await publish(other, 'gina', 10);

    const csv = await lcm(['reports', 'export', '--definition', 'cli-reports', '--page-size', '2']);
    expect(csv.stderr).toBe('');
    expect(csv.code).toBe(0);
    const rows = parseCsv(csv.stdout);
    expect(rows[0]).toEqual(['id', 'sessionId', 'definitionId', 'definitionName', 'definitionVersion', 'owner', 'score', 'maxScore', 'cutScore', 'passed', 'submittedAt', 'sections']);
    expect(rows.slice(1).map((r) => r[1])).toEqual(published);
    const first = rows[1] as string[];
    expect(first[5]).toBe(tricky);
    expect(first.slice(2, 5)).toEqual([v1, 'cli-reports', '1.0.0']);
    expect(first.slice(6, 10)).toEqual(['50', '100', '70', 'false']);
    expect(JSON.parse(first[11] as string)).toEqual([{ name: 'routing, "ospf"', score: 50, maxScore: 100, weight: 1 }]);
    expect(csv.stdout).toContain(',"doe, ""jj""",');
    expect(csvRow(['a\r\nb', 'plain', null, 1.5, false])).toBe('"a\r\nb",plain,,1.5,false\r\n');
    expect(csv.stdout.endsWith('\r\n')).toBe(true);

    const asJson = await lcm(['reports', 'export', '--format', 'json', '--definition', 'cli-reports', '--page-size', '3']);
    const reports = JSON.parse(asJson.stdout) as Array<{ session: { id: string }; owner: string; passed: boolean }>;
    expect(reports.map((r) => r.session.id)).toEqual(published);

    const [failed, byOwner, future, all, empty, none] = await Promise.all([
      lcm(['reports', 'export', '--json', '--definition', 'cli-reports', '--passed', 'false']),
      lcm(['reports', 'export', '--json', '--owner', tricky]),
      lcm(['reports', 'export', '--json', '--since', '2999-01-01T00:00:00Z']),
      lcm(['reports', 'export', '--json', '--until', '2999-01-01T00:00:00Z', '--page-size', '1']),
      lcm(['reports', 'export', '--owner', 'nobody']),
      lcm(['reports', 'export', '--definition', 'no-such-definition']),
    ]);
    expect((JSON.parse(failed.stdout) as unknown[]).length).toBe(2); // scores 50 and 60 under the cut score 70
    expect((JSON.parse(byOwner.stdout) as Array<{ owner: string }>).map((r) => r.owner)).toEqual([tricky]);
    expect(JSON.parse(future.stdout)).toEqual([]);
    expect((JSON.parse(all.stdout) as unknown[]).length).toBeGreaterThanOrEqual(8);
    expect(empty.stdout).toBe('id,sessionId,definitionId,definitionName,definitionVersion,owner,score,maxScore,cutScore,passed,submittedAt,sections\r\n');
    expect(none.code).toBe(4);

    const usage = await Promise.all([
      lcm(['reports', 'export', '--format', 'xml']),
      lcm(['reports', 'export', '--passed', 'maybe']),
      lcm(['reports', 'export', '--since', 'yesterday']),
    ]);
    expect(usage.map((r) => r.code)).toEqual([2, 2, 2]);
  });

  it('keys create (printed once), list and revoke through /admin/api-keys', { timeout: 60_000 }, async () => {
    const created = await lcm(['keys', 'create', 'cli-dashboard', '--scopes', 'read,sessions:write']);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^lcm_key_\w+\.[\w-]+$/);
    expect(created.stderr).toContain('shown only this once');
    const keyId = /^lcm_(key_\w+)\./.exec(key)?.[1] as string;

    const listed = await lcmJson<Array<{ id: string; name: string; scopes: string[]; revokedAt: string | null }>>(['keys', 'list']);
    expect(listed.find((k) => k.id === keyId)).toMatchObject({ name: 'cli-dashboard', scopes: ['read', 'sessions:write'], revokedAt: null });
    expect(JSON.stringify(listed)).not.toContain(key.split('.')[1]);
    const table = await lcm(['keys', 'list']);
    expect(table.stdout).toMatch(new RegExp(`${keyId}\\s+cli-dashboard\\s+read,sessions:write`));

    // The new key works as LCM_TOKEN, but cannot manage keys (3).
    expect((await lcm(['sessions', 'list'], { LCM_TOKEN: key })).code).toBe(0);
    const forbidden = await lcm(['keys', 'list'], { LCM_TOKEN: key });
    expect(forbidden.code).toBe(3);
    expect(forbidden.stderr).toMatch(/admin.*FORBIDDEN/);

    const revoked = await lcm(['keys', 'revoke', keyId]);
    expect(revoked.stdout).toBe(`revoked ${keyId} (cli-dashboard)\n`);
    const after = await lcm(['sessions', 'list'], { LCM_TOKEN: key });
    expect(after.code).toBe(3);
    expect(after.stderr).toContain('UNAUTHENTICATED');

    const [unknown, badScope, noScopes] = await Promise.all([
      lcm(['keys', 'revoke', 'key_doesnotexist']),
      lcm(['keys', 'create', 'x', '--scopes', 'everything']),
      lcm(['keys', 'create', 'x']),
    ]);
    expect([unknown.code, badScope.code, noScopes.code]).toEqual([4, 2, 2]);
  });

  it('errors: bad token (3), no gateway (1, names the URL and `npm start`), usage (2); the token from .lcm/admin-token', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const tokenDir = mkdtempSync(join(tmpdir(), 'lcm-operator-token-'));
    mkdirSync(join(tokenDir, '.lcm'));
    writeFileSync(join(tokenDir, '.lcm', 'admin-token'), `${ADMIN}\n`);
    try {
      const [badToken, noToken, down, unknownCommand, missingArg, fromFile, badUrl] = await Promise.all([
        lcm(['sessions', 'list'], { LCM_TOKEN: 'not-a-valid-token' }),
        lcm(['definitions', 'list'], { LCM_TOKEN: undefined }),
        lcm(['sessions', 'list'], { LCM_URL: `http://127.0.0.1:${port}` }),
        lcm(['sessions', 'frobnicate']),
        lcm(['sessions', 'get']),
        lcm(['sessions', 'list', '--json'], { LCM_TOKEN: undefined }, tokenDir),
        lcm(['sessions', 'list'], { LCM_URL: 'not a url' }),
      ]);
      expect(badToken.code).toBe(3);
      expect(badToken.stderr).toMatch(/^error: .*\(UNAUTHENTICATED\)\n$/);
      expect(noToken.code).toBe(3);
      expect(noToken.stderr).toContain('LCM_TOKEN');
      expect(down.code).toBe(1);
      expect(down.stderr).toBe(
        `error: cannot reach LCM at http://127.0.0.1:${port} (connection refused); is it running? start it with \`npm start\`, or point LCM_URL at it\n`,
      );
      expect(unknownCommand.code).toBe(2);
      expect(missingArg.code).toBe(2);
      expect(fromFile.code).toBe(0);
      expect(Array.isArray(JSON.parse(fromFile.stdout))).toBe(true);
      expect(badUrl.code).toBe(2);
      expect(badUrl.stderr).toContain('LCM_URL');
    } finally {
      rmSync(tokenDir, { recursive: true, force: true });
    }
  });
});

/** RFC 4180: quoted fields may hold commas, quotes (doubled) and line breaks; records end with CRLF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}
