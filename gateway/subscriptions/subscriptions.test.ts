import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import { GraphQLError, type FormattedExecutionResult } from 'graphql';
import WebSocket from 'ws';
import { createGateway } from '../server.ts';
import type { RunningGateway } from '../types.ts';
import { describeUpstreamEnd, upstreamErrors } from './upstream.ts';
import { eventually } from '../../test/support/eventually.ts';
import { LABS, startLabSubgraphs, type LabSubgraphs } from '../../test/support/gateway/lab-subgraphs.ts';
import { subscriptionResumeContract } from '../../test/support/contracts/subscription-resume.contract.ts';
import { MemoryEventBus } from '../../core/adapters/memory/memory-event-bus.ts';
import { MemoryCoordinationCluster } from '../../core/adapters/memory/memory-coordination.ts';
import { EtcdEventBus } from '../../core/adapters/etcd/etcd-event-bus.ts';

/**
 * Federated subscriptions end to end: real subgraphs (HTTP + graphql-ws), the gateway, and
 * graphql-ws clients.
 */
interface Collected {
  events: FormattedExecutionResult<Record<string, unknown>, unknown>[];
  errors: unknown[];
  completed: boolean;
  stop: () => void;
}

function collect(client: Client, query: string, variables?: Record<string, unknown>): Collected {
  const collected: Collected = { events: [], errors: [], completed: false, stop: () => {} };
  collected.stop = client.subscribe(
    { query, variables },
    {
      next: (value) => collected.events.push(value),
      error: (error) => collected.errors.push(error),
      complete: () => (collected.completed = true),
    },
  );
  return collected;
}

const LAB_UPDATED = `subscription Updates($ids: [ID!]) {
  labUpdated(ids: $ids) { id name owner { name email } uptime }
}`;

