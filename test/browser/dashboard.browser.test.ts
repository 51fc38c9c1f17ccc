/**
 * The dashboard and GraphiQL in a real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core), against a whole system started in this process. Screenshots go to
 * test-results/dashboard/ (gitignored).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { LAB_YAML } from '../support/subgraph-harness.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { ALL_SCOPES } from '../../core/auth/identity.ts';
import { silentLogger } from '../../core/logging.ts';
import { startLcmGateway, type LcmGateway } from '../../gateway/lcm-gateway.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TOKEN = 'lcm-admin-browser-test-token-0123456789';
const SHOTS = join(process.cwd(), 'test-results', 'dashboard');
/**
 * The three controllers run (as under `npm start`): a session reaches READY, is graded and archived
 * by itself. `LCM_BROWSER_TEST_CONTROLLERS=0` runs without them and drives the session through the
 * internal mutations the controllers use instead (`driveToReady`, and grading in the transitions test).
 */
const WITH_CONTROLLERS = process.env.LCM_BROWSER_TEST_CONTROLLERS !== '0';

const TOPOLOGY = LAB_YAML;
const DEFINITION = `# A lablet definition as \`lcm definitions apply\` reads it.
name: ccna-routing
version: 2.1.0
labYamlFile: topology.yaml
resourceRequirements: { cpuCores: 2, memoryGb: 4, storageGb: 10, nodeCount: 2 }
portTemplate:
  - { name: console, protocol: serial }
`;

