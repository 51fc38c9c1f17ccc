/**
 * Subscriptions lose no event (ADR 0003, "Resuming"): one suite, registered by
 * `subscriptionResumeContract(name, makeBus)` for every event bus (in-memory, etcd on the embedded
 * store, etcd on a real etcd). Real sockets end to end: a graphql-ws client → the gateway → a TCP
 * proxy → a small subgraph whose subscription is served exactly as the project's are
 * (`subscribeIterator` on the bus, the graphql-ws server's `subscribeWithCursors`).
 */
import http from 'node:http';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { cloudEvent, EventTopic } from '../../../core/events/cloudevent.ts';
import { subscribeWithCursors } from '../../../core/graphql/subscribe-with-cursors.ts';
import { listen } from '../../../core/ops/ops-server.ts';
import { subscribeIterator, type EventBus } from '../../../core/ports/event-bus.ts';
import { createGateway } from '../../../gateway/server.ts';
import type { RunningGateway } from '../../../gateway/types.ts';
import { eventually } from '../eventually.ts';
import { composeSupergraph } from '../gateway/compose.ts';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy.ts';

export interface ResumeBusOptions {
  /** Events kept per topic (the bus's trimming), to make a cursor expire. */
  maxEventsPerTopic?: number;
}

/** A bus for one test; `close` stops it (and its store). */
export type MakeBus = (options: ResumeBusOptions) => Promise<{ bus: EventBus; close(): Promise<void> }>;

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Tick @key(fields: "id") { id: ID! n: Int! }
  type Query { lastTick: Tick }
  type Subscription { ticked(after: String): Tick! }
