/** Every item of a Relay connection, page by page (oldest first), fetching the next page only when needed. */
export interface Connection<T> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: Array<{ node: T }>;
}

/** Largest page the API serves (docs/api.md: `first` at most 500). */
export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 200;

export async function* allPages<T>(
  fetchPage: (first: number, after: string | null) => Promise<Connection<T>>,
  pageSize = DEFAULT_PAGE_SIZE,
): AsyncGenerator<T> {
  let after: string | null = null;
  for (;;) {
    const page: Connection<T> = await fetchPage(pageSize, after);
    for (const edge of page.edges) yield edge.node;
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor || page.edges.length === 0) return;
    after = page.pageInfo.endCursor;
  }
}
