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
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

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
