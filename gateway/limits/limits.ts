import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, type DocumentNode, type ValidationContext, type ValidationRule } from 'graphql';
import { z } from 'zod';
import { ErrorCode, ProtocolErrorCode } from '../../core/errors.ts';

/**
 * Query limits (graphql-armor's rules): depth, aliases, directives, cost, tokens; plus the HTTP
 * limits the gateway's handler applies (body size, batch size). A rejected query gets
 * `extensions.code = QUERY_LIMIT_EXCEEDED` with the limit named, and is never executed.
 */
export const LimitsSchema = z.object({
  maxDepth: z.number().int().positive().default(12),
  maxAliases: z.number().int().nonnegative().default(30),
  maxDirectives: z.number().int().nonnegative().default(50),
  maxCost: z.number().int().positive().default(20_000),
  maxTokens: z.number().int().positive().default(5_000),
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: z.number().int().positive().default(256 * 1024),
  /** Most operations in one batched (array) HTTP request. */
  maxBatchSize: z.number().int().positive().default(10),
});
export type Limits = z.infer<typeof LimitsSchema>;
export const DEFAULT_LIMITS: Limits = LimitsSchema.parse({});

export const limitError = (limit: string, message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: ErrorCode.QUERY_LIMIT_EXCEEDED, limit } });

/** Re-report an armor rejection as our error code, naming the limit. */
function rejectAs(limit: string) {
  return {
    propagateOnRejection: false,
    onReject: [
      (ctx: ValidationContext | null, error: GraphQLError) => {
        ctx?.reportError(limitError(limit, error.message.replace(/^Syntax Error: /, '')));
      },
    ],
  };
}

/** Validation rules enforcing the limits (run after the standard rules). */
export function limitRules(limits: Limits = DEFAULT_LIMITS): ValidationRule[] {
  return [
    maxDepthRule({ n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, exposeLimits: true, ...rejectAs('depth') }) as unknown as ValidationRule,
    maxAliasesRule({ n: limits.maxAliases, exposeLimits: true, ...rejectAs('aliases') }) as unknown as ValidationRule,
    maxDirectivesRule({ n: limits.maxDirectives, exposeLimits: true, ...rejectAs('directives') }) as unknown as ValidationRule,
    costLimitRule({ maxCost: limits.maxCost, ignoreIntrospection: true, exposeLimits: true, ...rejectAs('cost') }) as unknown as ValidationRule,
  ];
}

/**
 * Parse with a token limit (graphql-armor's counting parser): a document over the limit is rejected
 * while lexing, before any further work. Throws a GraphQLError: QUERY_LIMIT_EXCEEDED over the limit,
 * GRAPHQL_PARSE_FAILED for syntax errors.
 */
export function parseWithLimits(query: string, limits: Limits = DEFAULT_LIMITS): DocumentNode {
  try {
    return new MaxTokensParserWLexer(query, {
      n: limits.maxTokens,
      exposeLimits: true,
      noLocation: false,
      propagateOnRejection: true,
    }).parseDocument();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/token limit/i.test(message)) throw limitError('tokens', message.replace(/^Syntax Error: /, ''));
    if (e instanceof GraphQLError) {
      throw new GraphQLError(e.message, { ...(e.source ? { source: e.source } : {}), ...(e.positions ? { positions: e.positions } : {}), extensions: { code: ProtocolErrorCode.GRAPHQL_PARSE_FAILED } });
    }
    throw e;
  }
}
