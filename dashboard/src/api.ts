/**
 * Talking to the gateway: queries and mutations over HTTP POST, subscriptions over graphql-ws on the
 * same path. Operations are the typed strings codegen writes from dashboard/operations.graphql.
 */
import { createClient, type Client } from 'graphql-ws';
import type { TypedDocumentString } from '../__generated__/operations.ts';

export type Endpoint = 'public' | 'internal';
const PATHS: Record<Endpoint, string> = { public: '/graphql', internal: '/internal/graphql' };

/** A GraphQL error answer, with the contract's `extensions.code`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface WhoAmI {
  active: boolean;
  subject?: string;
  kind?: string;
  scopes?: string[];
  code?: string;
  message?: string;
}

/** Asks the gateway what a token is (never a 4xx, so a wrong token logs nothing in the console). */
export async function whoAmI(token: string): Promise<WhoAmI> {
  const res = await fetch('/dashboard/whoami', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (!res.ok) throw new ApiError(`the gateway answered ${res.status}`, 'INTERNAL_SERVER_ERROR');
  return (await res.json()) as WhoAmI;
}

/** A running subscription of `Api.subscribe`. */
export interface ResumableSubscription {
  /** It has a cursor: after a reconnection it resumes, so its list needs no re-reading. */
  readonly resumable: boolean;
  stop(): void;
}

export class Api {
  private ws: Client | undefined;

  constructor(private readonly token: string) {}

  async request<R, V>(document: TypedDocumentString<R, V>, variables: V, endpoint: Endpoint = 'public'): Promise<R> {
    let res: Response;
    try {
      res = await fetch(PATHS[endpoint], {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${this.token}` },
        body: JSON.stringify({ query: document.toString(), variables }),
      });
    } catch {
      throw new ApiError('the gateway cannot be reached', 'NETWORK');
    }
    let body: { data?: R | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new ApiError(`the gateway answered ${res.status} without a GraphQL body`, 'INTERNAL_SERVER_ERROR');
    }
    const first = body.errors?.[0];
    if (first) throw new ApiError(first.message, first.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
    if (!body.data) throw new ApiError('no data in the answer', 'INTERNAL_SERVER_ERROR');
    return body.data;
  }

  /**
   * Opens the WebSocket (retrying for ever, with backoff up to 5 s). `onConnected(again)` runs on every
   * (re)connection, `onClosed` when it drops.
   */
  connect(listeners: { onConnected(again: boolean): void; onClosed(): void }): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${PATHS.public}`;
    let connectedBefore = false;
    this.ws = createClient({
      url,
      lazy: false,
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: async (retries) => {
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 300 * 2 ** retries) * (0.75 + Math.random() / 2)));
      },
      connectionParams: () => ({ authorization: `Bearer ${this.token}` }),
      on: {
        connected: () => {
          listeners.onConnected(connectedBefore);
          connectedBefore = true;
        },
        closed: () => listeners.onClosed(),
      },
    });
  }

  /**
   * A subscription kept across reconnections that misses nothing: it keeps the cursor of the last
   * event (`extensions.cursor`) and, when graphql-ws reconnects and sends the subscription again, asks
   * for the events after it (`after: $after`), which the gateway replays in order before the live ones.
   * When the gateway no longer holds them (SUBSCRIPTION_CURSOR_EXPIRED) it subscribes afresh and calls
   * `expired`, so the page re-reads what it shows.
   */
  subscribe<R>(
    document: TypedDocumentString<R, { after?: string | null }>,
    handlers: { next(data: R): void; expired(): void; error(e: ApiError): void },
  ): ResumableSubscription {
    const ws = this.ws;
    if (!ws) throw new Error('connect() first');
    let cursor: string | undefined;
    let stop: () => void = () => {};
    let stopped = false;
    // graphql-ws sends this same payload again after every reconnection: `variables` is a getter, so
    // each (re)send carries the latest cursor.
    const payload = {
      query: document.toString(),
      get variables(): { after?: string } {
        return cursor === undefined ? {} : { after: cursor };
      },
    };
    const start = () => {
      let replaced = false;
      const expired = () => {
        replaced = true;
        cursor = undefined;
        if (stopped) return;
        start();
        handlers.expired();
      };
      stop = ws.subscribe<R>(payload, {
        next: (result) => {
          if (replaced || stopped) return;
          const first = result.errors?.[0];
          // The gateway reports a refused cursor as an event carrying the error, then completes.
          if (first?.extensions?.code === 'SUBSCRIPTION_CURSOR_EXPIRED') return expired();
          if (first) return handlers.error(new ApiError(first.message, String(first.extensions?.code ?? 'INTERNAL_SERVER_ERROR')));
          const c = (result.extensions as Record<string, unknown> | undefined)?.['cursor'];
          if (typeof c === 'string') cursor = c;
          if (result.data) handlers.next(result.data);
        },
        error: (e) => {
          if (replaced || stopped) return;
          const first = Array.isArray(e) ? (e[0] as { message?: string; extensions?: { code?: string } } | undefined) : undefined;
          if (first?.extensions?.code === 'SUBSCRIPTION_CURSOR_EXPIRED') return expired();
          handlers.error(new ApiError(first?.message ?? (e instanceof Error ? e.message : 'subscription failed'), first?.extensions?.code ?? 'NETWORK'));
        },
        complete: () => {},
      });
    };
    start();
    return {
      get resumable() {
        return cursor !== undefined;
      },
      stop() {
        stopped = true;
        stop();
      },
    };
  }

  close(): void {
    void this.ws?.dispose();
    this.ws = undefined;
  }
}
