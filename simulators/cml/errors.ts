/**
 * An error the simulated API answers with CML's ErrorResponse body `{code, description}`
 * (research/cml-api.md §5): `code` is the HTTP status.
 */
export class CmlHttpError extends Error {
  constructor(
    readonly status: number,
    readonly description: string,
  ) {
    super(description);
    this.name = 'CmlHttpError';
  }
}

export const badRequest = (description: string): CmlHttpError => new CmlHttpError(400, description);
export const notFound = (description: string): CmlHttpError => new CmlHttpError(404, description);
export const conflict = (description: string): CmlHttpError => new CmlHttpError(409, description);
