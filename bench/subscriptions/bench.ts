import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { IdentitySigner, Scope, forwardedIdentityHeaders, type Identity } from '../../core/auth/identity.ts';
import { residentMiB } from '../support/processes.ts';
import { percentile, ratio, type BenchTable } from '../support/report.ts';
import { SECRET_ENV } from '../support/lcm-identity.ts';
import { LCM_GATEWAYS, startLcmGateway, startLcmWorld, type LcmBenchWorld, type LcmGatewayKind, type RunningLcmGateway } from '../support/lcm-peers.ts';

/**
 * Subscriptions through the gateway (issue 11): N graphql-ws clients, each on its own WebSocket, each
 * following one seeded session (`sessionUpdated(ids: [$id])`, as a student's page or
 * docs/examples/follow-session.ts does) and selecting fields of two other subgraphs (definition name,
 * worker name). A driver changes sessions at a fixed rate through the sessions subgraph's internal
 * mutation `recordSessionLab` (what the lablet-controller calls; cheap, and any status accepts it),
 * writing a sequence number into `cmlLabId`; its send time is the publish time, the client's receive
 * time of the event carrying that number gives the delivery latency (one process, one clock).
 */
export interface SubscriptionsOptions {
  subscribers: number;
  rates: number[];
  /** Seconds of events per rate. */
  durationSec: number;
  gateways: LcmGatewayKind[];
}

export interface SubscriptionCell {
  gateway: LcmGatewayKind;
  rate: number;
  subscribers: number;
  sent: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
  kibPerSubscriber: number;
  /** Events the driver could not publish (the subgraph refused or failed). */
  driverErrors: number;
}

export const FOLLOW = `subscription Follow($ids: [ID!]) {
  sessionUpdated(ids: $ids) { id status cmlLabId definition { name version } worker { name } }
}`;

const DRIVER: Identity = { subject: 'bench-driver', kind: 'service', scopes: [Scope.INTERNAL] };
const RECORD_LAB = 'mutation($id: ID!, $lab: String) { recordSessionLab(id: $id, cmlLabId: $lab) { id } }';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishes session changes straight to the sessions subgraph, as a controller's mutation arrives there. */
class Driver {
  private readonly signer: IdentitySigner;
  readonly sentAt = new Map<string, number>();
  errors = 0;
  private sequence = 0;
  private inFlight = 0;

  constructor(private readonly url: string, secret: string, private readonly sessionIds: string[]) {
    this.signer = new IdentitySigner(secret);
  }

  /** Event `label` on session `i`; resolves when the subgraph answered. */
  async publish(i: number, label = `bench-${this.sequence++}`): Promise<string> {
    const body = JSON.stringify({ query: RECORD_LAB, variables: { id: this.sessionIds[i % this.sessionIds.length], lab: label } });
    const headers = { 'content-type': 'application/json', ...(await forwardedIdentityHeaders(this.signer, DRIVER, body)) };
    this.inFlight++;
    this.sentAt.set(label, performance.now());
    try {
      const response = await fetch(this.url, { method: 'POST', headers, body });
      const json = (await response.json()) as { errors?: unknown };
      if (!response.ok || json.errors) {
        this.errors++;
        this.sentAt.delete(label);
      }
    } catch {
      this.errors++;
      this.sentAt.delete(label);
    } finally {
      this.inFlight--;
    }
    return label;
  }

