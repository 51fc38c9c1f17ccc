import { GraphQLError, type GraphQLErrorOptions, type GraphQLFormattedError } from 'graphql';
import { errorCodeDef, ERRORS } from '@apollo/federation-internals';

/**
 * Error shapes of the gateway. Client-visible errors keep the shapes of Apollo Server +
 * `@apollo/gateway` (same messages, `extensions.code`, key order), so clients and tests see the same
 * responses from this gateway as from the stock one. The codes themselves are in the one registry,
 * `core/errors.ts` (`ProtocolErrorCode`, here under the gateway's name).
 */
import { ProtocolErrorCode as GatewayErrorCode } from '../../core/errors.ts';

export { GatewayErrorCode };

/** HTTP status carried by an error (Apollo Server's `extensions.http` convention), if any. */
export interface HttpHint {
  status?: number;
  headers?: Record<string, string>;
}

/** A GraphQLError with a code and, optionally, the HTTP status it implies. */
export function gatewayError(
  code: string,
  message: string,
  options: GraphQLErrorOptions & { http?: HttpHint } = {},
): GraphQLError {
  const { http, ...rest } = options;
  const extensions: Record<string, unknown> = { ...rest.extensions, code };
  if (http) extensions.http = http;
  return new GraphQLError(message, { ...rest, extensions });
}

/** Turns an error reported by a subgraph into the gateway error `@apollo/gateway` reports for it. */
export function downstreamServiceError(
  original: GraphQLFormattedError,
  serviceName: string,
  path: ReadonlyArray<string | number> | undefined,
): GraphQLError {
  const message = original.message || `Error while fetching subquery from service "${serviceName}"`;
  const options: GraphQLErrorOptions = {
    originalError: original as unknown as Error,
    path,
    extensions: { ...original.extensions, serviceName },
  };
  const codeDef = errorCodeDef(original);
  if (!codeDef && original.extensions?.code) return new GraphQLError(message, options);
  return (codeDef ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, options);
}

/** The error `@apollo/gateway` uses for post-processing (value completion) problems. */
export function invalidGraphQLError(message: string, path: ReadonlyArray<string | number>): GraphQLError {
  return ERRORS.INVALID_GRAPHQL.err(message, { path: Array.from(path) });
}

/**
 * Formats errors exactly as Apollo Server 5 does for its responses (without stack traces):
 * non-GraphQL errors become GraphQLErrors with their message, `extensions.code` defaults to
 * INTERNAL_SERVER_ERROR, and `extensions.http` is removed (its status is returned separately).
 */
export function formatErrors(
  errors: ReadonlyArray<unknown>,
  formatError?: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError,
): { formatted: GraphQLFormattedError[]; http: HttpHint } {
  const http: HttpHint = {};
  const formatted = errors.map((error) => {
    const graphqlError = toGraphQLError(error);
    const extensions: Record<string, unknown> = {
      ...graphqlError.extensions,
      code: graphqlError.extensions.code ?? GatewayErrorCode.INTERNAL_SERVER_ERROR,
    };
    const hint = extensions.http as HttpHint | undefined;
    if (hint && typeof hint === 'object') {
      if (typeof hint.status === 'number') http.status = hint.status;
      if (hint.headers) http.headers = { ...http.headers, ...hint.headers };
      delete extensions.http;
    }
    const result: GraphQLFormattedError = { ...graphqlError.toJSON(), extensions };
    if (!formatError) return result;
    try {
      return formatError(result, error);
    } catch {
      return { message: 'Internal server error', extensions: { code: GatewayErrorCode.INTERNAL_SERVER_ERROR } };
    }
  });
  return { formatted, http };
}

export function toGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  if (error instanceof Error) return new GraphQLError(error.message, { originalError: error });
  return new GraphQLError('Unexpected error value: ' + String(error));
}
