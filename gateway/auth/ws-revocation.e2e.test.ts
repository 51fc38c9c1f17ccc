import { generateKeyPair, SignJWT } from 'jose';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../core/logging.ts';
import { MongoStorage } from '../../core/persistence/mongo-document-store.ts';
import type { Storage } from '../../core/persistence/document-store.ts';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { LAB_YAML } from '../../test/support/subgraph-harness.ts';
import { DEFAULT_LIMITS } from '../limits/limits.ts';
import { startLcmGateway, type LcmGateway, type LcmGatewayOptions } from '../lcm-gateway.ts';

/**
 * Issue 12, item 2: a revoked key stops working on open WebSocket connections, on every replica.
 * Two gateway replicas share one key store — one MongoDB (each replica its own connection), or one
 * in-memory store — and re-validate open connections every 200 ms; the key cache holds 5 s, so the
 * bound on the other replica is ~5.2 s.
 */
const ADMIN = 'ws-revocation-admin-token-0123456789';
const REVALIDATE_MS = 200;
const MUTATION = `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`;
const input = (name: string) => ({
  input: {
    name,
    version: '1.0.0',
    labYaml: LAB_YAML,
    resourceRequirements: { cpuCores: 1, memoryGb: 1, storageGb: 1, nodeCount: 2 },
    portTemplate: [{ name: 'console', protocol: 'serial' }],
  },
});

interface Closed {
  code: number;
  reason: string;
}

interface WsClient {
  client: Client;
  closed: Promise<Closed>;
  run(query: string, variables?: Record<string, unknown>): Promise<{ data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> }>;
}

function connect(url: string, token: string): WsClient {
  let onClosed: (c: Closed) => void = () => {};
  const closed = new Promise<Closed>((r) => (onClosed = r));
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: { closed: (ev) => onClosed({ code: (ev as { code: number }).code, reason: String((ev as { reason: string }).reason) }) },
  });
  return {
    client,
    closed,
    run: (query, variables = {}) =>
      new Promise((resolve) => {
        let result: Awaited<ReturnType<WsClient['run']>> = {};
        client.subscribe(
          { query, variables },
          {
            next: (v) => void (result = v as typeof result),
            error: (e) => resolve(Array.isArray(e) ? { errors: e as never } : { errors: [{ message: String((e as { reason?: string }).reason ?? e) }] }),
            complete: () => resolve(result),
          },
        );
      }),
  };
}

async function admin(gateway: LcmGateway, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as Record<string, unknown>;
}

