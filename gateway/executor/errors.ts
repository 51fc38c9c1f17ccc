import { GraphQLError, type GraphQLErrorOptions, type GraphQLFormattedError } from 'graphql';
import { errorCodeDef, ERRORS } from '@apollo/federation-internals';

/**
 * Error shapes of the gateway. Client-visible errors keep the shapes of Apollo Server +
 * `@apollo/gateway` (same messages, `extensions.code`, key order), so clients and tests see the same
 * responses from this gateway as from the stock one. The codes themselves are in the one registry,
 * `core/errors.ts` (`ProtocolErrorCode`, here under the gateway's name).
 */
import { CLIENT_ERROR_CODES, ProtocolErrorCode as GatewayErrorCode } from '../../core/errors.ts';

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

const fetchFailures = new WeakMap<object, string>();

/**
 * Records that `error` is the failure of a fetch from subgraph `serviceName` (connection refused,
 * timeout, HTTP error status, a body that is not a GraphQL response…) and returns it unchanged:
 * what the client sees is decided when errors are formatted (see `fetchFailureOf`).
 */
export function markFetchFailure(error: unknown, serviceName: string): unknown {
  const marked = error !== null && typeof error === 'object' ? error : new Error(String(error));
  if (!fetchFailures.has(marked)) fetchFailures.set(marked, serviceName);
  return marked;
}

/** The subgraph whose fetch failed with `error`, or undefined when `error` is no fetch failure. */
export function fetchFailureOf(error: unknown): string | undefined {
  return error !== null && typeof error === 'object' ? fetchFailures.get(error) : undefined;
}

/**
 * Codes whose errors reach a client as they are: the registry's (docs/api.md "Errors") except the two
 * that mean "something went wrong behind the gateway", whose words may name internals.
 */
const PUBLIC_CODES: ReadonlySet<string> = new Set(
  CLIENT_ERROR_CODES.filter((c) => c !== GatewayErrorCode.INTERNAL_SERVER_ERROR && c !== GatewayErrorCode.DOWNSTREAM_SERVICE_ERROR),
);

/** Extensions that only ever carry internals (the stock gateway's subgraph response: URL, status, body). */
const INTERNAL_EXTENSIONS = ['response', 'exception', 'stacktrace'] as const;

/** A code a client may read as is (from the one registry), not an internal failure's. */
export const isPublicErrorCode = (code: unknown): code is string => typeof code === 'string' && PUBLIC_CODES.has(code);

/** The extensions without what only the server should see (a subgraph's response, exception, stack). */
export function withoutInternalExtensions(extensions: Record<string, unknown>): Record<string, unknown> {
  const kept = { ...extensions };
  for (const key of INTERNAL_EXTENSIONS) delete kept[key];
  return kept;
}

export interface MaskOptions {
  /** The correlation id given to the client with a masked error (the request's `x-request-id`). */
  requestId: string;
  /** Logs what was masked (server side only). */
  log: (details: Record<string, unknown>, message: string) => void;
}

/**
 * A `formatError` policy for a gateway facing untrusted clients (docs/api.md: "INTERNAL_SERVER_ERROR:
 * our fault; nothing about it is exposed"):
 * - an error with a public code (BAD_USER_INPUT, NOT_FOUND, CONFLICT, FORBIDDEN, … whether the gateway's
 *   or a subgraph's GraphQL error) passes unchanged;
 * - a failed subgraph fetch (connection refused, timeout, HTTP error status, a body that is no GraphQL
 *   response) becomes DOWNSTREAM_SERVICE_ERROR naming only the subgraph;
 * - anything else (no code, INTERNAL_SERVER_ERROR, a code outside the registry) becomes
 *   INTERNAL_SERVER_ERROR (DOWNSTREAM_SERVICE_ERROR for a subgraph's error without a code).
 * A masked error keeps its `path` and `locations`, carries `extensions.requestId`, and everything
 * it hid (message, URL, address, body) is logged under that id.
 */
export function maskInternalError(formatted: GraphQLFormattedError, error: unknown, options: MaskOptions): GraphQLFormattedError {
  const failedService = fetchFailureOf(error);
  const extensions = formatted.extensions ?? {};
  const code = extensions.code;
  if (failedService === undefined && typeof code === 'string' && PUBLIC_CODES.has(code)) {
    if (!INTERNAL_EXTENSIONS.some((key) => key in extensions)) return formatted;
    const kept = { ...extensions };
    for (const key of INTERNAL_EXTENSIONS) delete kept[key];
    return { ...formatted, extensions: kept };
  }
  const serviceName = failedService ?? (typeof extensions.serviceName === 'string' ? extensions.serviceName : undefined);
  const maskedCode =
    failedService !== undefined || (serviceName !== undefined && code === GatewayErrorCode.DOWNSTREAM_SERVICE_ERROR)
      ? GatewayErrorCode.DOWNSTREAM_SERVICE_ERROR
      : GatewayErrorCode.INTERNAL_SERVER_ERROR;
  options.log(
    {
      reqId: options.requestId,
      ...(serviceName !== undefined ? { subgraph: serviceName } : {}),
      code,
      message: formatted.message,
      extensions,
      err: error,
    },
    failedService !== undefined ? 'subgraph fetch failed (masked for the client)' : 'internal error (masked for the client)',
  );
  const masked: GraphQLFormattedError = {
    message:
      maskedCode === GatewayErrorCode.DOWNSTREAM_SERVICE_ERROR
        ? `Error while fetching subquery from service "${serviceName}"`
        : 'internal server error',
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: {
      code: maskedCode,
      ...(serviceName !== undefined ? { serviceName } : {}),
      requestId: options.requestId,
    },
  };
  return masked;
}