describe('the dashboard in Chromium', { timeout: 60_000 }, () => {
  let system: RunningSystem;
  let gateway: LcmGateway;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const consoleErrors: string[] = [];
  /** Messages expected while the gateway is down on purpose. */
  let tolerate: RegExp | undefined;

  const url = (path = '/') => `${gateway.url}${path}`;
  async function gql<T = Record<string, unknown>>(path: '/graphql' | '/internal/graphql', query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await fetch(url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: Array<{ message: string }> };
    if (body.errors?.length) throw new Error(`${query.slice(0, 60)}…: ${body.errors.map((e) => e.message).join('; ')}`);
    return body.data as T;
  }
  const internal = <T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>) => gql<T>('/internal/graphql', query, variables);
  const advance = (id: string, to: string) => internal(`mutation($id: ID!, $to: LabletSessionStatus!) { advanceSession(id: $id, to: $to) { id } }`, { id, to });

  let workerId: string | undefined;
  /** What the resource-scheduler and lablet-controller do: a worker, a placement, a lab, a login. */
  async function driveToReady(sessionId: string): Promise<void> {
    if (!workerId) {
      const w = await internal<{ requestWorker: { id: string } }>(`mutation { requestWorker(input: { templateName: "metal", name: "browser-worker" }) { id } }`);
      workerId = w.requestWorker.id;
      for (const to of ['PROVISIONING', 'RUNNING']) {
        await internal(`mutation($id: ID!, $to: WorkerStatus!) { transitionWorker(id: $id, to: $to) { id } }`, { id: workerId, to });
      }
    }
    const r = await internal<{ reserveCapacity: { ports: Array<{ name: string; port: number }> } }>(
      `mutation($input: ReserveCapacityInput!) { reserveCapacity(input: $input) { ports { name port } } }`,
      { input: { workerId, sessionId, capacity: { cpuCores: 2, memoryGb: 4, storageGb: 10, maxNodes: 2 }, portNames: ['console'] } },
    );
    await internal(`mutation($input: ScheduleSessionInput!) { scheduleSession(input: $input) { id } }`, { input: { id: sessionId, workerId, allocatedPorts: r.reserveCapacity.ports } });
    await advance(sessionId, 'INSTANTIATING');
    await internal(`mutation($id: ID!, $input: UserSessionInput!) { upsertUserSession(sessionId: $id, input: $input) { id } }`, {
      id: sessionId,
      input: { status: 'ACTIVE', loginUrl: `https://lds.example.test/login/${sessionId}` },
    });
    await advance(sessionId, 'READY');
  }

  const row = (sessionId: string) => page.locator(`tr[data-session-id="${sessionId}"]`);
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  function expectNoConsoleErrors(): void {
    expect(consoleErrors.join('\n'), 'console errors in the page').toBe('');
    consoleErrors.length = 0;
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: run scripts/install-test-services.sh (it installs Debian's chromium); the browser tests never download a browser`);
    }
    mkdirSync(SHOTS, { recursive: true });
    system = await startSystem({ gatewayPort: 0, adminToken: TOKEN, ec2BootMs: 0, cmlBootMs: 0, controllers: WITH_CONTROLLERS, logger: silentLogger });
    gateway = system.gateway;
    profile = mkdtempSync(join(tmpdir(), 'lcm-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' && !(tolerate && tolerate.test(m.text()))) consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (gateway && gateway !== system?.gateway) await gateway.close();
    await system?.stop();
  }, 60_000);

  it('loads with no console errors and asks for a token; a wrong token gets a clear message', async () => {
    const res = await page.goto(url('/'));
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    await expect.poll(() => page.getByLabel('Admin token or API key').isVisible()).toBe(true);
    await shot('01-sign-in');

    await page.getByLabel('Admin token or API key').fill('lcm_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/did not accept this token \(UNAUTHENTICATED/);
    expect(await page.evaluate("sessionStorage.getItem('lcm.token')")).toBeNull();
    await shot('02-wrong-token');
    expectNoConsoleErrors();
  });

  it('signs in with the admin token and goes live', async () => {
    await page.getByLabel('Admin token or API key').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: /^Live$/ }).count()).toBe(1);
    expect(await page.evaluate("sessionStorage.getItem('lcm.token')")).toBe(TOKEN);
    await expect.poll(() => page.getByText(/^admin \(\d+ scopes, internal\)$/).isVisible()).toBe(true);
    // The admin token has the internal scope: the internal GraphiQL link shows.
    expect(await page.getByRole('link', { name: 'GraphiQL (internal)' }).count()).toBe(1);
    // A marker that a reload would lose: everything after this happens live.
    await page.evaluate('window.__noReload = true');
    expectNoConsoleErrors();
  });

  it('applies a definition from a YAML file picked in the browser (topology as a second file)', async () => {
    await page.getByRole('tab', { name: 'Definitions' }).click();
    await page.getByLabel('Definition file (YAML)').setInputFiles({ name: 'ccna-routing.yaml', mimeType: 'application/yaml', buffer: Buffer.from(DEFINITION) });
    await page.getByLabel(/^Topology file/).setInputFiles({ name: 'topology.yaml', mimeType: 'application/yaml', buffer: Buffer.from(TOPOLOGY) });
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.locator('#apply-result').textContent()).toMatch(/^Applied ccna-routing @ 2\.1\.0 /);
    await expect.poll(() => page.locator('#panel-definitions tbody tr').count()).toBe(1);
    const defs = await gql<{ definitions: { edges: Array<{ node: { name: string; version: string; labYaml: string; portTemplate: unknown[] } }> } }>(
      '/graphql',
      '{ definitions(first: 10) { edges { node { name version labYaml portTemplate { name protocol } } } } }',
    );
    expect(defs.definitions.edges.map((e) => e.node)).toEqual([{ name: 'ccna-routing', version: '2.1.0', labYaml: TOPOLOGY, portTemplate: [{ name: 'console', protocol: 'serial' }] }]);
    await shot('03-definition-applied');

    // The same name and version again changes nothing; a broken file says what is wrong.
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.locator('#apply-result').textContent()).toMatch(/already exists \(no change\)/);
    await page.getByLabel('Definition file (YAML)').setInputFiles({ name: 'bad.yaml', mimeType: 'application/yaml', buffer: Buffer.from('name: x\nversion: 1\nlabYaml: "a: b"\ncpu: 2\n') });
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.locator('#apply-result').textContent()).toMatch(/unknown field `cpu`/);
    expectNoConsoleErrors();
  });

  let sessionId = '';

  it('creates a session from the page; it reaches READY live, without a reload', async () => {
    await page.getByRole('tab', { name: 'Sessions' }).click();
    await expect.poll(() => page.getByLabel('Definition', { exact: true }).locator('option').first().textContent()).toBe('ccna-routing @ 2.1.0');
    await page.getByLabel('Owner', { exact: true }).fill('alice');
    await page.getByRole('button', { name: 'Create session' }).click();
    await expect.poll(() => page.locator('tr[data-session-id]').count()).toBe(1);
    sessionId = (await page.locator('tr[data-session-id]').first().getAttribute('data-session-id'))!;
    expect(await row(sessionId).getAttribute('data-status')).toBe('PENDING');

    if (!WITH_CONTROLLERS) await driveToReady(sessionId);
    await expect.poll(() => row(sessionId).getAttribute('data-status'), { timeout: 20_000 }).toBe('READY');
    expect(await page.evaluate('window.__noReload')).toBe(true);
    await expect.poll(() => row(sessionId).getByRole('link', { name: 'Open lab' }).getAttribute('href')).toMatch(WITH_CONTROLLERS ? /^https?:\/\// : /^https:\/\/lds\.example\.test\/login\//);

    // The timeline (statusHistory), live as well.
    await row(sessionId).locator('button[aria-controls^="timeline-"]').click();
    const timeline = page.getByRole('list', { name: `Timeline of session ${sessionId}` });
    await expect.poll(() => timeline.locator('li').count()).toBeGreaterThanOrEqual(4);
    expect(await timeline.textContent()).toContain('INSTANTIATING → READY');
    await shot('04-session-ready');

    // The worker it landed on, with its capacity bars.
    await page.getByRole('tab', { name: 'Workers' }).click();
    const card = page.locator('article.worker').first();
    await expect.poll(() => card.getByRole('meter', { name: 'CPU allocated' }).getAttribute('aria-valuenow')).toBe('2');
    expect(Number(await card.getByRole('meter', { name: 'CPU allocated' }).getAttribute('aria-valuemax'))).toBeGreaterThanOrEqual(2);
    expect(await card.getByRole('meter', { name: 'Nodes allocated' }).getAttribute('aria-valuenow')).toBe('2');
    expect(await card.textContent()).toContain('alice');
    await shot('05-workers');
    expectNoConsoleErrors();
  });

  it('makes the manual transitions from the page: student starts, student finishes, stop', async () => {
    await page.getByRole('tab', { name: 'Sessions' }).click();
    await row(sessionId).getByRole('button', { name: 'Student starts' }).click();
    await expect.poll(() => row(sessionId).getAttribute('data-status')).toBe('RUNNING');
    await row(sessionId).getByRole('button', { name: 'Student finishes' }).click();
    // With the controllers it moves on at once: collecting, grading, archiving.
    await expect.poll(() => row(sessionId).getAttribute('data-status')).toMatch(WITH_CONTROLLERS ? /^(COLLECTING|GRADING|STOPPING|STOPPED|ARCHIVED)$/ : /^COLLECTING$/);

    if (!WITH_CONTROLLERS) {
      // The lablet-controller collects, grades and publishes the report.
      await advance(sessionId, 'GRADING');
      const defs = await gql<{ definitions: { edges: Array<{ node: { id: string } }> } }>('/graphql', '{ definitions(first: 1) { edges { node { id } } } }');
      await internal(`mutation($input: PublishScoreReportInput!) { publishScoreReport(input: $input) { id } }`, {
        input: { sessionId, definitionId: defs.definitions.edges[0]!.node.id, owner: 'alice', score: 84, maxScore: 100, cutScore: 70, sections: [{ name: 'routing', score: 84, maxScore: 100 }] },
      });
      await expect.poll(() => row(sessionId).getAttribute('data-status')).toBe('GRADING');
      await row(sessionId).getByRole('button', { name: 'Stop' }).click();
      await expect.poll(() => row(sessionId).getAttribute('data-status')).toBe('STOPPING');
    } else {
      await expect.poll(() => row(sessionId).getAttribute('data-status'), { timeout: 30_000 }).toBe('ARCHIVED');
    }
    await page.getByRole('tab', { name: 'Score reports' }).click();
    await expect.poll(() => page.locator('#panel-reports tbody tr').count(), { timeout: 30_000 }).toBe(1);
    expect(await page.locator('#panel-reports tbody tr').textContent()).toMatch(
      WITH_CONTROLLERS ? /alice.*ccna-routing @ 2\.1\.0.*\d+ \/ \d+.*(PASSED|FAILED|—)/ : /alice.*84 \/ 100 \(cut 70\).*PASSED.*routing 84\/100/,
    );
    await shot('06-score-report');
    expectNoConsoleErrors();
  });

  it('terminates a session from the page and shows TERMINATED live', async () => {
    await page.getByRole('tab', { name: 'Sessions' }).click();
    await page.getByLabel('Owner', { exact: true }).fill('bob');
    await page.getByRole('button', { name: 'Create session' }).click();
    const bob = page.locator('tr[data-session-id]', { hasText: 'bob' });
    await expect.poll(() => bob.count()).toBe(1);
    const id = (await bob.getAttribute('data-session-id'))!;
    page.once('dialog', (d) => void d.accept());
    await row(id).getByRole('button', { name: 'Terminate' }).click();
    await expect.poll(() => row(id).getAttribute('data-status')).toBe('TERMINATED');
    const status = await gql<{ session: { status: string } }>('/graphql', 'query($id: ID!) { session(id: $id) { status } }', { id });
    expect(status.session.status).toBe('TERMINATED');
    await shot('07-terminated');
    expectNoConsoleErrors();
  });

  it('drains a worker (internal scope) and sees it live', async () => {
    await page.getByRole('tab', { name: 'Workers' }).click();
    const card = page.locator('article.worker').first();
    await card.getByRole('button', { name: 'Drain' }).click();
    await expect.poll(() => card.getAttribute('data-status')).toBe('DRAINING');
    expectNoConsoleErrors();
  });

  it('keeps what it shows while the gateway restarts, then catches up with what it missed', async () => {
    await page.getByRole('tab', { name: 'Sessions' }).click();
    const definitionId = (await gql<{ definitions: { edges: Array<{ node: { id: string } }> } }>('/graphql', '{ definitions(first: 1) { edges { node { id } } } }')).definitions.edges[0]!.node.id;
    const created = await gql<{ createSession: { id: string } }>('/graphql', 'mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }', { input: { definitionId, owner: 'dave' } });
    const dave = created.createSession.id;
    await expect.poll(() => row(dave).count()).toBe(1);

    const port = gateway.port;
    tolerate = /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/;
    await gateway.close();
    await expect.poll(() => page.locator('.connection').getAttribute('data-state'), { timeout: 20_000 }).toBe('reconnecting');
    expect(await page.locator('tr[data-session-id]').count()).toBe(3);
    await shot('08-reconnecting');

    // While the page is cut off, the session ends (straight through the sessions subgraph).
    const body = JSON.stringify({ query: 'mutation($id: ID!) { terminateSession(id: $id, reason: "while the gateway was down") { id status } }', variables: { id: dave } });
    const identity = await system.deps.signer.forwardedIdentityHeaders({ subject: 'browser-test', kind: 'service', scopes: ALL_SCOPES }, body);
    const res = await fetch(system.subgraphs.sessions.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...identity }, body });
    expect(((await res.json()) as { data?: { terminateSession?: { status: string } } }).data?.terminateSession?.status).toBe('TERMINATED');
    expect(await row(dave).getAttribute('data-status')).not.toBe('TERMINATED');

    gateway = await startLcmGateway({
      port,
      host: '127.0.0.1',
      storage: system.deps.storage,
      signer: system.deps.signer,
      adminToken: TOKEN,
      logger: silentLogger,
      subgraphUrls: Object.fromEntries(Object.entries(system.subgraphs).map(([n, s]) => [n, s.graphqlUrl])),
    });
    await expect.poll(() => page.locator('.connection').getAttribute('data-state'), { timeout: 30_000 }).toBe('live');
    await expect.poll(() => row(dave).getAttribute('data-status'), { timeout: 10_000 }).toBe('TERMINATED');
    tolerate = undefined;
    expect(await page.evaluate('window.__noReload')).toBe(true);
    expect(await page.locator('tr[data-session-id]').count()).toBe(3);

    // And it is live again: a new session from another client shows up.
    await gql('/graphql', 'mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }', { input: { definitionId, owner: 'carol' } });
    await expect.poll(() => page.locator('tr[data-session-id]', { hasText: 'carol' }).count()).toBe(1);
    await shot('09-after-restart');
    expectNoConsoleErrors();
  });

  it('serves GraphiQL at /graphql to a browser, with the token prefilled; a query runs', async () => {
    const res = await page.goto(url('/graphql'));
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-type']).toContain('text/html');
    await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
    await page.getByRole('button', { name: /Execute query/ }).click();
    await expect.poll(() => page.locator('.result-window').textContent(), { timeout: 15_000 }).toMatch(/"totalCount": 4,/);
    // The header editor holds the dashboard's token.
    await page.getByRole('button', { name: 'Headers' }).click();
    await expect.poll(() => page.locator('.graphiql-editor-tool .CodeMirror-code').last().textContent()).toContain(`Bearer ${TOKEN}`);
    await shot('10-graphiql');
    expectNoConsoleErrors();
  });

  it('serves GraphiQL at /internal/graphql on the internal schema', async () => {
    await page.goto(url('/internal/graphql'));
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: /Execute query/ }).click();
    await expect.poll(() => page.locator('.result-window').textContent(), { timeout: 15_000 }).toMatch(/"workers": \{\s*"totalCount": [1-9]/);
    await shot('11-graphiql-internal');
    expectNoConsoleErrors();
  });
});