describe.each(['memory', 'mongodb'] as const)('WebSocket connections and credentials (%s key store)', (kind) => {
describe(`two gateway replicas, one ${kind} key store`, () => {
  let system: RunningSystem;
  const stores: Storage[] = [];
  let a: LcmGateway;
  let b: LcmGateway;
  const clients: WsClient[] = [];
  let common: LcmGatewayOptions;

  beforeAll(async () => {
    const mongoDb = `ws_revocation_${process.pid}_${Date.now()}`;
    system = await startSystem({
      adminToken: ADMIN,
      gatewayPort: 0,
      simulators: false,
      controllers: false,
      logger: silentLogger,
      ...(kind === 'mongodb' ? { mongoUri: inject('mongoUri'), mongoDb } : {}),
    });
    const subgraphUrls = Object.fromEntries(Object.entries(system.subgraphs).map(([n, s]) => [n, s.graphqlUrl]));
    // Two replicas on one key store: with MongoDB, each its own connection, as separate processes.
    const storage = async (): Promise<Storage> => {
      if (kind === 'memory') return system.deps.storage;
      const s = await MongoStorage.connect(inject('mongoUri'), mongoDb);
      stores.push(s);
      return s;
    };
    common = { port: 0, storage: system.deps.storage, signer: system.deps.signer, adminToken: ADMIN, logger: silentLogger, subgraphUrls, webSocketRevalidateMs: REVALIDATE_MS };
    a = await startLcmGateway({ ...common, storage: await storage() });
    b = await startLcmGateway({ ...common, storage: await storage() });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.client.dispose();
    await a?.close();
    await b?.close();
    for (const s of stores) await s.close();
    if (system?.deps.storage instanceof MongoStorage) await system.deps.storage.dropDatabase().catch(() => {});
    await system?.stop();
  });

  const wsUrl = (g: LcmGateway) => `${g.url.replace('http', 'ws')}/graphql`;

  it('closes connections of a revoked key with 4403 on every replica; operations on them fail UNAUTHENTICATED', { timeout: 30_000 }, async () => {
    const created = (await admin(a, 'POST', '/admin/api-keys', { name: 'partner-ws', scopes: ['read', 'definitions:write'] })) as { key: string; apiKey: { id: string } };
    const onA = connect(wsUrl(a), created.key);
    const onB = connect(wsUrl(b), created.key);
    clients.push(onA, onB);
    expect((await onA.run(MUTATION, input('before-revocation'))).errors).toBeUndefined();
    expect((await onB.run('{ definitions(first: 1) { totalCount } }')).errors).toBeUndefined();
    // A subscription stays open on B: it must end with the connection.
    const events: unknown[] = [];
    onB.client.subscribe({ query: 'subscription { sessionUpdated { id } }' }, { next: (e) => void events.push(e), error: () => {}, complete: () => {} });

    const revokedAt = Date.now();
    await admin(a, 'DELETE', `/admin/api-keys/${created.apiKey.id}`);

    // On the replica that revoked: the next operation fails, and the connection closes.
    const after = await onA.run(MUTATION, input('after-revocation'));
    expect(after.errors?.[0]?.extensions?.code ?? after.errors?.[0]?.message).toMatch(/UNAUTHENTICATED|4403/);
    expect(await onA.closed).toEqual({ code: 4403, reason: expect.stringMatching(/^UNAUTHENTICATED: /) as unknown as string });

    // On the other replica: closed within the bound (key cache 5 s + one re-validation interval).
    const closedOnB = await onB.closed;
    expect(closedOnB.code).toBe(4403);
    expect(closedOnB.reason).toMatch(/^UNAUTHENTICATED: invalid or revoked API key/);
    expect(Date.now() - revokedAt).toBeLessThan(5_000 + REVALIDATE_MS + 2_000);

    // Nothing was created after the revocation; a new connection with the key is refused at once.
    const names = await fetch(`${a.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ query: '{ definitions(first: 100) { edges { node { name } } } }' }),
    }).then(async (r) => JSON.stringify(await r.json()));
    expect(names).toContain('before-revocation');
    expect(names).not.toContain('after-revocation');
    const again = connect(wsUrl(b), created.key);
    clients.push(again);
    expect((await again.closed).code).toBe(4403);
  });

  it('closes an OIDC connection when its token expires', { timeout: 20_000 }, async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const oidc = { issuer: 'https://idp.test', audience: 'lcm', keys: async () => publicKey };
    const g = await startLcmGateway({ ...common, oidc });
    try {
      const exp = Math.floor(Date.now() / 1000) + 2;
      const jwt = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg: 'RS256' }).setSubject('alice').setIssuer(oidc.issuer).setAudience(oidc.audience).setExpirationTime(exp).sign(privateKey);
      const c = connect(wsUrl(g), jwt);
      clients.push(c);
      expect((await c.run('{ definitions(first: 1) { totalCount } }')).errors).toBeUndefined();
      const closed = await c.closed;
      expect(closed.code).toBe(4403);
      expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
      expect(Date.now()).toBeLessThan(exp * 1000 + 2_000);
    } finally {
      await g.close();
    }
  });

  it('closes a socket that sends a message over maxBodyBytes with 1009, and stays healthy', { timeout: 20_000 }, async () => {
    const socket = new WebSocket(wsUrl(a), 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${ADMIN}` } }));
    const padding = 'x'.repeat(DEFAULT_LIMITS.maxBodyBytes + 1024);
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ __typename }', variables: { padding } } }));
    expect(await closed).toBe(1009);

    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
    const fine = connect(wsUrl(a), ADMIN);
    clients.push(fine);
    expect((await fine.run('{ definitions(first: 1) { totalCount } }')).errors).toBeUndefined();
  });
});
});
