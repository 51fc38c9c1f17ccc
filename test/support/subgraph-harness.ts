import { readFileSync } from 'node:fs';
/**
 * Test harness for a subgraph over real HTTP: builds dependencies (memory or MongoDB storage), starts
 * the subgraph on a free port, and calls it with a signed identity like the gateway does.
 */
import { randomBytes } from 'node:crypto';
import { ALL_SCOPES, IdentitySigner, forwardedIdentityHeaders, type Identity, type Scope } from '../../core/auth/identity.ts';
import { MemoryEventBus } from '../../core/adapters/memory/memory-event-bus.ts';
import { silentLogger } from '../../core/logging.ts';
import type { Storage } from '../../core/persistence/document-store.ts';
import { MemoryStorage } from '../../core/persistence/memory-document-store.ts';
import { MongoStorage } from '../../core/persistence/mongo-document-store.ts';
import type { SubgraphDeps } from '../../core/subgraph/deps.ts';
import type { SubgraphServer } from '../../core/graphql/subgraph-server.ts';

export interface GraphQLResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> & { code?: string } }>;
}

export interface CallOptions {
  scopes?: readonly Scope[];
  subject?: string;
  /** Send no identity header at all. */
  anonymous?: boolean;
  kind?: Identity['kind'];
}

export interface Harness {
  deps: SubgraphDeps;
  server: SubgraphServer;
  call<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, options?: CallOptions): Promise<GraphQLResponse<T>>;
  /** A second replica of the subgraph on the same dependencies (storage, bus, coordination), closed with the harness. */
  replica(start: (deps: SubgraphDeps) => Promise<SubgraphServer>): Promise<Pick<Harness, 'call' | 'server'>>;
  close(): Promise<void>;
}

export type StorageKind = 'memory' | 'mongodb';

export async function openStorage(kind: StorageKind, mongoUri?: string): Promise<Storage> {
  if (kind === 'memory') return new MemoryStorage();
  if (!mongoUri) throw new Error('mongoUri is required for the mongodb storage');
  return MongoStorage.connect(mongoUri, `t_${process.pid}_${Date.now()}_${randomBytes(3).toString('hex')}`);
}

export async function startHarness(
  start: (deps: SubgraphDeps) => Promise<SubgraphServer>,
  storage: Storage,
  overrides: Partial<SubgraphDeps> = {},
): Promise<Harness> {
  const signer = new IdentitySigner(randomBytes(24).toString('hex'));
  const deps: SubgraphDeps = {
    storage,
    bus: new MemoryEventBus(),
    signer,
    logger: silentLogger,
    clock: () => new Date(),
    ...overrides,
  };
  const server = await start(deps);
  const callOn =
    (target: SubgraphServer) =>
    async <T>(query: string, variables: Record<string, unknown> = {}, options: CallOptions = {}): Promise<GraphQLResponse<T>> => {
      const body = JSON.stringify({ query, variables });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (!options.anonymous) {
        // The signed identity bound to this body, as the gateway sends it (ADR 0008).
        Object.assign(
          headers,
          await forwardedIdentityHeaders(signer, { subject: options.subject ?? 'tester', kind: options.kind ?? 'api-key', scopes: options.scopes ?? ALL_SCOPES }, body),
        );
      }
      const res = await fetch(target.graphqlUrl, { method: 'POST', headers, body });
      return (await res.json()) as GraphQLResponse<T>;
    };
  const replicas: SubgraphServer[] = [];
  return {
    deps,
    server,
    call: callOn(server),
    async replica(startReplica) {
      const other = await startReplica(deps);
      replicas.push(other);
      return { server: other, call: callOn(other) };
    },
    async close() {
      for (const r of replicas) await r.close();
      await server.close();
      if (storage instanceof MongoStorage) await storage.dropDatabase().catch(() => {});
      await storage.close();
    },
  };
}

/** The single error of a response, asserting there is exactly one. */
export function onlyError(r: GraphQLResponse): { message: string; code: string | undefined; extensions: Record<string, unknown> } {
  if (!r.errors || r.errors.length !== 1) throw new Error(`expected one error, got ${JSON.stringify(r.errors ?? r.data)}`);
  const e = r.errors[0] as NonNullable<GraphQLResponse['errors']>[number];
  return { message: e.message, code: e.extensions?.code, extensions: e.extensions ?? {} };
}

/** A two-router lab (CML's YAML import format): the one in `examples/`, so the example is exercised too. */
export const LAB_YAML = readFileSync(new URL('../../examples/labs/two-routers.yaml', import.meta.url), 'utf8');