  /** `rate` events a second for `seconds`, spread over the sessions round robin; resolves when all answered. */
  async run(rate: number, seconds: number, firstSession: number): Promise<number> {
    const total = Math.round(rate * seconds);
    const started = performance.now();
    const pending: Promise<string>[] = [];
    for (let k = 0; k < total; k++) {
      const due = started + (k * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      // Bounded in flight: a subgraph slower than the rate shows up as lateness, not as a pile-up.
      while (this.inFlight >= 256) await sleep(1);
      pending.push(this.publish(firstSession + k));
    }
    await Promise.all(pending);
    return total;
  }
}

interface Subscriber {
  client: Client;
  done: Promise<void>;
}

async function subscribeAll(gateway: RunningLcmGateway, world: LcmBenchWorld, count: number, onEvent: (lab: string) => void): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  for (let i = 0; i < count; i++) {
    const client = createClient({
      url: gateway.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${world.adminToken}` },
      retryAttempts: 0,
      lazy: false,
      // A socket the gateway closes shows as events not delivered; graphql-ws would print each one.
      onNonLazyError: () => {},
    });
    const done = new Promise<void>((resolve) => {
      client.subscribe<{ sessionUpdated: { cmlLabId: string | null } }>(
        { query: FOLLOW, variables: { ids: [world.output.fixture.sessionIds[i]] } },
        {
          next: (message) => {
            const lab = message.data?.sessionUpdated.cmlLabId;
            if (lab) onEvent(lab);
          },
          error: () => resolve(),
          complete: () => resolve(),
        },
      );
    });
    subscribers.push({ client, done });
    if (i % 50 === 49) await sleep(20); // do not open a thousand sockets in one tick
  }
  return subscribers;
}

export async function runSubscriptionsBench(options: SubscriptionsOptions): Promise<{ tables: BenchTable[]; cells: SubscriptionCell[] }> {
  const cells: SubscriptionCell[] = [];
  let world: LcmBenchWorld | undefined;
  try {
    world = await startLcmWorld({ sessions: options.subscribers, definitions: 20, workers: 50, owners: Math.max(10, options.subscribers / 10) });
    const driver = new Driver(world.output.urls.sessions!, world.env[SECRET_ENV]!, world.output.fixture.sessionIds);
    for (const kind of options.gateways) {
      const gateway = await startLcmGateway(world, kind);
      let subscribers: Subscriber[] = [];
      try {
        await sleep(500);
        const rssBefore = residentMiB(gateway.proc.child.pid) ?? Number.NaN;
        const received = new Map<string, number>();
        subscribers = await subscribeAll(gateway, world, options.subscribers, (lab) => {
          if (!received.has(lab)) received.set(lab, performance.now());
        });
        // Ready when one event to every subscriber's session has come back (retried for stragglers).
        const deadline = Date.now() + 60_000;
        const warm = new Set<string>();
        for (let i = 0; i < options.subscribers; i++) warm.add(await driver.publish(i, `warm-${kind}-${i}-0`));
        for (let attempt = 1; Date.now() < deadline; attempt++) {
          await sleep(500);
          const missing = [...warm].filter((l) => !received.has(l));
          if (missing.length === 0) break;
          if (attempt % 6 === 0) {
            for (const label of missing) {
              warm.delete(label);
              const i = Number(label.split('-')[2]);
              warm.add(await driver.publish(i, `warm-${kind}-${i}-${attempt}`));
            }
          }
        }
        const notReady = [...warm].filter((l) => !received.has(l)).length;
        if (notReady > 0) throw new Error(`${kind}: ${notReady} of ${options.subscribers} subscribers got no event in 60 s`);
        const rssAfter = residentMiB(gateway.proc.child.pid) ?? Number.NaN;
        const kibPerSubscriber = ((rssAfter - rssBefore) * 1024) / options.subscribers;
        let firstSession = 0;
        for (const rate of options.rates) {
          received.clear();
          driver.sentAt.clear();
          const errorsBefore = driver.errors;
          const total = await driver.run(rate, options.durationSec, firstSession);
          firstSession += total;
          const sent = driver.sentAt.size;
          // Stragglers: wait until every sent event arrived, or 5 s of nothing new.
          let last = -1;
          for (let quiet = 0; quiet < 10 && received.size < sent; ) {
            await sleep(500);
            quiet = received.size === last ? quiet + 1 : 0;
            last = received.size;
          }
          const latencies: number[] = [];
          for (const [label, at] of driver.sentAt) {
            const got = received.get(label);
            if (got !== undefined) latencies.push(got - at);
          }
          const cell: SubscriptionCell = {
            gateway: kind,
            rate,
            subscribers: options.subscribers,
            sent,
            delivered: latencies.length,
            p50Ms: percentile(latencies, 50),
            p99Ms: percentile(latencies, 99),
            kibPerSubscriber,
            driverErrors: driver.errors - errorsBefore,
          };
          cells.push(cell);
          console.log(`  ${kind} · ${rate}/s: ${cell.delivered}/${cell.sent} delivered, p50 ${cell.p50Ms.toFixed(1)} ms, p99 ${cell.p99Ms.toFixed(1)} ms`);
        }
      } finally {
        await Promise.all(subscribers.map((s) => s.client.dispose()));
        await gateway.proc.stop();
      }
    }
    return { tables: [table(cells, options)], cells };
  } finally {
    await world?.close();
  }
}

function table(cells: SubscriptionCell[], options: SubscriptionsOptions): BenchTable {
  const hive = (c: SubscriptionCell) => cells.find((h) => h.gateway === 'hive' && h.rate === c.rate);
  return {
    title: `Subscriptions through the gateway (${options.subscribers} graphql-ws subscribers, each following one session; ${options.durationSec} s per rate)`,
    columns: ['gateway', 'events/s', 'subscribers', 'p50 ms', 'p99 ms', 'p99 vs Hive (lower is better)', 'delivered/expected', 'KiB per subscriber'],
    rows: cells.map((c) => {
      const h = hive(c);
      return [
        c.gateway,
        c.rate,
        c.subscribers,
        c.p50Ms,
        c.p99Ms,
        h && c.gateway !== 'hive' ? ratio(c.p99Ms, h.p99Ms) : '—',
        `${c.delivered}/${c.sent}${c.driverErrors ? ` (${c.driverErrors} not published)` : ''}`,
        c.kibPerSubscriber,
      ];
    }),
    notes: [
      `Gateways: ${options.gateways.map((g) => `${g} = ${LCM_GATEWAYS[g]}`).join('; ')}.`,
      'Each subscriber selects `sessionUpdated(ids: [its session]) { id status cmlLabId definition { name version } worker { name } }`: every event costs the gateway one upstream event and entity fetches to the definitions and workers subgraphs. Latency: the driver sending the mutation to the sessions subgraph → the subscriber receiving the event (same process, same clock). "expected" counts the events the subgraph accepted; each goes to exactly one subscriber.',
      'KiB per subscriber: the gateway process\'s RSS after every subscriber is connected and has received one event, minus its RSS before, divided by the subscribers (one WebSocket and one subscription each).',
    ],
  };
}
