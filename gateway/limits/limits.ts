import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, type DocumentNode, type ValidationContext, type ValidationRule } from 'graphql';
import { z } from 'zod';
import { ErrorCode, ProtocolErrorCode } from '../../core/errors.ts';

/**
 * Query limits (graphql-armor's rules): document size, tokens, depth, aliases, directives, cost; plus
 * the HTTP limits the gateway's handler applies (body size, batch size) and the byte bound of the
 * caches keyed by client documents. A rejected query gets `extensions.code = QUERY_LIMIT_EXCEEDED`
 * with the limit named, and is never executed.
 *
 * Every transport (HTTP GET, POST, batched POST, a graphql-ws `subscribe` message) parses through
 * `parseWithLimits` (the executor's `parse` hook), so a document is held to the same limits however
 * it arrives.
 */
export const LimitsSchema = z.object({
  /**
   * Longest accepted document, in UTF-8 bytes, checked before lexing. The token limit alone does not
   * bound a document: graphql-js counts neither comments nor whitespace as tokens, and a string
   * literal of any length is one token, so a 50 MB document of comments passed it. This limit bounds
   * what the lexer reads and what a cache keyed by the text holds; comments therefore count here (by
   * their bytes), not as tokens.
   */
  maxQueryBytes: z.number().int().positive().default(64 * 1024),
  maxDepth: z.number().int().positive().default(12),
  /** Aliases per operation, `__typename` aliases included (`a: __typename` costs a response key too). */
  maxAliases: z.number().int().nonnegative().default(30),
  maxDirectives: z.number().int().nonnegative().default(50),
  maxCost: z.number().int().positive().default(20_000),
  maxTokens: z.number().int().positive().default(5_000),
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: z.number().int().positive().default(256 * 1024),
  /** Most operations in one batched (array) HTTP request. */
  maxBatchSize: z.number().int().positive().default(10),
  /**
   * Estimated bytes each endpoint's prepared-operation cache (documents, plans) may hold; see
   * `operation-cache.ts` for the estimate.
   */
  operationCacheBytes: z.number().int().positive().default(32 * 1024 * 1024),
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
    // graphql-armor leaves `__typename` aliases out by default (allowList ['__typename']): count them.
    maxAliasesRule({ n: limits.maxAliases, allowList: [], exposeLimits: true, ...rejectAs('aliases') }) as unknown as ValidationRule,
    maxDirectivesRule({ n: limits.maxDirectives, exposeLimits: true, ...rejectAs('directives') }) as unknown as ValidationRule,
    costLimitRule({ maxCost: limits.maxCost, ignoreIntrospection: true, exposeLimits: true, ...rejectAs('cost') }) as unknown as ValidationRule,
  ];
}

/**
 * The document size limit, before any lexing: a QUERY_LIMIT_EXCEEDED error (`limit: 'queryBytes'`)
 * when `query` is longer than `maxQueryBytes` UTF-8 bytes, else undefined. Cheap on huge input: the
 * UTF-16 length bounds the UTF-8 size from below and 3× the length bounds it from above, so only a
 * document near the limit is measured.
 */
export function checkQuerySize(query: string, limits: Pick<Limits, 'maxQueryBytes'> = DEFAULT_LIMITS): GraphQLError | undefined {
  const max = limits.maxQueryBytes;
  if (query.length * 3 <= max) return undefined;
  if (query.length > max || Buffer.byteLength(query, 'utf8') > max) {
    return limitError('queryBytes', `Document size limit of ${max} bytes exceeded.`);
  }
  return undefined;
}

/**
 * Parse under the document limits: the size first (`checkQuerySize`, before lexing), then the token
 * count (graphql-armor's counting parser rejects while lexing, before any further work). Throws a
 * GraphQLError: QUERY_LIMIT_EXCEEDED over a limit (`extensions.limit` names it), GRAPHQL_PARSE_FAILED
 * for syntax errors. The one parse of client documents on every transport.
 */
export function parseWithLimits(query: string, limits: Limits = DEFAULT_LIMITS): DocumentNode {
  const tooLarge = checkQuerySize(query, limits);
  if (tooLarge) throw tooLarge;
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
