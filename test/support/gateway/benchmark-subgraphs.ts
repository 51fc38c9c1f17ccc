import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type DocumentNode, type GraphQLSchema } from 'graphql';
import { startCachedSubgraphServer, type CachedSubgraphServer } from './cached-subgraph-server.ts';
import { composeSupergraph } from './compose.ts';

/**
 * The four subgraphs of The Guild's federation gateway benchmark (accounts, inventory, products,
 * reviews): the same schema and the same data shapes (6 users, 9 products, 11 reviews of similar
 * text lengths, every author is user 1, a user's reviews are the first two reviews), written here
 * in Node with our own data. `shippingEstimate` is computed from the `@requires(fields: "price weight")`
 * inputs, so the benchmark also exercises `requires`.
 */

interface User { id: string; name: string; username: string; birthday: number }
interface Product { upc: string; name: string; price: number; weight: number }
interface Review { id: string; body: string; productUpc: string }

/** SDL from a template literal (no interpolation). */
const gql = (sdl: TemplateStringsArray): DocumentNode => parse(sdl.join(''));

const WORDS = (
  'gateway plans fetch entity subgraph merge shape query field value type reference lab worker session ' +
  'network device router switch console topology image boot stage grade report score student teacher ' +
  'timeslot capacity port license node link cable packet frame route prefix tunnel policy'
).split(' ');

/** Deterministic filler text of exactly `length` characters. */
function text(seed: number, length: number): string {
  let out = '';
  let i = seed;
  while (out.length < length) {
    out += (out ? ' ' : '') + WORDS[(i * 11 + seed * 5) % WORDS.length];
    i++;
  }
  return out.slice(0, length - 1) + '.';
}

export const USERS: User[] = [
  { id: '1', name: 'Ada Lovelace', username: 'ada', birthday: 1234567890 },
  { id: '2', name: 'Alan Turing', username: 'alan', birthday: 1234567890 },
  { id: '3', name: 'Grace Hopper', username: 'grace', birthday: 1234567890 },
  { id: '4', name: 'Edsger Dijkstra', username: 'edsger', birthday: 1234567890 },
  { id: '5', name: 'Barbara Liskov', username: 'barbara', birthday: 1234567890 },
  { id: '6', name: 'Donald Knuth', username: 'donald', birthday: 1234567890 },
];

export const PRODUCTS: Product[] = [
  { upc: '1', name: 'Desk', price: 899, weight: 100 },
  { upc: '2', name: 'Bench', price: 1299, weight: 1000 },
  { upc: '3', name: 'Mug', price: 15, weight: 20 },
  { upc: '4', name: 'Stool', price: 499, weight: 100 },
  { upc: '5', name: 'Monitor', price: 1299, weight: 1000 },
  { upc: '6', name: 'Lantern', price: 6999, weight: 300 },
  { upc: '7', name: 'Oven', price: 3999, weight: 2000 },
  { upc: '8', name: 'Freezer', price: 100000, weight: 6000 },
  { upc: '9', name: 'Armchair', price: 9999, weight: 800 },
];

const IN_STOCK: Record<string, boolean> = {
  '1': true, '2': false, '3': false, '4': false, '5': true, '6': true, '7': true, '8': false, '9': true,
};

const REVIEW_SHAPES: Array<[productUpc: string, bodyLength: number]> = [
  ['1', 445], ['1', 293], ['1', 279], ['1', 142], ['2', 445], ['2', 293], ['2', 279], ['2', 142],
  ['3', 142], ['4', 142], ['4', 829],
];

export const REVIEWS: Review[] = REVIEW_SHAPES.map(([productUpc, length], i) => ({
  id: String(i + 1),
  body: text(i, length),
  productUpc,
}));

const accountsTypeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
  type Query {
    me: User
    user(id: ID!): User
    users: [User]
  }
  type User @key(fields: "id") {
    id: ID!
    name: String
    username: String @shareable
    birthday: Int
  }
`;

const inventoryTypeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
  type Product @key(fields: "upc") {
    upc: String!
    weight: Int @external
    price: Int @external
    inStock: Boolean
    shippingEstimate: Int @requires(fields: "price weight")
  }
`;

const productsTypeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query {
    topProducts(first: Int = 5): [Product]
  }
  type Product @key(fields: "upc") {
    upc: String!
    name: String
    price: Int
    weight: Int
  }
