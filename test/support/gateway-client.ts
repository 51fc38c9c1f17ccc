/** Calling the gateway like a client would: HTTP with a bearer token, graphql-ws subscriptions. */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { eventually } from './eventually.ts';
import type { GraphQLResponse } from './subgraph-harness.ts';

export async function gql<T = Record<string, unknown>>(
  url: string,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse<T> & { status: number }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { ...((await res.json()) as GraphQLResponse<T>), status: res.status };
}

/** Data of a response that must have no errors. */
export async function data<T = Record<string, unknown>>(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const r = await gql<T>(url, token, query, variables);
  if (r.errors?.length || !r.data) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data;
}

export interface Subscription<T> {
  events: Array<GraphQLResponse<T>>;
  /** Resolves once the server acknowledged the connection. */
  connected: Promise<void>;
  close(): Promise<void>;
}

export function subscribe<T = Record<string, unknown>>(
  wsUrl: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Subscription<T> {
  let onConnected: () => void = () => {};
  const connected = new Promise<void>((r) => (onConnected = r));
  const client: Client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    on: { connected: () => onConnected() },
  });
  const events: Array<GraphQLResponse<T>> = [];
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    { next: (e) => void events.push(e as GraphQLResponse<T>), error: () => {}, complete: () => {} },
  );
  return {
    events,
    connected,
    async close() {
      unsubscribe();
      await client.dispose();
    },
  };
}

/**
 * graphql-ws has no "subscribed" acknowledgement: run `nudge` (a harmless change the subscription
 * sees) until the first event arrives, so what follows is observed.
 */
export async function untilSubscribed(sub: Subscription<unknown>, nudge: () => Promise<unknown>, timeoutMs = 15_000): Promise<void> {
  await sub.connected;
  await eventually(
    'a first subscription event',
    async () => {
      if (sub.events.length > 0) return true;
      await nudge();
      return false;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** A nudge for session subscriptions: record pipeline progress on the session (internal endpoint). */
export const nudgeSession = (internalUrl: string, token: string, sessionId: string) => () =>
  data(internalUrl, token, `mutation($id: ID!) { recordPipelineProgress(id: $id, pipeline: "probe", progress: {n: 1}) { id } }`, { id: sessionId });
