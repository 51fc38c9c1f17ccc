import net from 'node:net';

/**
 * A small HTTP/1.1 client for gateway → subgraph POSTs: keep-alive sockets to one origin with a cap,
 * one write per request, and a response parser that handles exactly what subgraphs send
 * (`content-length` or `chunked` bodies, `connection: close`).
 *
 * Why not undici: measured on the benchmark machine, undici's client side costs ~150 µs of CPU per
 * request and this one a fraction of that (docs/adr/0004-gateway-executor.md); a federated query
 * makes many subgraph requests, so this is most of the gateway's per-request cost.
 */
export interface Http1Response {
  status: number;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface Http1PoolOptions {
  /** Most sockets open at once; further requests wait for a free socket. */
  connections: number;
  /** An idle socket is closed after this many ms (keep it under the subgraph's keep-alive timeout). */
  idleTimeoutMs: number;
  /** Time allowed for a whole response, ms. */
  timeoutMs: number;
}

export class Http1Error extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'Http1Error';
  }
}

interface Pending {
  head: string;
  body: Buffer;
  resolve: (response: Http1Response) => void;
  reject: (error: Error) => void;
  /** Retries allowed when a reused socket turns out to be closed before any response byte. */
  retries: number;
}

const CRLF = 0x0d0a;
const EMPTY = Buffer.alloc(0);

/** Parses one response at a time from a socket's bytes. */
class ResponseParser {
  private pieces: Buffer[] = [];
  private piecesLength = 0;
  private state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-trailer' = 'head';
  private status = 0;
  private headers: Record<string, string> = {};
  private remaining = 0;
  private chunks: Buffer[] = [];
  keepAlive = true;
  /** Whether any byte of the current response arrived. */
  started = false;

  reset(): void {
    this.pieces = [];
    this.piecesLength = 0;
    this.state = 'head';
    this.status = 0;
    this.headers = {};
    this.remaining = 0;
    this.chunks = [];
    this.started = false;
  }

  /** Feeds bytes; returns a complete response if one ended (leftover bytes are kept). */
  feed(data: Buffer): Http1Response | undefined {
    this.started = true;
    this.pieces.push(data);
    this.piecesLength += data.length;
    for (;;) {
      switch (this.state) {
        case 'head': {
          const buffer = this.joined();
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buffer.length > 64 * 1024) throw new Http1Error('response head too large', 'HPE_HEADER_OVERFLOW');
            return undefined;
          }
          this.parseHead(buffer.toString('latin1', 0, end));
          this.keep(buffer.subarray(end + 4));
          if (this.headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
            this.state = 'chunk-size';
          } else {
            const length = this.headers['content-length'];
            if (length === undefined) throw new Http1Error('response without content-length or chunked encoding', 'HPE_UNSUPPORTED');
            this.remaining = Number(length);
            if (!Number.isInteger(this.remaining) || this.remaining < 0) throw new Http1Error(`invalid content-length ${length}`, 'HPE_INVALID');
            this.state = 'length';
          }
          break;
        }
        case 'length': {
          if (this.piecesLength < this.remaining) return undefined;
          const buffer = this.joined();
          const body = buffer.subarray(0, this.remaining);
          this.keep(buffer.subarray(this.remaining));
          return this.complete(body);
        }
        case 'chunk-size': {
          const buffer = this.joined();
          const end = buffer.indexOf('\r\n');
          if (end < 0) return undefined;
          const size = parseInt(buffer.toString('latin1', 0, end).split(';')[0]!.trim(), 16);
          if (!Number.isFinite(size) || size < 0) throw new Http1Error('invalid chunk size', 'HPE_INVALID');
          this.keep(buffer.subarray(end + 2));
          if (size === 0) {
            this.state = 'chunk-trailer';
          } else {
            this.remaining = size;
            this.state = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          if (this.piecesLength < this.remaining + 2) return undefined;
          const buffer = this.joined();
          this.chunks.push(buffer.subarray(0, this.remaining));
          if (buffer.readUInt16BE(this.remaining) !== CRLF) throw new Http1Error('invalid chunk ending', 'HPE_INVALID');
          this.keep(buffer.subarray(this.remaining + 2));
          this.state = 'chunk-size';
          break;
        }
        case 'chunk-trailer': {
          // Trailer fields (usually none) end with an empty line.
          const buffer = this.joined();
          if (buffer.length >= 2 && buffer.readUInt16BE(0) === CRLF) {
            this.keep(buffer.subarray(2));
            return this.complete(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
          }
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return undefined;
          this.keep(buffer.subarray(end + 4));
          return this.complete(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
        }
      }
    }
  }

  /** The unparsed bytes as one buffer. */
  private joined(): Buffer {
    if (this.pieces.length !== 1) {
      const all = Buffer.concat(this.pieces, this.piecesLength);
      this.pieces = [all];
    }
    return this.pieces[0] ?? EMPTY;
  }

  private keep(rest: Buffer): void {
    this.pieces = rest.length > 0 ? [rest] : [];
    this.piecesLength = rest.length;
  }

  get hasLeftover(): boolean {
    return this.piecesLength > 0;
  }

  private parseHead(head: string): void {
    const lines = head.split('\r\n');
    const statusLine = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
    if (!statusLine) throw new Http1Error(`invalid status line: ${lines[0]}`, 'HPE_INVALID');
    this.status = Number(statusLine[2]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    this.headers = headers;
    const connection = headers.connection?.toLowerCase();
    this.keepAlive = statusLine[1] === '1' ? connection !== 'close' : connection === 'keep-alive';
  }

  private complete(body: Buffer): Http1Response {
    const response = { status: this.status, headers: this.headers, body };
    const keepAlive = this.keepAlive;
    this.reset();
    this.keepAlive = keepAlive;
    return response;
  }
}

class Connection {
  readonly socket: net.Socket;
  private readonly parser = new ResponseParser();
  private current: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Requests completed on this socket (a reused socket may have been closed by the server). */
  used = 0;
  closed = false;

  constructor(
    private readonly pool: Http1Pool,
    host: string,
    port: number,
  ) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (data: Buffer) => this.onData(data));
    this.socket.on('error', (error) => this.onClose(error));
    this.socket.on('close', () => this.onClose(new Http1Error('socket closed before the response ended', 'ECONNRESET')));
  }

