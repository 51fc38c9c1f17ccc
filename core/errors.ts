/**
 * The one registry of error codes (CONTRACT.md "Errors"). Every error a client can see carries one of
 * these as `extensions.code`. Domain and application code throw `LcmError`; the GraphQL layer turns it
 * into a GraphQLError with the same code (see `core/graphql/errors.ts`).
 */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  INVALID_TRANSITION: 'INVALID_TRANSITION',
  CONFLICT: 'CONFLICT',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  /** A query over the gateway's depth, alias, cost, token or batch limits. */
  QUERY_LIMIT_EXCEEDED: 'QUERY_LIMIT_EXCEEDED',
  /**
   * A subscription asked to resume `after` a cursor the event bus no longer holds (older than its
   * retention, or from another bus): events may have been missed, so the client must re-list.
   */
  SUBSCRIPTION_CURSOR_EXPIRED: 'SUBSCRIPTION_CURSOR_EXPIRED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Codes of the request layer (the gateway's HTTP/WebSocket protocol and the executor), with the names
 * Apollo Server and `@apollo/gateway` use, so clients written for those see the same codes here.
 */
export const ProtocolErrorCode = {
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  BAD_REQUEST: 'BAD_REQUEST',
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
  PERSISTED_QUERY_NOT_SUPPORTED: 'PERSISTED_QUERY_NOT_SUPPORTED',
  OPERATION_RESOLUTION_FAILURE: 'OPERATION_RESOLUTION_FAILURE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  DOWNSTREAM_SERVICE_ERROR: 'DOWNSTREAM_SERVICE_ERROR',
  /** The operation uses a feature the executor does not run (e.g. `@defer`). */
  OPERATION_NOT_SUPPORTED: 'OPERATION_NOT_SUPPORTED',
  /** A client opened more subscriptions than its connection may hold. */
  SUBSCRIPTION_LIMIT_EXCEEDED: 'SUBSCRIPTION_LIMIT_EXCEEDED',
  /** The subgraph serving a subscription went away. */
  SUBSCRIPTION_UPSTREAM_CLOSED: 'SUBSCRIPTION_UPSTREAM_CLOSED',
  /** The gateway is shutting down and takes no new work. */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** Codes of plain-HTTP endpoints (the CloudEvents sink, admin routes) in their `{ error: { code } }` bodies. */
export const HttpErrorCode = {
  BAD_REQUEST: 'BAD_USER_INPUT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** Every code a client (partner, dashboard, CLI, event sender) can see; docs/api.md lists each one (a test checks it). */
export const CLIENT_ERROR_CODES: readonly string[] = [
  ...new Set<string>([...Object.values(ErrorCode), ...Object.values(ProtocolErrorCode), ...Object.values(HttpErrorCode)]),
];

export interface ErrorDetails {
  /** The input field at fault, as a dotted path (`input.resourceRequirements.cpuCores`). */
  field?: string;
  [key: string]: unknown;
}

export class LcmError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'LcmError';
    this.code = code;
    this.details = details;
  }
}

export const badInput = (field: string, message: string, details: ErrorDetails = {}): LcmError =>
  new LcmError(ErrorCode.BAD_USER_INPUT, `${field}: ${message}`, { ...details, field });

export const notFound = (what: string, id: string): LcmError =>
  new LcmError(ErrorCode.NOT_FOUND, `${what} ${id} not found`, { id });

export const conflict = (message: string, details: ErrorDetails = {}): LcmError =>
  new LcmError(ErrorCode.CONFLICT, message, details);

export const invalidTransition = (entity: string, from: string, to: string): LcmError =>
  new LcmError(ErrorCode.INVALID_TRANSITION, `${entity} cannot go from ${from} to ${to}`, { from, to });

export const forbidden = (message: string, details: ErrorDetails = {}): LcmError =>
  new LcmError(ErrorCode.FORBIDDEN, message, details);

export const unauthenticated = (message = 'a valid bearer token is required'): LcmError =>
  new LcmError(ErrorCode.UNAUTHENTICATED, message);

export const isLcmError = (e: unknown): e is LcmError => e instanceof LcmError;
