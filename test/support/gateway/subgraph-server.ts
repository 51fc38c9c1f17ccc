import http from 'node:http';
import { parse, execute, validate, type DocumentNode, type GraphQLSchema, type GraphQLError } from 'graphql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { listen } from '../../../core/ops/ops-server.ts';

/**
 * A small GraphQL server for a Federation subgraph schema, used by the gateway tests: GraphQL over
 * HTTP POST and graphql-ws (`graphql-transport-ws`) on the same path, as the project's subgraphs do
 * (DESIGN.md §5).
 */
export interface SubgraphServerOptions {
  name: string;
  schema: GraphQLSchema;
  port?: number;
  host?: string;
  /** Default `/graphql`. */
  path?: string;
  /** Observes every HTTP request (tests check forwarded headers and batching with it). */
  onRequest?: (request: SubgraphRequestRecord) => void;
}

export interface SubgraphRequestRecord {
  headers: http.IncomingHttpHeaders;
  body: { query?: string; variables?: Record<string, unknown>; operationName?: string };
}

export interface RunningSubgraph {
  name: string;
  /** `http://host:port/path`: the routing URL. */
  url: string;
  /** The same address with the ws:// scheme. */
  wsUrl: string;
  /** Number of HTTP GraphQL requests served. */
  readonly requestCount: number;
  /** Connection params received by graphql-ws connections, in order. */
  readonly connectionParams: Array<Record<string, unknown> | undefined>;
  /** graphql-ws `ping` messages received (keep-alive from clients such as the gateway). */
  readonly pings: number;
  /** Force-close every WebSocket connection (simulates the subgraph going away for subscribers). */
  dropWebSockets(): void;
  close(): Promise<void>;
}

export interface SubgraphContext {
  headers: http.IncomingHttpHeaders;
  connectionParams?: Record<string, unknown>;
}

export async function startSubgraphServer(options: SubgraphServerOptions): Promise<RunningSubgraph> {
  const path = options.path ?? '/graphql';
  const documents = new Map<string, DocumentNode>();
  const connectionParams: Array<Record<string, unknown> | undefined> = [];
  let requestCount = 0;
  let pings = 0;

  const documentFor = (query: string): DocumentNode | readonly GraphQLError[] => {
    let document = documents.get(query);
    if (!document) {
      try {
        document = parse(query);
      } catch (e) {
        return [e as GraphQLError];
      }
      const errors = validate(options.schema, document);
      if (errors.length > 0) return errors;
      documents.set(query, document);
    }
    return document;
  };

  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== path || req.method !== 'POST') {
      res.writeHead(url === path ? 405 : 404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requestCount++;
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: SubgraphRequestRecord['body'];
      try {
        body = JSON.parse(raw) as SubgraphRequestRecord['body'];
      } catch {
        send(res, 400, Buffer.from(JSON.stringify({ errors: [{ message: 'invalid JSON body' }] })));
        return;
      }
      options.onRequest?.({ headers: req.headers, body });
      const document = documentFor(body.query ?? '');
      if (!('kind' in document)) {
        send(res, 400, Buffer.from(JSON.stringify({ errors: document.map((e) => e.toJSON()) })));
        return;
      }
      const context: SubgraphContext = { headers: req.headers };
      Promise.resolve(
        execute({
          schema: options.schema,
          document,
          variableValues: body.variables,
          operationName: body.operationName,
          contextValue: context,
        }),
      )
        .then((result) => send(res, 200, Buffer.from(JSON.stringify(result))))
        .catch((e: unknown) => {
          send(res, 500, Buffer.from(JSON.stringify({ errors: [{ message: String(e) }] })));
        });
    });
  });
  server.keepAliveTimeout = 60_000;

  const wss = new WebSocketServer({ server, path });
  const wsServer = useServer(
    {
      schema: options.schema,
      context: (ctx): SubgraphContext => ({
        headers: ctx.extra.request.headers,
        connectionParams: ctx.connectionParams,
      }),
      onConnect: (ctx) => {
        connectionParams.push(ctx.connectionParams);
        return true;
      },
      onPing: () => {
        pings++;
      },
    },
    wss,
  );

  const running = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const url = `${running.url}${path}`;
  return {
    name: options.name,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    get requestCount() {
      return requestCount;
    },
    connectionParams,
    get pings() {
      return pings;
    },
    dropWebSockets() {
      for (const socket of wss.clients) socket.terminate();
    },
    async close() {
      for (const socket of wss.clients) socket.terminate();
      await wsServer.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await running.close();
    },
  };
}

function send(res: http.ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}
