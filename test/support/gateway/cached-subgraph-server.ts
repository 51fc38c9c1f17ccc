import net from 'node:net';
import { execute, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql';

/**
 * The benchmark's subgraph server: GraphQL over HTTP/1.1 POST on a raw TCP server with a response
 * cache keyed by the request body. The first request with a given body runs through graphql-js;
 * every later one is answered from memory with a single socket write and no HTTP framework work, so
 * the gateways, not the subgraphs, use the machine's CPU. (Node's `http` module alone costs tens
 * of microseconds per request, which at thousands of subgraph requests per second is a large share
 * of a 2-core machine.)
 *
 * It understands what gateways send: `content-length` or `chunked` request bodies, keep-alive,
 * `connection: close`. Anything else gets `400` and the connection is closed.
 */
export interface CachedSubgraphServer {
  url: string;
  close(): Promise<void>;
}

interface ParsedRequest {
  method: string;
  path: string;
  body: Buffer;
  close: boolean;
}

const BAD_REQUEST = Buffer.from('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
const NOT_FOUND = Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');

function response(body: Buffer): Buffer {
  const head = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${body.length}\r\n\r\n`);
  return Buffer.concat([head, body]);
}

/** Takes one complete request off the front of `buffer`; `undefined` when more bytes are needed. */
function takeRequest(buffer: Buffer): { request: ParsedRequest; rest: Buffer } | undefined | 'bad' {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return buffer.length > 64 * 1024 ? 'bad' : undefined;
  const lines = buffer.toString('latin1', 0, headEnd).split('\r\n');
  const [method, path, version] = lines[0]!.split(' ');
  if (!method || !path || !version?.startsWith('HTTP/1.')) return 'bad';
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get('expect')) return 'bad';
  const close = headers.get('connection')?.toLowerCase() === 'close' || version === 'HTTP/1.0';
  let offset = headEnd + 4;
  if (headers.get('transfer-encoding')?.toLowerCase().includes('chunked')) {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', offset);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buffer.toString('latin1', offset, lineEnd), 16);
      if (!Number.isFinite(size)) return 'bad';
      offset = lineEnd + 2;
      if (size === 0) {
        const trailerEnd = buffer.indexOf('\r\n', offset);
        if (trailerEnd < 0) return undefined;
        offset = trailerEnd + 2;
        break;
      }
      if (buffer.length < offset + size + 2) return undefined;
      chunks.push(buffer.subarray(offset, offset + size));
      offset += size + 2;
    }
    return { request: { method, path, body: Buffer.concat(chunks), close }, rest: buffer.subarray(offset) };
  }
  const length = Number(headers.get('content-length') ?? 0);
  if (!Number.isInteger(length) || length < 0) return 'bad';
  if (buffer.length < offset + length) return undefined;
  return { request: { method, path, body: buffer.subarray(offset, offset + length), close }, rest: buffer.subarray(offset + length) };
}

export async function startCachedSubgraphServer(options: {
  schema: GraphQLSchema;
  path?: string;
  host?: string;
}): Promise<CachedSubgraphServer> {
  const path = options.path ?? '/graphql';
  const cache = new Map<string, Buffer>();
  const documents = new Map<string, DocumentNode>();

  const answer = async (body: Buffer): Promise<Buffer> => {
    const key = body.toString('utf8');
    const cached = cache.get(key);
    if (cached) return cached;
    let payload: string;
    try {
      const request = JSON.parse(key) as { query: string; variables?: Record<string, unknown>; operationName?: string };
      let document = documents.get(request.query);
      if (!document) {
        document = parse(request.query);
        const errors = validate(options.schema, document);
        if (errors.length > 0) return response(Buffer.from(JSON.stringify({ errors })));
        documents.set(request.query, document);
      }
      const result = await execute({
        schema: options.schema,
        document,
        variableValues: request.variables,
        operationName: request.operationName,
        contextValue: { headers: {} },
      });
      payload = JSON.stringify(result);
    } catch (e) {
      payload = JSON.stringify({ errors: [{ message: e instanceof Error ? e.message : String(e) }] });
    }
    const encoded = response(Buffer.from(payload));
    cache.set(key, encoded);
    return encoded;
  };

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let busy = false;
    const drain = async () => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          const taken = takeRequest(buffer);
          if (taken === undefined) return;
          if (taken === 'bad') {
            socket.end(BAD_REQUEST);
            return;
          }
          buffer = taken.rest;
          const { request } = taken;
          const out =
            request.method === 'POST' && request.path.split('?')[0] === path ? await answer(request.body) : NOT_FOUND;
          if (request.close) {
            socket.end(out);
            return;
          }
          socket.write(out);
        }
      } finally {
        busy = false;
      }
    };
    socket.on('data', (data: Buffer) => {
      buffer = buffer.length === 0 ? data : Buffer.concat([buffer, data]);
      void drain();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
