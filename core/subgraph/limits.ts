import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, Kind, type GraphQLFormattedError, type OperationDefinitionNode, type ValidationContext, type ValidationRule, type ValueNode } from 'graphql';
import { z } from 'zod';
import { ErrorCode } from '../errors.ts';

/**
 * What a subgraph accepts in one request, whoever sends it (issue 12): the gateway's limits are not
 * enough, since a holder of a forwarded identity could call a subgraph directly. The defaults leave
 * room for what the query planner sends for queries within the gateway's limits (an entity fetch
 * nests one level deeper; a page holds at most 500 items, `core/graphql/connections.ts`).
 */
export const SubgraphLimitsSchema = z.object({
  /** Largest request body, bytes (answered 413). */
  maxBodyBytes: z.number().int().positive().default(1024 * 1024),
  /** Deepest selection (fragments flattened; introspection ignored). */
  maxDepth: z.number().int().positive().default(16),
  /** Most lexer tokens in a document (counted while parsing). */
  maxTokens: z.number().int().positive().default(20_000),
  /** Most `_entities` representations in one request. */
  maxEntities: z.number().int().positive().default(2_000),
});
export type SubgraphLimits = z.infer<typeof SubgraphLimitsSchema>;
export const DEFAULT_SUBGRAPH_LIMITS: SubgraphLimits = SubgraphLimitsSchema.parse({});

export const subgraphLimitError = (limit: string, message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: ErrorCode.QUERY_LIMIT_EXCEEDED, limit, http: { status: 400 } } });

/** Validation rules for a subgraph: the depth limit (run once per distinct document by Apollo). */
export function subgraphValidationRules(limits: SubgraphLimits): ValidationRule[] {
  return [
    maxDepthRule({
      n: limits.maxDepth,
      ignoreIntrospection: true,
      flattenFragments: true,
      exposeLimits: true,
      propagateOnRejection: false,
      onReject: [
        (ctx: ValidationContext | null, error: GraphQLError) => {
          ctx?.reportError(subgraphLimitError('depth', error.message.replace(/^Syntax Error: /, '')));
        },
      ],
    }) as unknown as ValidationRule,
  ];
}

/**
 * graphql-js reports its token limit as a syntax error, and Apollo Server re-codes every validation
 * error GRAPHQL_VALIDATION_FAILED: name either as the over-limit query it is.
 */
export function formatSubgraphLimitError(formatted: GraphQLFormattedError): GraphQLFormattedError {
  const limit = formatted.extensions?.limit;
  if (typeof limit === 'string' && formatted.extensions?.code === 'GRAPHQL_VALIDATION_FAILED') {
    return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.QUERY_LIMIT_EXCEEDED } };
  }
  if (/Document contains more th\w+ \d+ tokens/.test(formatted.message)) {
    return { ...formatted, message: formatted.message.replace(/^Syntax Error: /, ''), extensions: { code: ErrorCode.QUERY_LIMIT_EXCEEDED, limit: 'tokens' } };
  }
  return formatted;
}

/** How many representations the `_entities` fields of an operation ask for (variables or literals). */
export function countRepresentations(operation: OperationDefinitionNode, variables: Readonly<Record<string, unknown>> | undefined): number {
  let count = 0;
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD || selection.name.value !== '_entities') continue;
    const arg = selection.arguments?.find((a) => a.name.value === 'representations');
    if (arg) count += listLength(arg.value, variables);
  }
  return count;
}

function listLength(value: ValueNode, variables: Readonly<Record<string, unknown>> | undefined): number {
  if (value.kind === Kind.LIST) return value.values.length;
  if (value.kind === Kind.VARIABLE) {
    const v = variables?.[value.name.value];
    return Array.isArray(v) ? v.length : 1;
  }
  return 1;
}

/** Refuses an operation whose `_entities` fields ask for more than `maxEntities` representations. */
export function entitiesCapPlugin<Ctx extends BaseContext>(limits: SubgraphLimits): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (!operation) return;
          const n = countRepresentations(operation, request.variables);
          if (n > limits.maxEntities) {
            throw subgraphLimitError('entities', `_entities: ${n} representations in one request; at most ${limits.maxEntities}`);
          }
        },
      };
    },
  };
}