describe('federated subscriptions', () => {
  let subgraphs: LabSubgraphs;
  let gateway: RunningGateway;
  const clients: Client[] = [];
  /** Client subscriptions the gateway opened and closed (its plugin hooks). */
  const clientSubscriptions = { opened: 0, closed: 0 };

  const connect = (identity?: string): Client => {
    const client = createClient({
      url: gateway.url.replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: identity ? { identity } : {},
      retryAttempts: 0,
      lazy: false,
    });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    subgraphs = await startLabSubgraphs();
    gateway = await createGateway({
      supergraphSdl: subgraphs.supergraphSdl,
      context: (input) => {
        const identity = input.transport === 'ws' ? input.connectionParams?.identity : undefined;
        if (identity === 'intruder') {
          throw new GraphQLError('intruders are not welcome', { extensions: { code: 'UNAUTHENTICATED' } });
        }
        const forwardHeaders: Record<string, string> = typeof identity === 'string' ? { 'x-forwarded-identity': identity } : {};
        return { forwardHeaders };
      },
      plugins: [
        {
          subscriptionOpened: () => void clientSubscriptions.opened++,
          subscriptionClosed: () => void clientSubscriptions.closed++,
        },
      ],
      subscriptions: { maxPerConnection: 3, upstreamRetryAttempts: 0, keepAliveMs: 100, upstreamKeepAliveMs: 100 },
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await eventually('upstream subscriptions to end', () => subgraphs.events.active === 0);
  });

  afterAll(async () => {
    await gateway?.close();
    await subgraphs?.close();
  });

  it('resolves fields of other subgraphs (entity fetch, @requires) on every event', async () => {
    const client = connect();
    const sub = collect(client, LAB_UPDATED);
    await eventually('the upstream subscription', () => subgraphs.events.active === 1);
    subgraphs.events.publish(LABS[0]!);
    subgraphs.events.publish({ ...LABS[1]!, status: 'RUNNING' });
    await eventually('two events', () => sub.events.length === 2);
    expect(sub.events).toEqual([
      { data: { labUpdated: { id: 'l1', name: 'OSPF basics', owner: { name: 'Ada', email: 'ada@example.test' }, uptime: 3600 } } },
      { data: { labUpdated: { id: 'l2', name: 'BGP peering', owner: { name: 'Alan', email: null }, uptime: 3600 } } },
    ]);
    expect(sub.errors).toEqual([]);
  });

  it('shares one upstream subscription between identical subscriptions', async () => {
    const openedBefore = clientSubscriptions.opened;
    const a = collect(connect(), LAB_UPDATED, { ids: ['l1'] });
    const b = collect(connect(), LAB_UPDATED, { ids: ['l1'] });
    const startedBefore = subgraphs.events.started;
    await eventually('the shared upstream subscription', () => subgraphs.events.active === 1);
    // Positive signal: the gateway has opened both client subscriptions (it attaches them synchronously).
    await eventually('both client subscriptions at the gateway', () => clientSubscriptions.opened - openedBefore >= 2);
    expect(subgraphs.events.active).toBe(1);
    const other = collect(connect(), LAB_UPDATED, { ids: ['l3'] });
    await eventually('a second upstream for other variables', () => subgraphs.events.active === 2);

    subgraphs.events.publish(LABS[0]!);
    subgraphs.events.publish(LABS[2]!);
    await eventually('events', () => a.events.length === 1 && b.events.length === 1 && other.events.length === 1);
    expect(a.events).toEqual(b.events);
    expect(other.events[0]).toMatchObject({ data: { labUpdated: { id: 'l3' } } });
    expect(subgraphs.events.started - startedBefore).toBe(2);

    // The shared upstream lives until its last subscriber leaves.
    const closedBefore = clientSubscriptions.closed;
    a.stop();
    await eventually('the first subscriber to leave the gateway', () => clientSubscriptions.closed > closedBefore);
    // Positive signal: the shared upstream still delivers to the remaining subscriber.
    subgraphs.events.publish(LABS[0]!);
    await eventually('the next event for the remaining subscriber', () => b.events.length === 2);
    expect(a.events).toHaveLength(1);
    expect(subgraphs.events.active).toBe(2);
    b.stop();
    await eventually('the shared upstream to end with its last subscriber', () => subgraphs.events.active === 1);
  });

  it('does not share between different forwarded identities, and forwards them upstream', async () => {
    const query = `subscription { labUpdated { id owner { strict } } }`;
    const alice = collect(connect('alice'), query);
    const bob = collect(connect('bob'), query);
    await eventually('one upstream per identity', () => subgraphs.events.active === 2);
    subgraphs.events.publish(LABS[0]!);
    await eventually('events', () => alice.events.length === 1 && bob.events.length === 1);
    // `strict` echoes the identity header the people subgraph received with the entity fetch.
    expect(alice.events[0]).toEqual({ data: { labUpdated: { id: 'l1', owner: { strict: 'Ada:alice' } } } });
    expect(bob.events[0]).toEqual({ data: { labUpdated: { id: 'l1', owner: { strict: 'Ada:bob' } } } });
    expect(subgraphs.labs.connectionParams).toContainEqual({ 'x-forwarded-identity': 'alice' });
  });

  it('refreshes forwarded headers for every event, and shares by sharing key', async () => {
    let version = 0;
    const rotating = await createGateway({
      supergraphSdl: subgraphs.supergraphSdl,
      // A short-lived credential: each call signs a new one; the caller stays the same.
      context: (input) => ({
        forwardHeaders: { 'x-forwarded-identity': `carol-v${version}`, 'x-connection': String(input.transport) + Math.random() },
        sharingKey: 'carol',
        refreshForwardHeaders: () => ({ 'x-forwarded-identity': `carol-v${++version}` }),
      }),
    });
    try {
      const url = rotating.url.replace(/^http/, 'ws') + '/graphql';
      const open = () => {
        const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
        clients.push(client);
        return collect(client, `subscription { labUpdated { owner { strict } } }`);
      };
      const first = open();
      const second = open();
      await eventually('one shared upstream for one sharing key', () => subgraphs.events.active === 1);
      subgraphs.events.publish(LABS[0]!);
      await eventually('the first event', () => first.events.length === 1 && second.events.length === 1);
      subgraphs.events.publish(LABS[0]!);
      await eventually('the second event', () => first.events.length === 2);
      const strict = first.events.map((e) => (e.data as { labUpdated: { owner: { strict: string } } }).labUpdated.owner.strict);
      expect(strict[0]).toMatch(/^Ada:carol-v\d+$/);
      expect(strict[1]).not.toBe(strict[0]);
      expect(second.events).toEqual(first.events.slice(0, second.events.length));
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.dispose()));
      await rotating.close();
    }
  });

  it('limits open operations per connection with a clear error', async () => {
    const client = connect();
    const open = [1, 2, 3].map((i) => collect(client, LAB_UPDATED, { ids: [`l${i}`] }));
    await eventually('three upstream subscriptions', () => subgraphs.events.active === 3);
    const refused = collect(client, LAB_UPDATED, { ids: ['l4'] });
    await eventually('the refusal', () => refused.errors.length === 1);
    expect(refused.errors[0]).toEqual([
      {
        message: 'Too many operations on this connection: at most 3 may be open at once.',
        extensions: { code: 'SUBSCRIPTION_LIMIT_EXCEEDED' },
      },
    ]);
    // The others keep working.
    subgraphs.events.publish(LABS[1]!);
    await eventually('an event on a subscription opened before', () => open[1]!.events.length === 1);
  });

  it('disposes the upstream subscription when the client disconnects', async () => {
    const client = connect();
    collect(client, LAB_UPDATED);
    await eventually('the upstream subscription', () => subgraphs.events.active === 1);
    await client.dispose();
    await eventually('the upstream subscription to be disposed', () => subgraphs.events.active === 0);
  });

  it("reports an entity fetch error in that event's errors and keeps the stream going", async () => {
    const sub = collect(connect(), `subscription { labUpdated { id owner { name } } }`);
    await eventually('the upstream subscription', () => subgraphs.events.active === 1);
    subgraphs.events.publish(LABS[3]!); // owner u-err: the people subgraph fails on name
    subgraphs.events.publish(LABS[0]!);
    await eventually('two events', () => sub.events.length === 2);
    expect(sub.events[0]).toEqual({
      errors: [
        {
          message: 'user u-err cannot be read',
          path: ['labUpdated', 'owner', 'name'],
          extensions: { code: 'FORBIDDEN', serviceName: 'people' },
        },
      ],
      data: null,
    });
    expect(sub.events[1]).toEqual({ data: { labUpdated: { id: 'l1', owner: { name: 'Ada' } } } });
    expect(sub.completed).toBe(false);
  });

  it('keeps connections alive with pings, towards clients and towards subgraphs', async () => {
    const socket = new WebSocket(gateway.url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    const pinged = new Promise<void>((resolve) => socket.once('ping', () => resolve()));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await pinged;
    socket.close();

    const pingsBefore = subgraphs.labs.pings;
    collect(connect(), LAB_UPDATED);
    await eventually('the upstream subscription', () => subgraphs.events.active === 1);
    await eventually('a ping from the gateway to the subgraph', () => subgraphs.labs.pings > pingsBefore);
  });

  it('runs queries and mutations over the WebSocket too', async () => {
    const sub = collect(connect(), `mutation { renameLab(id: "l2", name: "renamed") { name owner { name } } }`);
    await eventually('the mutation result', () => sub.completed);
    expect(sub.events).toEqual([{ data: { renameLab: { name: 'renamed', owner: { name: 'Alan' } } } }]);
  });

  it('closes a connection the context hook refuses', async () => {
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: gateway.url.replace(/^http/, 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        connectionParams: { identity: 'intruder' },
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => {},
        on: { closed: (event) => resolve(event as { code: number; reason: string }) },
      });
      clients.push(client);
    });
    expect(await closed).toMatchObject({ code: 4403, reason: 'UNAUTHENTICATED: intruders are not welcome' });
  });

  it('ends subscriptions with an error when the subgraph goes away', async () => {
    const sub = collect(connect(), LAB_UPDATED);
    await eventually('the upstream subscription', () => subgraphs.events.active === 1);
    subgraphs.labs.dropWebSockets();
    await eventually('the subscription to end', () => sub.completed);
    expect(sub.events).toHaveLength(1);
    expect(sub.events[0]!.errors?.[0]).toMatchObject({
      extensions: { code: 'SUBSCRIPTION_UPSTREAM_CLOSED', serviceName: 'labs' },
    });
    expect(sub.events[0]!.errors?.[0]?.message).toMatch(/^The subscription to subgraph "labs" ended: /);
    expect(sub.events[0]!.errors?.[0]?.message).not.toMatch(/\[object Object\]|127\.0\.0\.1|ECONN/);
  });
});

