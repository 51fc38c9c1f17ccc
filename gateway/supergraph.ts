import { Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlannerConfig } from '@apollo/query-planner';
import { isScalarType, isSpecifiedScalarType, type GraphQLScalarType, type GraphQLSchema } from 'graphql';

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
  /**
   * Implementations of the supergraph's custom scalars (by name), the same ones the subgraphs use.
   * Without one, a custom scalar accepts any value and the subgraph is the first to judge it; with
   * one, the gateway refuses an invalid variable or literal with BAD_USER_INPUT before planning or
   * fetching anything. Scalars the supergraph lacks are ignored (one set serves several supergraphs).
   */
  scalars?: Readonly<Record<string, GraphQLScalarType>>;
}

/** Parses, validates and prepares a Federation 2 supergraph. Throws on an invalid supergraph. */
export function loadSupergraph(sdl: string, options: LoadSupergraphOptions = {}): LoadedSupergraph {
  const supergraph = Supergraph.build(sdl, { validateSupergraph: true });
  const apiSchema = supergraph.apiSchema();
  const subgraphUrls = new Map<string, string>();
  for (const { name, url } of supergraph.subgraphsMetadata()) {
    subgraphUrls.set(name, options.overrideSubgraphUrls?.[name] ?? url);
  }
  const apiGraphQLSchema = apiSchema.toGraphQLJSSchema();
  installScalars(apiGraphQLSchema, options.scalars ?? {});
  return {
    sdl,
    supergraph,
    apiSchema,
    apiGraphQLSchema,
    supergraphGraphQLSchema: supergraph.schema.toGraphQLJSSchema(),
    planner: new QueryPlanner(supergraph, options.queryPlannerConfig),
    subgraphUrls,
  };
}

/**
 * Gives the schema's custom scalars real parse/serialize functions. `toGraphQLJSSchema()` builds each
 * custom scalar with graphql-js's identity defaults (the supergraph SDL carries no code), so variable
 * coercion (`getVariableValues`) and literal validation (`ValuesOfCorrectTypeRule`) would accept any
 * value; the schema is ours alone (built just above), so its scalar objects are changed in place.
 */
function installScalars(schema: GraphQLSchema, scalars: Readonly<Record<string, GraphQLScalarType>>): void {
  for (const [name, implementation] of Object.entries(scalars)) {
    const type = schema.getType(name);
    if (!type || !isScalarType(type) || isSpecifiedScalarType(type)) continue;
    type.serialize = implementation.serialize;
    type.parseValue = implementation.parseValue;
    type.parseLiteral = (node, variables) => {
      try {
        return implementation.parseLiteral(node, variables);
      } catch (e) {
        // graphql-js reports a GraphQLError thrown here as is, without the literal's location; any
        // other error it wraps with the node, which lets the executor name the argument at fault.
        throw new ScalarLiteralError(e instanceof Error ? e.message : String(e));
      }
    };
  }
}

/** An inline literal that a custom scalar refused (see `installScalars`): the client's input is at fault. */
export class ScalarLiteralError extends Error {
  override readonly name = 'ScalarLiteralError';
}
