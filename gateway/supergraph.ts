import { Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlannerConfig } from '@apollo/query-planner';
import type { GraphQLSchema } from 'graphql';

/**
 * Everything the gateway derives once from a supergraph SDL, shared by every request of an endpoint.
 * These are the same building blocks `@apollo/gateway` builds in `ApolloGateway.load()` for a static
 * `supergraphSdl` (Supergraph.build → API schema → QueryPlanner); we build them directly because the
 * gateway keeps its planner private, and we bring our own executor (docs/adr/0004-gateway-executor.md).
 */
export interface LoadedSupergraph {
  /** The supergraph SDL this was built from. */
  readonly sdl: string;
  /** The federation-internals supergraph (join directives, subgraph metadata). */
  readonly supergraph: Supergraph;
  /** The API schema (federation-internals form): what clients see, used for operations and shaping. */
  readonly apiSchema: Schema;
  /** The API schema as a graphql-js schema: validation, introspection, variable coercion. */
  readonly apiGraphQLSchema: GraphQLSchema;
  /** The full supergraph as a graphql-js schema: type conditions on `requires` and rewrites. */
  readonly supergraphGraphQLSchema: GraphQLSchema;
  /** Apollo's query planner for this supergraph. */
  readonly planner: QueryPlanner;
  /** Subgraph name → routing URL, from `join__Graph`. */
  readonly subgraphUrls: ReadonlyMap<string, string>;
}

export interface LoadSupergraphOptions {
  /** Passed to `QueryPlanner` (defaults are the ones `@apollo/gateway` uses). */
  queryPlannerConfig?: QueryPlannerConfig;
  /** Replace routing URLs (e.g. to point a committed supergraph at test ports). */
  overrideSubgraphUrls?: Record<string, string>;
}

/** Parses, validates and prepares a Federation 2 supergraph. Throws on an invalid supergraph. */
export function loadSupergraph(sdl: string, options: LoadSupergraphOptions = {}): LoadedSupergraph {
  const supergraph = Supergraph.build(sdl, { validateSupergraph: true });
  const apiSchema = supergraph.apiSchema();
  const subgraphUrls = new Map<string, string>();
  for (const { name, url } of supergraph.subgraphsMetadata()) {
    subgraphUrls.set(name, options.overrideSubgraphUrls?.[name] ?? url);
  }
  return {
    sdl,
    supergraph,
    apiSchema,
    apiGraphQLSchema: apiSchema.toGraphQLJSSchema(),
    supergraphGraphQLSchema: supergraph.schema.toGraphQLJSSchema(),
    planner: new QueryPlanner(supergraph, options.queryPlannerConfig),
    subgraphUrls,
  };
}
