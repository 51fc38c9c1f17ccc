/**
 * Exit codes of the operator CLI (CONTRACT.md "The operator CLI"): 0 success, 2 usage errors,
 * 3 unauthenticated/forbidden, 4 not found, 5 conflict or invalid transition, 1 anything else.
 */
export const ExitCode = {
  OK: 0,
  OTHER: 1,
  USAGE: 2,
  AUTH: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure to report on one stderr line (`error: …`) and exit with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usage = (message: string): CliError => new CliError(message, ExitCode.USAGE, 'USAGE');
export const notFound = (message: string): CliError => new CliError(message, ExitCode.NOT_FOUND, 'NOT_FOUND');
export const conflict = (message: string): CliError => new CliError(message, ExitCode.CONFLICT, 'CONFLICT');

/** The exit code of an error code of the API (`extensions.code` or an admin route's `error.code`). */
export function exitCodeOf(code: string): ExitCode {
  switch (code) {
    case 'UNAUTHENTICATED':
    case 'FORBIDDEN':
      return ExitCode.AUTH;
    case 'NOT_FOUND':
      return ExitCode.NOT_FOUND;
    case 'CONFLICT':
    case 'INVALID_TRANSITION':
      return ExitCode.CONFLICT;
    case 'BAD_USER_INPUT':
      return ExitCode.USAGE;
    default:
      return ExitCode.OTHER;
  }
}
