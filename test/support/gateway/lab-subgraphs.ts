import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, parse, type DocumentNode } from 'graphql';
import { composeSupergraph } from './compose.ts';
import { startSubgraphServer, type RunningSubgraph, type SubgraphContext } from './subgraph-server.ts';

/**
 * Three small Federation 2 subgraphs for the gateway tests, shaped like the project's domain:
 * - `labs`: labs (a Lab has an owner User and an enum status), an interface, a mutation, a root
 *   field that always fails, and the `labUpdated` subscription (graphql-ws);
 * - `people`: users; `User.name` fails for user `u-err`, and `User.strict` (non-null) is null for
 *   user `u-strict`, so entity fetches produce errors and null propagation;
 * - `devices`: `Lab.uptime` with `@requires(fields: "status")`, and `Device` as an
 *   `@interfaceObject` (plans with input/output rewrites).
 * The labs subgraph counts its live subscriptions so tests can check sharing and disposal.
 */
const sdl = (text: TemplateStringsArray): DocumentNode => parse(text.join(''));

const labsTypeDefs = sdl`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
  enum LabStatus { PENDING RUNNING STOPPED }
  interface Node { id: ID! }
  type Lab implements Node @key(fields: "id") {
    id: ID!
    name: String!
    status: LabStatus!
    owner: User!
    tags: [String!]
  }
  type User @key(fields: "id", resolvable: false) { id: ID! }
  interface Device @key(fields: "id") { id: ID! name: String! }
  type Router implements Device @key(fields: "id") { id: ID! name: String! ports: Int! }
  type Switch implements Device @key(fields: "id") { id: ID! name: String! vlans: Int! }
  type Query {
    lab(id: ID!): Lab
    labs(ids: [ID!]): [Lab!]!
    node(id: ID!): Node
    failing: String
    devices: [Device!]!
  }
  type Mutation { renameLab(id: ID!, name: String!): Lab }
  type Subscription { labUpdated(ids: [ID!]): Lab! }
`;

const peopleTypeDefs = sdl`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type User @key(fields: "id") {
    id: ID!
    name: String!
    email: String
    strict: String!
  }
`;

const devicesTypeDefs = sdl`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires", "@interfaceObject"])
  type Device @key(fields: "id") @interfaceObject { id: ID! firmware: String! }
  type Query { newestDevice: Device }
  enum LabStatus { PENDING RUNNING STOPPED }
  type Lab @key(fields: "id") {
    id: ID!
    status: LabStatus! @external
    uptime: Int @requires(fields: "status")
  }
`;

export interface LabRecord {
  id: string;
  name: string;
  status: 'PENDING' | 'RUNNING' | 'STOPPED';
  ownerId: string;
  tags?: string[] | null;
}

export const LABS: LabRecord[] = [
  { id: 'l1', name: 'OSPF basics', status: 'RUNNING', ownerId: 'u1', tags: ['routing', 'ospf'] },
  { id: 'l2', name: 'BGP peering', status: 'PENDING', ownerId: 'u2', tags: null },
  { id: 'l3', name: 'VLAN trunks', status: 'STOPPED', ownerId: 'u1' },
  { id: 'l4', name: 'Broken owner', status: 'RUNNING', ownerId: 'u-err' },
  { id: 'l5', name: 'Strict owner', status: 'RUNNING', ownerId: 'u-strict' },
  { id: 'l6', name: 'Broken owner again', status: 'PENDING', ownerId: 'u-err' },
];

const DEVICES = [
  { __typename: 'Router', id: 'd1', name: 'edge-1', ports: 48 },
  { __typename: 'Switch', id: 'd2', name: 'access-1', vlans: 12 },
  { __typename: 'Router', id: 'd3', name: 'core-1', ports: 96 },
];

const USERS: Record<string, { id: string; name: string; email: string | null }> = {
  u1: { id: 'u1', name: 'Ada', email: 'ada@example.test' },
  u2: { id: 'u2', name: 'Alan', email: null },
  'u-err': { id: 'u-err', name: 'never returned', email: null },
  'u-strict': { id: 'u-strict', name: 'Grace', email: null },
};

/** A tiny pub/sub for `labUpdated`, counting live subscriber iterators. */
class LabEvents {
  private readonly listeners = new Set<(lab: LabRecord) => void>();
  started = 0;

  get active(): number {
    return this.listeners.size;
  }

  publish(lab: LabRecord): void {
    for (const listener of this.listeners) listener(lab);
  }

