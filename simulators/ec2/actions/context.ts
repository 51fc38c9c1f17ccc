import type { Ec2Faults } from '../faults.ts';
import { ec2Errors } from '../errors.ts';
import type { InstanceFleet } from '../fleet.ts';
import type { ImageCatalogue } from '../images.ts';
import type { InstanceTypeInfo } from '../instance-types.ts';
import type { QueryParams } from '../query.ts';
import type { XmlObject } from '../xml.ts';

/** Everything an action handler may use: the request's parameters and the simulated account. */
export interface ActionContext {
  readonly params: QueryParams;
  readonly fleet: InstanceFleet;
  readonly images: ImageCatalogue;
  readonly faults: Ec2Faults;
  readonly instanceTypes: Readonly<Record<string, InstanceTypeInfo>>;
  /** Most instances (not terminated) the account may have at once. */
  readonly instanceLimit: number;
}

/** An action returns the members of its `<ActionResponse>` element (after `requestId`). */
export type ActionHandler = (context: ActionContext) => XmlObject;

/** `DryRun=true`: the request was valid, so answer DryRunOperation instead of acting. */
export function guardDryRun(params: QueryParams): void {
  if (params.bool('DryRun')) throw ec2Errors.dryRun();
}

/** `MaxResults` for Describe* calls (EC2: 5–1000, not together with explicit ids). */
export function maxResults(params: QueryParams, idsGiven: boolean, idsParameter: string): number | undefined {
  const value = params.int('MaxResults', { min: 5, max: 1000 });
  if (value !== undefined && idsGiven) {
    throw ec2Errors.invalidParameterCombination(`The parameter ${idsParameter} cannot be used with the parameter maxResults`);
  }
  return value;
}

/** An opaque NextToken carrying the position after which the next page starts. */
export function encodeToken(position: number): string {
  return Buffer.from(JSON.stringify({ v: 1, after: position })).toString('base64url');
}

export function decodeToken(token: string | undefined): number | undefined {
  if (token === undefined || token === '') return undefined;
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: unknown; after?: unknown };
    if (decoded.v === 1 && typeof decoded.after === 'number' && Number.isInteger(decoded.after)) return decoded.after;
  } catch {
    // fall through: not one of ours
  }
  throw ec2Errors.invalidPaginationToken(token);
}

/** One page of `items` ordered by `position`: those after the token, at most `limit`. */
export function paginate<T>(
  items: readonly T[],
  position: (item: T) => number,
  limit: number | undefined,
  token: string | undefined,
): { page: T[]; nextToken?: string } {
  const after = decodeToken(token);
  const rest = after === undefined ? [...items] : items.filter((item) => position(item) > after);
  if (limit === undefined || rest.length <= limit) return { page: rest };
  const page = rest.slice(0, limit);
  return { page, nextToken: encodeToken(position(page[page.length - 1] as T)) };
}

export function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
