/**
 * Retake README's dashboard picture (docs/images/dashboard.png): `npx tsx scripts/screenshot-dashboard.ts`.
 * Starts the whole system in this process (as `npm start` does, with instant simulated boots), books
 * two sessions (alice's READY, bob's RUNNING) on the worker the controllers launch for them, signs in to
 * the dashboard in Debian's Chromium (/usr/bin/chromium, driven by playwright-core), and puts its
 * top bar, the sessions (alice's timeline open) and the workers (capacity bars) in one PNG.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startSystem } from '../cli/system.ts';
import { silentLogger } from '../core/logging.ts';

const OUT = fileURLToPath(new URL('../docs/images/dashboard.png', import.meta.url));
const TOKEN = 'lcm-admin-screenshot-token-0123456789';
const TOPOLOGY = `lab: {version: 0.2.2, title: two-routers}
nodes:
  - {id: n0, label: r1, node_definition: iosv, x: 0, y: 0, interfaces: [{id: i0, type: physical}]}
  - {id: n1, label: r2, node_definition: iosv, x: 100, y: 0, interfaces: [{id: i0, type: physical}]}
links: [{id: l0, n1: n0, n2: n1, i1: i0, i2: i0}]
`;

const system = await startSystem({ gatewayPort: 0, adminToken: TOKEN, ec2BootMs: 0, cmlBootMs: 0, logger: silentLogger });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const gql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await fetch(`${system.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: Array<{ message: string }> };
    if (!body.data) throw new Error(body.errors?.map((e) => e.message).join('; '));
    return body.data;
  };
  const { createDefinition } = await gql<{ createDefinition: { id: string } }>(
    `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`,
    {
      input: {
        name: 'ccna-routing',
        version: '2.1.0',
        labYaml: TOPOLOGY,
        resourceRequirements: { cpuCores: 2, memoryGb: 4, storageGb: 10, nodeCount: 2 },
        portTemplate: [{ name: 'r1-console', protocol: 'serial' }, { name: 'r2-console', protocol: 'serial' }],
      },
    },
  );
  const ids: Record<string, string> = {};
  for (const owner of ['alice', 'bob']) {
    const r = await gql<{ createSession: { id: string } }>(`mutation($d: ID!, $o: String!) { createSession(input: { definitionId: $d, owner: $o }) { id } }`, {
      d: createDefinition.id,
      o: owner,
    });
    ids[owner] = r.createSession.id;
  }
  const status = async (id: string) => (await gql<{ session: { status: string } }>(`query($id: ID!) { session(id: $id) { status } }`, { id })).session.status;
  for (const id of Object.values(ids)) {
    for (let i = 0; (await status(id)) !== 'READY'; i++) {
      if (i > 300) throw new Error(`session ${id} did not reach READY`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await gql(`mutation($id: ID!) { transitionSession(id: $id, to: RUNNING, reason: "student started") { id } }`, { id: ids.bob });

  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  await page.goto(`${system.gatewayUrl}/`);
  await page.getByLabel('Admin token or API key').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('status').filter({ hasText: /^Live$/ }).waitFor();
  const row = page.locator(`tr[data-session-id="${ids.alice}"]`);
  await page.locator(`tr[data-session-id="${ids.bob}"][data-status="RUNNING"]`).waitFor();
  await row.locator('button[aria-controls^="timeline-"]').click();
  await page.getByRole('list', { name: `Timeline of session ${ids.alice}` }).getByText('INSTANTIATING → READY').waitFor();
  const tabs = await page.locator('.tabs').boundingBox();
  const top = await page.screenshot({ clip: { x: 0, y: 0, width: 1100, height: Math.ceil((tabs?.y ?? 0) + (tabs?.height ?? 80)) } });
  const sessions = await page.locator('#panel-sessions table').screenshot();
  await page.getByRole('tab', { name: 'Workers' }).click();
  await page.locator('article.worker').first().getByRole('meter', { name: 'CPU allocated' }).waitFor();
  const workers = await page.locator('#panel-workers').screenshot();

  // The top bar, the sessions (alice's timeline open) and the workers, one under the other.
  const sheet = await browser.newPage({ viewport: { width: 1100, height: 400 } });
  await sheet.setContent(
    `<body style="margin:0;background:#fff;width:1100px">` +
      [top, sessions, workers].map((png) => `<img style="display:block;max-width:1100px;margin-bottom:4px" src="data:image/png;base64,${png.toString('base64')}">`).join('') +
      `</body>`,
  );
  await sheet.waitForFunction('[...document.images].every((i) => i.complete)');
  mkdirSync(fileURLToPath(new URL('.', `file://${OUT}`)), { recursive: true });
  writeFileSync(OUT, await sheet.locator('body').screenshot());
  console.log(`wrote ${OUT}`);
} finally {
  await browser.close();
  await system.stop();
}

