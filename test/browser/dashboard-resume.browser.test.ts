/**
 * The dashboard resumes its subscriptions after a cut connection (issue 12): in Debian's Chromium
 * (playwright-core), the page is served through a TCP proxy (test/support/tcp-proxy.ts) in front of
 * the gateway. The test cuts the proxy, moves a session while the page is cut off, restores it, and
 * checks that the page received every change as a replayed event (the WebSocket frames) and shows
 * them (the row's status, the timeline) without re-reading the session list: that query is refused
 * after the cut, so only the resumed subscription can bring the changes.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { silentLogger } from '../../core/logging.ts';
import { advance, createDefinition, createSession, runningWorker, schedule, transition, type Endpoints } from '../e2e/fixtures.ts';
import { data } from '../support/gateway-client.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = 'lcm-admin-browser-resume-token-0123456789';

describe('the dashboard across a cut connection', { timeout: 90_000 }, () => {
  let system: RunningSystem;
  let proxy: TcpProxy;
  let e: Endpoints;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  /** Every `sessionUpdated` event the page received over its WebSockets, in order: [status, at]. */
  const received: Array<{ status: string; at: number }> = [];
  /** Session-list queries the page sent after the cut (refused by the test). */
  let refusedListQueries = 0;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: run scripts/install-test-services.sh (it installs Debian's chromium); the browser tests never download a browser`);
    }
    system = await startSystem({ gatewayPort: 0, adminToken: TOKEN, simulators: false, controllers: false, logger: silentLogger });
    e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: TOKEN };
    proxy = await startTcpProxy({ port: Number(new URL(system.gatewayUrl).port) });
    profile = mkdtempSync(join(tmpdir(), 'lcm-chromium-resume-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('websocket', (ws) =>
      ws.on('framereceived', (frame) => {
        const message = JSON.parse(String(frame.payload)) as { type?: string; payload?: { data?: { sessionUpdated?: { status: string } } } };
        const s = message.type === 'next' ? message.payload?.data?.sessionUpdated : undefined;
        if (s) received.push({ status: s.status, at: Date.now() });
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await proxy?.close();
    await system?.stop();
  }, 60_000);

  it('shows every change made while the WebSocket was cut, from the resumed subscription', async () => {
    const definitionId = await createDefinition(e, 'dashboard-resume');
    const workerId = await runningWorker(e, 'cml-dashboard-resume');
    const id = await createSession(e, definitionId, 'resume');
    const row = page.locator(`tr[data-session-id="${id}"]`);
    const status = page.getByRole('status');

    await page.goto(`${proxy.url}/`);
    await page.getByLabel('Admin token or API key').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => status.textContent()).toBe('Live');
    await expect.poll(() => row.getAttribute('data-status')).toBe('PENDING');
    await page.evaluate('window.__noReload = true');
    await new Promise((r) => setTimeout(r, 500)); // the subscriptions are open
    await schedule(e, id, workerId);
    await expect.poll(() => row.getAttribute('data-status')).toBe('SCHEDULED');

    // From here on the page may not re-read the session list: what it shows must come from events.
    await page.route('**/graphql', (route) => {
      if (route.request().postData()?.includes('query DashSessions(')) {
        refusedListQueries++;
        return route.abort();
      }
      return route.continue();
    });
    proxy.cut();
    await expect.poll(() => status.textContent()).toBe('Reconnecting…');
    const cutAt = Date.now();
    await advance(e, id, 'INSTANTIATING');
    await data(e.internalUrl, TOKEN, `mutation($id: ID!, $input: UserSessionInput!) { upsertUserSession(sessionId: $id, input: $input) { id } }`, {
      id,
      input: { status: 'ACTIVE', loginUrl: `https://lds.example.test/login/${id}` },
    });
    await advance(e, id, 'READY');
    await transition(e, id, 'RUNNING');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await row.getAttribute('data-status')).toBe('SCHEDULED');

    proxy.restore();
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe('Live');
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 10_000 }).toBe('RUNNING');
    expect(await page.evaluate('window.__noReload')).toBe(true);
    expect(refusedListQueries).toBe(0);

    // Each change arrived as its own event after the reconnection, in order (the user-session upsert
    // is a change of the session too, while INSTANTIATING).
    expect(received.filter((r) => r.at > cutAt).map((r) => r.status)).toEqual(['INSTANTIATING', 'INSTANTIATING', 'READY', 'RUNNING']);

    await row.locator('button[aria-controls^="timeline-"]').click();
    const timeline = page.getByRole('list', { name: `Timeline of session ${id}` });
    await expect.poll(() => timeline.locator('li').count()).toBe(5);
    const text = (await timeline.textContent()) ?? '';
    for (const step of ['PENDING → SCHEDULED', 'SCHEDULED → INSTANTIATING', 'INSTANTIATING → READY', 'READY → RUNNING']) expect(text).toContain(step);
    await expect.poll(() => row.getByRole('link', { name: 'Open lab' }).getAttribute('href')).toBe(`https://lds.example.test/login/${id}`);

    // Live again: a change after the reconnection shows as before.
    await transition(e, id, 'COLLECTING');
    await expect.poll(() => row.getAttribute('data-status')).toBe('COLLECTING');
  });
});
