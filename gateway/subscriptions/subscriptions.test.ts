import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import { GraphQLError, type FormattedExecutionResult } from 'graphql';
import WebSocket from 'ws';
import { createGateway } from '../server.ts';
import type { RunningGateway } from '../types.ts';
import { LABS, startLabSubgraphs, type LabSubgraphs } from '../test-fixtures/lab-subgraphs.ts';

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

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const LAB_UPDATED = `subscription Updates($ids: [ID!]) {
  labUpdated(ids: $ids) { id name owner { name email } uptime }
}`;

describe('federated subscriptions', () => {
  let subgraphs: LabSubgraphs;
  let gateway: RunningGateway;
  const clients: Client[] = [];

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
      subscriptions: { maxPerConnection: 3, upstreamRetryAttempts: 0, keepAliveMs: 100, upstreamKeepAliveMs: 100 },
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await until(() => subgraphs.events.active === 0, 'upstream subscriptions to end');
  });

  afterAll(async () => {
    await gateway?.close();
    await subgraphs?.close();
  });

  it('resolves fields of other subgraphs (entity fetch, @requires) on every event', async () => {
    const client = connect();
    const sub = collect(client, LAB_UPDATED);
    await until(() => subgraphs.events.active === 1, 'the upstream subscription');
    subgraphs.events.publish(LABS[0]!);
    subgraphs.events.publish({ ...LABS[1]!, status: 'RUNNING' });
    await until(() => sub.events.length === 2, 'two events');
    expect(sub.events).toEqual([
      { data: { labUpdated: { id: 'l1', name: 'OSPF basics', owner: { name: 'Ada', email: 'ada@example.test' }, uptime: 3600 } } },
      { data: { labUpdated: { id: 'l2', name: 'BGP peering', owner: { name: 'Alan', email: null }, uptime: 3600 } } },
    ]);
    expect(sub.errors).toEqual([]);
  });

  it('shares one upstream subscription between identical subscriptions', async () => {
    const a = collect(connect(), LAB_UPDATED, { ids: ['l1'] });
    const b = collect(connect(), LAB_UPDATED, { ids: ['l1'] });
    const startedBefore = subgraphs.events.started;
    await until(() => subgraphs.events.active === 1, 'the shared upstream subscription');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(subgraphs.events.active).toBe(1);
    const other = collect(connect(), LAB_UPDATED, { ids: ['l3'] });
    await until(() => subgraphs.events.active === 2, 'a second upstream for other variables');

    subgraphs.events.publish(LABS[0]!);
    subgraphs.events.publish(LABS[2]!);
    await until(() => a.events.length === 1 && b.events.length === 1 && other.events.length === 1, 'events');
    expect(a.events).toEqual(b.events);
    expect(other.events[0]).toMatchObject({ data: { labUpdated: { id: 'l3' } } });
    expect(subgraphs.events.started - startedBefore).toBe(2);

    // The shared upstream lives until its last subscriber leaves.
    a.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(subgraphs.events.active).toBe(2);
    b.stop();
    await until(() => subgraphs.events.active === 1, 'the shared upstream to end with its last subscriber');
  });

  it('does not share between different forwarded identities, and forwards them upstream', async () => {
    const query = `subscription { labUpdated { id owner { strict } } }`;
    const alice = collect(connect('alice'), query);
    const bob = collect(connect('bob'), query);
    await until(() => subgraphs.events.active === 2, 'one upstream per identity');
    subgraphs.events.publish(LABS[0]!);
    await until(() => alice.events.length === 1 && bob.events.length === 1, 'events');
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
      await until(() => subgraphs.events.active === 1, 'one shared upstream for one sharing key');
      subgraphs.events.publish(LABS[0]!);
      await until(() => first.events.length === 1 && second.events.length === 1, 'the first event');
      subgraphs.events.publish(LABS[0]!);
      await until(() => first.events.length === 2, 'the second event');
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
    await until(() => subgraphs.events.active === 3, 'three upstream subscriptions');
    const refused = collect(client, LAB_UPDATED, { ids: ['l4'] });
    await until(() => refused.errors.length === 1, 'the refusal');
    expect(refused.errors[0]).toEqual([
      {
        message: 'Too many operations on this connection: at most 3 may be open at once.',
        extensions: { code: 'SUBSCRIPTION_LIMIT_EXCEEDED' },
      },
    ]);
    // The others keep working.
    subgraphs.events.publish(LABS[1]!);
    await until(() => open[1]!.events.length === 1, 'an event on a subscription opened before');
  });

  it('disposes the upstream subscription when the client disconnects', async () => {
    const client = connect();
    collect(client, LAB_UPDATED);
    await until(() => subgraphs.events.active === 1, 'the upstream subscription');
    await client.dispose();
    await until(() => subgraphs.events.active === 0, 'the upstream subscription to be disposed');
  });

  it("reports an entity fetch error in that event's errors and keeps the stream going", async () => {
    const sub = collect(connect(), `subscription { labUpdated { id owner { name } } }`);
    await until(() => subgraphs.events.active === 1, 'the upstream subscription');
    subgraphs.events.publish(LABS[3]!); // owner u-err: the people subgraph fails on name
    subgraphs.events.publish(LABS[0]!);
    await until(() => sub.events.length === 2, 'two events');
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
    await until(() => subgraphs.events.active === 1, 'the upstream subscription');
    await until(() => subgraphs.labs.pings > pingsBefore, 'a ping from the gateway to the subgraph');
  });

  it('runs queries and mutations over the WebSocket too', async () => {
    const sub = collect(connect(), `mutation { renameLab(id: "l2", name: "renamed") { name owner { name } } }`);
    await until(() => sub.completed, 'the mutation result');
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
    await until(() => subgraphs.events.active === 1, 'the upstream subscription');
    subgraphs.labs.dropWebSockets();
    await until(() => sub.completed, 'the subscription to end');
    expect(sub.events).toHaveLength(1);
    expect(sub.events[0]!.errors?.[0]).toMatchObject({
      extensions: { code: 'SUBSCRIPTION_UPSTREAM_CLOSED', serviceName: 'labs' },
    });
  });
});
