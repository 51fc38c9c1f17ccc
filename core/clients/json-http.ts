/**
 * A small JSON-over-HTTP transport shared by the LDS and grading-engine clients: a timeout per attempt,
 * retries with exponential backoff and jitter on what is worth retrying (connection failures, 5xx, 408,
 * 429), and errors that carry the HTTP status and the server's stable code. A POST is retried only
 * when the request never reached the server (connection refused), or when the caller says it is
 * idempotent; both clients make their creations idempotent by looking up before creating.
 */
export interface JsonHttpOptions {
  /** Root URL of the service, e.g. `http://127.0.0.1:4110`. */
  baseUrl: string;
  /** Timeout of each attempt (default 10 000 ms). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** First backoff delay (default 100 ms), doubling up to `maxDelayMs` (default 2 000 ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Extra headers on every request (e.g. authorization). */
  headers?: Record<string, string>;
  /** Name of the service in error messages. */
  service: string;
}

/** A failed call: `status` 0 when no HTTP answer was received. */
export class HttpServiceError extends Error {
  constructor(
    readonly service: string,
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpServiceError';
  }

  /** Worth trying again later (the service was unreachable or failed on its side). */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 408 || this.status === 429;
  }

  get notFound(): boolean {
    return this.status === 404;
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

function causeCode(e: unknown): string | undefined {
  let c: unknown = e;
  for (let i = 0; i < 4 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });

export class JsonHttp {
  private readonly baseUrl: string;
  private readonly options: Required<Omit<JsonHttpOptions, 'headers'>> & { headers: Record<string, string> };

  constructor(options: JsonHttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.options = {
      baseUrl: this.baseUrl,
      timeoutMs: options.timeoutMs ?? 10_000,
      retries: options.retries ?? 3,
      baseDelayMs: options.baseDelayMs ?? 100,
      maxDelayMs: options.maxDelayMs ?? 2_000,
      headers: options.headers ?? {},
      service: options.service,
    };
  }

  async request<T>(method: Method, path: string, body?: unknown, opts: { idempotent?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    const idempotent = opts.idempotent ?? method !== 'POST';
    const url = `${this.baseUrl}${path}`;
    for (let attempt = 0; ; attempt++) {
      let error: HttpServiceError;
      let retryable: boolean;
      try {
        const signals = [AbortSignal.timeout(this.options.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
        const res = await fetch(url, {
          method,
          headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...this.options.headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.any(signals),
        });
        const text = await res.text();
        const parsed = text ? safeJson(text) : undefined;
        if (res.ok) return parsed as T;
        const { code, message } = errorOf(parsed, res.status);
        error = new HttpServiceError(this.options.service, res.status, code, `${this.options.service} ${method} ${path}: ${res.status} ${message}`);
        retryable = error.transient && (idempotent || res.status === 429 || res.status === 503);
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        const code = causeCode(e) ?? (e instanceof Error ? e.name : 'ERROR');
        error = new HttpServiceError(this.options.service, 0, code, `${this.options.service} ${method} ${path}: ${e instanceof Error ? e.message : String(e)} (${code})`, { cause: e });
        retryable = idempotent || CONNECT_CODES.has(code);
      }
      if (!retryable || attempt >= this.options.retries) throw error;
      const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** attempt);
      await sleep(delay / 2 + Math.random() * (delay / 2), opts.signal);
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The LDS simulator answers `{error: {code, message}}`, the grading engine RFC 7807 with a `code`. */
function errorOf(body: unknown, status: number): { code: string; message: string } {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const inner = (b.error && typeof b.error === 'object' ? b.error : b) as Record<string, unknown>;
    const code = typeof inner.code === 'string' ? inner.code : `HTTP_${status}`;
    const message =
      typeof inner.message === 'string' ? inner.message : typeof inner.detail === 'string' ? inner.detail : typeof inner.title === 'string' ? inner.title : JSON.stringify(body);
    return { code, message };
  }
  return { code: `HTTP_${status}`, message: typeof body === 'string' ? body.slice(0, 200) : '' };
}
