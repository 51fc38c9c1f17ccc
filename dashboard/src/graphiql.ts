/**
 * GraphiQL for `/graphql` (public schema) and `/internal/graphql` (internal schema): the gateway
 * serves this page to a browser's GET of either path and the page talks to the path it was loaded
 * from. Queries and mutations go over HTTP POST, subscriptions over graphql-ws; both carry the
 * `Authorization` header of the header editor, prefilled from the dashboard's token (session storage).
 */
import 'graphiql/style.css';
import './graphiql-page.css';
import { GraphiQL } from 'graphiql';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { createClient, type Client, type ExecutionResult } from 'graphql-ws';

interface FetcherParams {
  query: string;
  operationName?: string | null;
  variables?: unknown;
}
interface FetcherOpts {
  headers?: Record<string, unknown>;
}

const TOKEN_KEY = 'lcm.token';
const path = location.pathname.replace(/\/+$/, '') || '/graphql';
const internal = path === '/internal/graphql';
const token = sessionStorage.getItem(TOKEN_KEY);
const headers = JSON.stringify({ Authorization: `Bearer ${token ?? '<paste the admin token or an API key>'}` }, null, 2);

/** The header editor's Authorization, else the dashboard's token (GraphiQL's first schema fetch may come before the editor's headers). */
function authorizationOf(opts: FetcherOpts | undefined): string | undefined {
  for (const [name, value] of Object.entries(opts?.headers ?? {})) {
    if (name.toLowerCase() === 'authorization' && typeof value === 'string') return value;
  }
  return token ? `Bearer ${token}` : undefined;
}

/** One WebSocket per Authorization value (a changed header opens a new connection). */
let ws: { authorization: string | undefined; client: Client } | undefined;
function wsClient(authorization: string | undefined): Client {
  if (!ws || ws.authorization !== authorization) {
    void ws?.client.dispose();
    ws = {
      authorization,
      client: createClient({
        url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`,
        connectionParams: authorization ? { authorization } : {},
      }),
    };
  }
  return ws.client;
}

const isSubscription = (query: string, operationName: string | null | undefined) => {
  // The selected operation's kind, without parsing the whole document.
  const ops = [...query.matchAll(/\b(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/g)];
  const op = operationName ? ops.find((m) => m[2] === operationName) : ops[0];
  return op?.[1] === 'subscription';
};

function fetcher(params: FetcherParams, opts?: FetcherOpts) {
  const authorization = authorizationOf(opts);
  if (isSubscription(params.query, params.operationName)) {
    return wsClient(authorization).iterate({
      query: params.query,
      ...(params.operationName ? { operationName: params.operationName } : {}),
      ...(params.variables ? { variables: params.variables as Record<string, unknown> } : {}),
    }) as AsyncIterable<ExecutionResult>;
  }
  const requestHeaders: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  for (const [name, value] of Object.entries(opts?.headers ?? {})) if (typeof value === 'string' && name.toLowerCase() !== 'authorization') requestHeaders[name] = value;
  if (authorization) requestHeaders.authorization = authorization;
  return fetch(path, { method: 'POST', headers: requestHeaders, body: JSON.stringify(params) }).then((r) => r.json() as Promise<ExecutionResult>);
}

const defaultQuery = internal
  ? `# The internal schema: the controllers' operations (internal scope).
query Workers {
  workers(first: 10) {
    totalCount
    edges { node { id name status desiredStatus allocatedCapacity { cpuCores memoryGb maxNodes } } }
  }
}
`
  : `# The public LCM schema. Ctrl-Enter runs the query.
query Sessions {
  sessions(first: 10) {
    totalCount
    edges { node { id status owner definition { name version } worker { name } userSession { loginUrl } } }
  }
}

# Live updates: subscription { sessionUpdated { id status owner } }
`;

document.title = `GraphiQL · LCM ${internal ? 'internal' : 'public'} schema`;
createRoot(document.getElementById('graphiql')!).render(
  createElement(GraphiQL, {
    fetcher: fetcher as never,
    defaultQuery,
    headers,
    defaultHeaders: headers,
    defaultEditorToolsVisibility: token ? false : 'headers',
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    storage: namespacedStorage(internal ? 'lcm-internal:' : 'lcm-public:'),
  }),
);

/** Tabs and history kept apart for the two schemas. */
function namespacedStorage(prefix: string): Storage {
  const s = window.localStorage;
  return {
    get length() {
      return s.length;
    },
    clear: () => {
      for (const key of Object.keys(s)) if (key.startsWith(prefix)) s.removeItem(key);
    },
    getItem: (key: string) => s.getItem(prefix + key),
    key: (i: number) => s.key(i),
    removeItem: (key: string) => s.removeItem(prefix + key),
    setItem: (key: string, value: string) => s.setItem(prefix + key, value),
  };
}