  send(pending: Pending): void {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.current = pending;
    this.parser.reset();
    this.timer = setTimeout(() => {
      this.fail(new Http1Error(`no complete response within ${this.pool.options.timeoutMs} ms`, 'ETIMEDOUT'), false);
      this.socket.destroy();
    }, this.pool.options.timeoutMs);
    if (pending.body.length < 16 * 1024) {
      this.socket.write(Buffer.concat([Buffer.from(pending.head, 'latin1'), pending.body]));
    } else {
      this.socket.cork();
      this.socket.write(pending.head, 'latin1');
      this.socket.write(pending.body);
      this.socket.uncork();
    }
  }

  private onData(data: Buffer): void {
    if (!this.current) {
      // Bytes nobody asked for: the connection is out of sync.
      this.socket.destroy();
      return;
    }
    let response: Http1Response | undefined;
    try {
      response = this.parser.feed(data);
    } catch (error) {
      this.fail(error as Error, false);
      this.socket.destroy();
      return;
    }
    if (!response) return;
    const pending = this.current;
    this.current = undefined;
    clearTimeout(this.timer);
    this.used++;
    if (!this.parser.keepAlive || this.parser.hasLeftover) {
      this.closed = true;
      this.socket.destroy();
      this.pool.released(this, false);
    } else {
      this.idleTimer = setTimeout(() => this.socket.destroy(), this.pool.options.idleTimeoutMs);
      this.idleTimer.unref();
      this.pool.released(this, true);
    }
    pending.resolve(response);
  }

  private onClose(error: Error): void {
    if (this.closed && !this.current) return;
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.idleTimer);
    const canRetry = this.used > 0 && !this.parser.started;
    this.fail(error, canRetry);
    this.pool.released(this, false);
  }

  private fail(error: Error, canRetry: boolean): void {
    const pending = this.current;
    if (!pending) return;
    this.current = undefined;
    clearTimeout(this.timer);
    if (canRetry && pending.retries > 0) {
      pending.retries--;
      this.pool.enqueue(pending);
    } else {
      pending.reject(error);
    }
  }
}

/** Keep-alive connections to one origin. */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly queue: Pending[] = [];
  private open = 0;
  private closing = false;
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;

  constructor(
    origin: URL,
    readonly options: Http1PoolOptions,
  ) {
    if (origin.protocol !== 'http:') throw new Error(`only http:// subgraphs are supported by this client: ${origin.href}`);
    this.host = origin.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(origin.port || 80);
    this.hostHeader = origin.host;
  }

  /**
   * POSTs `body` to `path`. `retryOnStaleSocket`: if a reused keep-alive socket turns out to be
   * closed before any byte of the answer arrived, send again on a new socket (queries only: a
   * mutation is never sent twice).
   */
  post(path: string, headers: string, body: Buffer, retryOnStaleSocket: boolean): Promise<Http1Response> {
    if (this.closing) return Promise.reject(new Http1Error('client closed', 'ECLOSED'));
    const head =
      `POST ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\nconnection: keep-alive\r\n` +
      `content-length: ${body.length}\r\n${headers}\r\n`;
    return new Promise((resolve, reject) => {
      this.enqueue({ head, body, resolve, reject, retries: retryOnStaleSocket ? 1 : 0 });
    });
  }

  /** @internal */
  enqueue(pending: Pending): void {
    const connection = this.idle.pop();
    if (connection) {
      connection.send(pending);
      return;
    }
    if (this.open < this.options.connections) {
      this.open++;
      new Connection(this, this.host, this.port).send(pending);
      return;
    }
    this.queue.push(pending);
  }

  /** @internal A connection finished a request (`reusable`) or died. */
  released(connection: Connection, reusable: boolean): void {
    if (!reusable) {
      const index = this.idle.indexOf(connection);
      if (index >= 0) this.idle.splice(index, 1);
      this.open--;
      const next = this.queue.shift();
      if (next) this.enqueue(next);
      return;
    }
    const next = this.queue.shift();
    if (next) {
      connection.send(next);
    } else if (this.closing) {
      connection.socket.destroy();
    } else {
      this.idle.push(connection);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const pending of this.queue.splice(0)) pending.reject(new Http1Error('client closed', 'ECLOSED'));
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
  }
}
