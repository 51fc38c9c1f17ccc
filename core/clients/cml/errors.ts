/**
 * Errors of the CML client. Every one extends `CmlError`; callers branch on the class (or on `status`
 * of a `CmlApiError`), never on message text.
 */

export class CmlError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CmlError';
  }
}

/**
 * The CML API answered with an error status. `code` and `description` come from CML's ErrorResponse
 * body `{code, description}`; for non-JSON bodies (nginx's 502 page) `code` is the status and
 * `description` a short text.
 */
export class CmlApiError extends CmlError {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly description: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`CML ${method} ${path} failed with ${status}: ${description}`);
    this.name = 'CmlApiError';
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }

  /** 400: the operation is not valid in the current state (or an import failed). */
  get isBadRequest(): boolean {
    return this.status === 400;
  }

  get isConflict(): boolean {
    return this.status === 409;
  }

  /** The controller (or its proxy) is not ready: 502/503. */
  get isNotReady(): boolean {
    return this.status === 502 || this.status === 503;
  }
}

/** Bad credentials (403 from `/authenticate`), or still 401 after one re-authentication. */
export class CmlAuthenticationError extends CmlApiError {
  constructor(status: number, code: number, description: string, method: string, path: string) {
    super(status, code, description, method, path);
    this.name = 'CmlAuthenticationError';
  }
}

/** No HTTP answer: connection refused or reset, DNS failure, or the request timed out. */
export class CmlConnectionError extends CmlError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly reason: string,
    cause: unknown,
  ) {
    super(`CML ${method} ${path}: ${reason}`, { cause });
    this.name = 'CmlConnectionError';
  }
}

/** The API answered 2xx with a body that is not what the API promises. */
export class CmlResponseError extends CmlError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`CML ${method} ${path} returned an unexpected body: ${problem}`);
    this.name = 'CmlResponseError';
  }
}

/** A lab did not converge before the deadline (not an API failure: the lab is still there). */
export class CmlNotConvergedError extends CmlError {
  constructor(
    readonly labId: string,
    readonly timeoutMs: number,
    /** Nodes not yet in a steady state when the deadline passed (empty when they could not be read). */
    readonly pendingNodes: Array<{ id: string; label: string; state: string }>,
  ) {
    const detail = pendingNodes.length
      ? `; nodes not converged: ${pendingNodes.map((n) => `${n.label} (${n.state})`).join(', ')}`
      : '';
    super(`CML lab ${labId} did not converge within ${timeoutMs} ms${detail}`);
    this.name = 'CmlNotConvergedError';
  }
}

/** A licence registration ended FAILED, or did not complete before the deadline. */
export class CmlLicenseError extends CmlError {
  constructor(
    message: string,
    readonly registrationStatus: string,
  ) {
    super(message);
    this.name = 'CmlLicenseError';
  }
}