`;

const reviewsTypeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@provides"])
  type Review @key(fields: "id") {
    id: ID!
    body: String
    product: Product
    author: User @provides(fields: "username")
  }
  type User @key(fields: "id") {
    id: ID!
    username: String @external
    reviews: [Review]
  }
  type Product @key(fields: "upc") {
    upc: String!
    reviews: [Review]
  }
`;

const byId = <T extends { id: string }>(items: T[], id: unknown) => items.find((x) => x.id === String(id)) ?? null;
const productByUpc = (upc: unknown) => PRODUCTS.find((p) => p.upc === String(upc)) ?? null;

const accountsSchema = buildSubgraphSchema({
  typeDefs: accountsTypeDefs,
  resolvers: {
    Query: {
      me: () => USERS[0],
      user: (_: unknown, { id }: { id: string }) => byId(USERS, id),
      users: () => USERS,
    },
    User: { __resolveReference: (ref: { id: string }) => byId(USERS, ref.id) },
  },
});

const inventorySchema = buildSubgraphSchema({
  typeDefs: inventoryTypeDefs,
  resolvers: {
    Product: {
      __resolveReference: (ref: { upc: string; price?: number; weight?: number }) => ({
        ...ref,
        inStock: IN_STOCK[ref.upc] ?? null,
      }),
      shippingEstimate: (product: { price?: number | null; weight?: number | null }) => {
        if (product.price == null) return null;
        if (product.price > 1000) return 0;
        return product.weight == null ? null : Math.round(product.weight / 2);
      },
    },
  },
});

const productsSchema = buildSubgraphSchema({
  typeDefs: productsTypeDefs,
  resolvers: {
    Query: { topProducts: (_: unknown, { first }: { first: number }) => PRODUCTS.slice(0, first) },
    Product: { __resolveReference: (ref: { upc: string }) => productByUpc(ref.upc) },
  },
});

const reviewsSchema = buildSubgraphSchema({
  typeDefs: reviewsTypeDefs,
  resolvers: {
    Review: {
      __resolveReference: (ref: { id: string }) => byId(REVIEWS, ref.id),
      product: (review: Review) => ({ upc: review.productUpc }),
      author: () => ({ id: '1', username: USERS[0]!.username }),
    },
    User: {
      __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
      reviews: () => REVIEWS.slice(0, 2),
    },
    Product: {
      __resolveReference: (ref: { upc: string }) => ({ upc: ref.upc }),
      reviews: (product: { upc: string }) => REVIEWS.filter((r) => r.productUpc === product.upc),
    },
  },
});

export interface BenchmarkSubgraph {
  name: 'accounts' | 'inventory' | 'products' | 'reviews';
  typeDefs: DocumentNode;
  schema: GraphQLSchema;
}

export const BENCHMARK_SUBGRAPHS: readonly BenchmarkSubgraph[] = [
  { name: 'accounts', typeDefs: accountsTypeDefs, schema: accountsSchema },
  { name: 'inventory', typeDefs: inventoryTypeDefs, schema: inventorySchema },
  { name: 'products', typeDefs: productsTypeDefs, schema: productsSchema },
  { name: 'reviews', typeDefs: reviewsTypeDefs, schema: reviewsSchema },
];

export interface RunningBenchmarkSubgraphs {
  subgraphs: CachedSubgraphServer[];
  /** The composed supergraph, with the routing URLs of the running subgraphs. */
  supergraphSdl: string;
  close(): Promise<void>;
}

/**
 * Starts the four subgraphs on free ports (each its own server, answering repeated requests from a
 * response cache) and composes their supergraph.
 */
export async function startBenchmarkSubgraphs(options: { host?: string } = {}): Promise<RunningBenchmarkSubgraphs> {
  const subgraphs = await Promise.all(
    BENCHMARK_SUBGRAPHS.map((s) => startCachedSubgraphServer({ schema: s.schema, host: options.host })),
  );
  const supergraphSdl = composeSupergraph(
    BENCHMARK_SUBGRAPHS.map((s, i) => ({ name: s.name, url: subgraphs[i]!.url, typeDefs: s.typeDefs })),
  );
  return {
    subgraphs,
    supergraphSdl,
    close: async () => {
      await Promise.all(subgraphs.map((s) => s.close()));
    },
  };
}