describe('what a client reads when an upstream subscription ends', () => {
  it('is the close frame of a socket, or only that the connection was lost — never an object dump or an internal address', () => {
    expect(describeUpstreamEnd({ code: 1011, reason: 'subgraph shutting down' })).toBe('its socket closed (1011: subgraph shutting down)');
    expect(describeUpstreamEnd({ code: 1006 })).toBe('its socket closed (1006)');
    expect(describeUpstreamEnd({ code: 4500, reason: 'connect ECONNREFUSED 127.0.0.1:27017' })).toBe('its socket closed (4500)');
    // A subgraph's errors: public codes pass (less internal extensions), anything else is not repeated.
    expect(
      upstreamErrors('sessions', [
        { message: 'cursor expired', extensions: { code: 'SUBSCRIPTION_CURSOR_EXPIRED', stacktrace: ['at x'] } },
        { message: 'MongoServerError: connect ECONNREFUSED 127.0.0.1:27017', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
        { message: 'no code at all' },
      ]),
    ).toEqual([
      { message: 'cursor expired', extensions: { code: 'SUBSCRIPTION_CURSOR_EXPIRED', serviceName: 'sessions' } },
      { message: 'The subscription to subgraph "sessions" ended: it failed', extensions: { code: 'SUBSCRIPTION_UPSTREAM_CLOSED', serviceName: 'sessions' } },
      { message: 'The subscription to subgraph "sessions" ended: it failed', extensions: { code: 'SUBSCRIPTION_UPSTREAM_CLOSED', serviceName: 'sessions' } },
    ]);
    expect(describeUpstreamEnd(new Error('connect ECONNREFUSED 127.0.0.1:4003'))).toBe('the connection to it was lost');
    expect(describeUpstreamEnd({ type: 'error', target: {} })).toBe('the connection to it was lost');
    expect(describeUpstreamEnd([{ message: 'boom' }])).toBe('boom');
  });
});

// No event lost across reconnections (ADR 0003, "Resuming"), on the buses of one process: the
// in-memory bus (`npm start`) and the etcd bus on the embedded store; real etcd in resume.int.test.ts.
subscriptionResumeContract('memory bus', async (options) => {
  const bus = new MemoryEventBus(options);
  return { bus, close: () => bus.close() };
});
subscriptionResumeContract('etcd bus on the embedded store', async (options) => {
  const cluster = new MemoryCoordinationCluster();
  const store = cluster.client();
  const bus = await EtcdEventBus.start(store, options);
  return {
    bus,
    close: async () => {
      await bus.close();
      await store.close();
      cluster.close();
    },
  };
});