  iterate(filter: (lab: LabRecord) => boolean): AsyncGenerator<{ labUpdated: LabRecord }> {
    this.started++;
    const queue: LabRecord[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const listener = (lab: LabRecord) => {
      if (!filter(lab)) return;
      queue.push(lab);
      wake?.();
    };
    this.listeners.add(listener);
    const listeners = this.listeners;
    async function* generate(): AsyncGenerator<{ labUpdated: LabRecord }> {
      try {
        while (!done) {
          if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          while (queue.length > 0) yield { labUpdated: queue.shift()! };
        }
      } finally {
        done = true;
        listeners.delete(listener);
      }
    }
    const generator = generate();
    const originalReturn = generator.return.bind(generator);
    // A pending generator cannot be returned until it resumes: wake it and drop the listener now.
    generator.return = (value) => {
      done = true;
      listeners.delete(listener);
      wake?.();
      return originalReturn(value);
    };
    return generator;
  }
}

function labsSchema(events: LabEvents) {
  return buildSubgraphSchema({
    typeDefs: labsTypeDefs,
    resolvers: {
      Query: {
        lab: (_: unknown, { id }: { id: string }) => LABS.find((l) => l.id === id) ?? null,
        labs: (_: unknown, { ids }: { ids?: string[] }) => (ids ? ids.map((id) => LABS.find((l) => l.id === id)) : LABS),
        node: (_: unknown, { id }: { id: string }) => LABS.find((l) => l.id === id) ?? null,
        devices: () => DEVICES,
        failing: () => {
          throw new GraphQLError('the failing field always fails', { extensions: { code: 'BAD_USER_INPUT' } });
        },
      },
      Mutation: {
        renameLab: (_: unknown, { id, name }: { id: string; name: string }) => {
          const lab = LABS.find((l) => l.id === id);
          return lab ? { ...lab, name } : null;
        },
      },
      Subscription: {
        labUpdated: {
          subscribe: (_: unknown, { ids }: { ids?: string[] }) => events.iterate((lab) => !ids || ids.includes(lab.id)),
        },
      },
      Node: { __resolveType: () => 'Lab' },
      Device: {
        __resolveType: (device: { __typename: string }) => device.__typename,
        __resolveReference: (ref: { id: string }) => DEVICES.find((d) => d.id === ref.id) ?? null,
      },
      Router: { __resolveReference: (ref: { id: string }) => DEVICES.find((d) => d.id === ref.id) ?? null },
      Switch: { __resolveReference: (ref: { id: string }) => DEVICES.find((d) => d.id === ref.id) ?? null },
      Lab: {
        __resolveReference: (ref: { id: string }) => LABS.find((l) => l.id === ref.id) ?? null,
        owner: (lab: LabRecord) => ({ id: lab.ownerId }),
      },
    },
  });
}

const peopleSchema = buildSubgraphSchema({
  typeDefs: peopleTypeDefs,
  resolvers: {
    User: {
      __resolveReference: (ref: { id: string }) => USERS[ref.id] ?? null,
      name: (user: { id: string; name: string }) => {
        if (user.id === 'u-err') throw new GraphQLError(`user ${user.id} cannot be read`, { extensions: { code: 'FORBIDDEN' } });
        return user.name;
      },
      strict: (user: { id: string; name: string }, _: unknown, context: unknown) => {
        if (user.id === 'u-strict') return null;
        const { headers, connectionParams } = context as SubgraphContext;
        return `${user.name}:${String(headers['x-forwarded-identity'] ?? connectionParams?.['x-forwarded-identity'] ?? 'anonymous')}`;
      },
    },
  },
});

const devicesSchema = buildSubgraphSchema({
  typeDefs: devicesTypeDefs,
  resolvers: {
    Query: { newestDevice: () => ({ id: 'd2' }) },
    Device: {
      __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
      firmware: (device: { id: string }) => `fw-${device.id}`,
    },
    Lab: {
      __resolveReference: (ref: { id: string; status?: string }) => ref,
      uptime: (lab: { status?: string }) => (lab.status === 'RUNNING' ? 3600 : lab.status === 'STOPPED' ? 0 : null),
    },
  },
});

export interface LabSubgraphs {
  labs: RunningSubgraph;
  people: RunningSubgraph;
  devices: RunningSubgraph;
  events: { publish(lab: LabRecord): void; readonly active: number; readonly started: number };
  supergraphSdl: string;
  close(): Promise<void>;
}

/** Starts the three subgraphs on free ports and composes their supergraph. */
export async function startLabSubgraphs(options: { onRequest?: Parameters<typeof startSubgraphServer>[0]['onRequest'] } = {}): Promise<LabSubgraphs> {
  const events = new LabEvents();
  const [labs, people, devices] = await Promise.all([
    startSubgraphServer({ name: 'labs', schema: labsSchema(events), onRequest: options.onRequest }),
    startSubgraphServer({ name: 'people', schema: peopleSchema, onRequest: options.onRequest }),
    startSubgraphServer({ name: 'devices', schema: devicesSchema, onRequest: options.onRequest }),
  ]);
  const supergraphSdl = composeSupergraph([
    { name: 'labs', url: labs.url, typeDefs: labsTypeDefs },
    { name: 'people', url: people.url, typeDefs: peopleTypeDefs },
    { name: 'devices', url: devices.url, typeDefs: devicesTypeDefs },
  ]);
  return {
    labs,
    people,
    devices,
    events,
    supergraphSdl,
    async close() {
      await Promise.all([labs.close(), people.close(), devices.close()]);
    },
  };
}