`);

interface Ticks {
  /** What each subscribe message asked for (`after` included). */
  subscribes: Record<string, unknown>[];
  url: string;
  close(): Promise<void>;
}

async function startTicksSubgraph(bus: EventBus): Promise<Ticks> {
  const schema = buildSubgraphSchema({
    typeDefs,
    resolvers: {
      Query: { lastTick: () => null },
      Subscription: {
        ticked: {
          subscribe: (_: unknown, { after }: { after?: string | null }) =>
            subscribeIterator(bus, EventTopic.session, (e) => ({ id: 'clock', n: (e.data as { n: number }).n }), { after }),
          resolve: (tick: unknown) => tick,
        },
      },
    } as never,
  });
  const subscribes: Record<string, unknown>[] = [];
  const server = http.createServer((_, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const cleanup = useServer(
    {
      schema,
      subscribe: subscribeWithCursors,
      onSubscribe: (_ctx, _id, payload) => void subscribes.push({ ...payload.variables }),
    },
    wss,
  );
  const running = await listen(server, 0, '127.0.0.1');
  return {
    subscribes,
    url: `${running.url}/graphql`,
    async close() {
      await cleanup.dispose();
      wss.close();
      await running.close();
    },
  };
}

interface Collected {
  events: FormattedExecutionResult<{ ticked: { n: number } }, { cursor?: string }>[];
  errors: unknown[];
  completed: boolean;
}

const TICKED = 'subscription Ticks($after: String) { ticked(after: $after) { n } }';

export function subscriptionResumeContract(name: string, makeBus: MakeBus): void {
  describe(`subscriptions resume from the event bus position (${name})`, () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** A bus, the ticks subgraph behind a TCP proxy, and a gateway routing to the proxy. */
    async function system(options: ResumeBusOptions = {}) {
      const { bus, close } = await makeBus(options);
      cleanups.push(close);
      const ticks = await startTicksSubgraph(bus);
      cleanups.push(() => ticks.close());
      const proxy: TcpProxy = await startTcpProxy({ port: Number(new URL(ticks.url).port) });
      cleanups.push(() => proxy.close());
      const gateway: RunningGateway = await createGateway({
        supergraphSdl: composeSupergraph([{ name: 'ticks', url: `${proxy.url}/graphql`, typeDefs }]),
        context: () => ({ forwardHeaders: {} }),
        subscriptions: { upstreamRetryAttempts: 20, upstreamKeepAliveMs: 0, keepAliveMs: 0 },
      });
      cleanups.push(() => gateway.close());
      let n = 0;
      const publish = () => bus.publish(EventTopic.session, cloudEvent({ source: 'test', type: 'tick', data: { n: ++n } }));
      const subscribe = (variables: Record<string, unknown> = {}, query = TICKED): Collected & { client: Client } => {
        const client = createClient({ url: gateway.url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0 });
        cleanups.push(async () => void (await client.dispose()));
        const collected: Collected & { client: Client } = { events: [], errors: [], completed: false, client };
        client.subscribe<{ ticked: { n: number } }, { cursor?: string }>(
          { query, variables },
          {
            next: (value) => collected.events.push(value),
            error: (error) => collected.errors.push(error),
            complete: () => (collected.completed = true),
          },
        );
        return collected;
      };
      /** Publishes until the subscription sees an event (so it is live upstream); returns how many were published. */
      const untilLive = async (sub: Collected) => {
        await eventually('the subscription to be live', async () => {
          await publish();
          await new Promise((r) => setTimeout(r, 20));
          return sub.events.length > 0;
        });
        return n;
      };
      return { ticks, proxy, publish, subscribe, untilLive, published: () => n };
    }

    const numbers = (sub: Collected) => sub.events.map((e) => e.data?.ticked.n);

    it('the gateway re-subscribes after the last cursor when its socket to the subgraph drops: every event, in order, once', async () => {
      const { ticks, proxy, publish, subscribe, untilLive, published } = await system();
      const sub = subscribe();
      const first = await untilLive(sub);
      await eventually('the first events', () => sub.events.length === 1 && numbers(sub)[0] === first);
      // Published continuously; the gateway's socket to the subgraph is cut in the middle.
      for (let i = 0; i < 10; i++) await publish();
      await eventually('ten more events', () => sub.events.length === 11);
      proxy.cut();
      for (let i = 0; i < 10; i++) await publish();
      await new Promise((r) => setTimeout(r, 150)); // a failed reconnection attempt or two
      for (let i = 0; i < 5; i++) await publish();
      proxy.restore();
      for (let i = 0; i < 5; i++) await publish();
      const total = published();
      await eventually('every event', () => sub.events.length >= total - first + 1, { timeoutMs: 15_000 });
      expect(numbers(sub)).toEqual(Array.from({ length: total - first + 1 }, (_, i) => first + i));
      expect(sub.errors).toEqual([]);
      // It did reconnect, and resumed after the last cursor it had.
      expect(ticks.subscribes.length).toBeGreaterThanOrEqual(2);
      expect(ticks.subscribes.at(-1)?.['lcmResumeAfter']).toBe(sub.events[10]!.extensions?.cursor);
      const cursors = sub.events.map((e) => e.extensions?.cursor);
      expect(cursors.every((c) => typeof c === 'string')).toBe(true);
      expect(new Set(cursors).size).toBe(cursors.length);
    });

    it('a client that reconnects with after: <last cursor> receives exactly the events it missed, then live ones', async () => {
      const { publish, subscribe, untilLive, published } = await system();
      const first = subscribe();
      await untilLive(first);
      for (let i = 0; i < 3; i++) await publish();
      await eventually('the events so far', () => first.events.length === published() - numbers(first)[0]! + 1);
      const last = first.events.at(-1)!;
      await first.client.dispose();
      const missed = [1, 2, 3, 4, 5].map(() => 0);
      for (let i = 0; i < missed.length; i++) await publish();
      const resumed = subscribe({ after: last.extensions?.cursor });
      await eventually('the missed events', () => resumed.events.length === 5);
      await publish();
      await eventually('a live event', () => resumed.events.length === 6);
      const lastSeen = last.data!.ticked.n;
      expect(numbers(resumed)).toEqual([1, 2, 3, 4, 5, 6].map((i) => lastSeen + i));
      // The same with the cursor written inline.
      const inline = subscribe({}, `subscription { ticked(after: ${JSON.stringify(last.extensions?.cursor)}) { n } }`);
      await eventually('the events after the cursor', () => inline.events.length === 6);
      expect(numbers(inline)).toEqual(numbers(resumed));
      expect([...resumed.errors, ...inline.errors]).toEqual([]);
    });

    it('a cursor older than the retention is refused with SUBSCRIPTION_CURSOR_EXPIRED (never a silent gap)', async () => {
      const { publish, subscribe, untilLive } = await system({ maxEventsPerTopic: 5 });
      const live = subscribe();
      await untilLive(live);
      const old = live.events[0]!.extensions?.cursor;
      for (let i = 0; i < 40; i++) await publish();
      await eventually('the events', () => live.events.length === 41);
      // Trimming runs in the background on the etcd bus: the refusal comes once it has.
      await eventually(
        'the old cursor to be refused',
        async () => {
          const resumed = subscribe({ after: old });
          await eventually('an answer', () => resumed.completed && resumed.events.length > 0);
          const codes = resumed.events.flatMap((e) => e.errors ?? []).map((e) => e.extensions?.['code']);
          if (!codes.includes('SUBSCRIPTION_CURSOR_EXPIRED')) throw new Error(`got ${JSON.stringify(resumed.events)}`);
          expect(resumed.events.every((e) => e.data === undefined || e.data === null)).toBe(true);
          return true;
        },
        { timeoutMs: 10_000 },
      );
      const garbage = subscribe({ after: 'not-a-cursor' });
      await eventually('the refusal', () => garbage.completed);
      expect(garbage.events.flatMap((e) => e.errors ?? []).map((e) => e.extensions?.['code'])).toContain('SUBSCRIPTION_CURSOR_EXPIRED');
    });
  });
}
