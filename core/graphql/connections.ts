import { badInput } from '../errors.ts';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from '../persistence/document-store.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** Validate Relay arguments: `first` in 0..500 (default 50), `after` a cursor from this API. */
export function pageRequest(first: number | null | undefined, after: string | null | undefined): PageRequest {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw badInput('first', `must be an integer between 0 and ${MAX_PAGE_SIZE}`);
  }
  if (after === null || after === undefined) return { first: size };
  if (decodeCursor(after) === undefined) throw badInput('after', 'is not a valid cursor');
  return { first: size, after };
}

export interface Connection<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

export function toConnection<T extends { id: string }>(page: Page<T>): Connection<T> {
  const edges = page.items.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return {
    edges,
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    totalCount: page.totalCount,
  };
}
