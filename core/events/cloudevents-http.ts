import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { ErrorCode, HttpErrorCode, isLcmError } from '../errors.ts';
import type { CloudEvent } from './cloudevent.ts';

/**
 * Receiving CloudEvents 1.0 over HTTP (https://github.com/cloudevents/spec, HTTP protocol binding):
 * binary mode (attributes in `ce-*` headers, the data as a JSON body) and structured mode (the whole
 * event as `application/cloudevents+json`). The lablet-controller receives the LDS and grading-engine
 * events with it.
 *
 * Validation is strict and explicit: `specversion` must be "1.0", `id`, `source` and `type` must be
 * non-empty strings, `time` (optional) must be an RFC 3339 timestamp, and the data must be JSON. (The
 * `cloudevents` package's deserializer silently invents a missing `id` or `time`, so it is used to
 * send events, not to judge incoming ones.) Bad input is a `CloudEventRequestError` with an HTTP status
 * (400, 413 or 415) and a message naming the problem. Batched mode is refused (415).
 *
 * The handler can require a bearer token (`Authorization: Bearer <token>`): a request without the
 * right one is answered 401 `UNAUTHENTICATED` before its body is read, so nothing it carries is parsed
 * or processed.
 */

export type CloudEventMode = 'binary' | 'structured';

export interface ReceivedCloudEvent {
  event: CloudEvent;
  mode: CloudEventMode;
}

/** Stable codes of receiver errors, in the `error.code` of the 4xx body (from the one registry). */
export const CloudEventErrorCode = HttpErrorCode;

export class CloudEventRequestError extends Error {
  constructor(
    readonly status: 400 | 405 | 413 | 415,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CloudEventRequestError';
  }
}

const bad = (message: string) => new CloudEventRequestError(400, CloudEventErrorCode.BAD_REQUEST, message);
const unsupported = (message: string) => new CloudEventRequestError(415, CloudEventErrorCode.UNSUPPORTED_MEDIA_TYPE, message);

type Headers = http.IncomingHttpHeaders | Record<string, string | string[] | undefined>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const JSON_MEDIA = /^(application\/json|text\/json|application\/[\w.+-]*\+json)$/;

/** Lower-cased header names, first value of repeated headers. */
function normalizeHeaders(headers: Headers): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out.set(name.toLowerCase(), Array.isArray(value) ? String(value[0] ?? '') : String(value));
  }
  return out;
}

/** The media type without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`). */
function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
}

/** Header values may be percent-encoded (HTTP binding §3.1.3.2). */
function decodeHeader(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw bad(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Parse one HTTP request (its headers and body text) into the project's `CloudEvent`, in whichever
 * mode it was sent. Throws `CloudEventRequestError` on bad input.
 */
export function parseCloudEventMessage(headers: Headers, body: string): ReceivedCloudEvent {
  const h = normalizeHeaders(headers);
  const type = mediaType(h.get('content-type'));
  if (type?.startsWith('application/cloudevents-batch')) {
    throw unsupported('batched mode (application/cloudevents-batch+json) is not supported: send one event per request');
  }
  if (type?.startsWith('application/cloudevents')) {
    if (type !== 'application/cloudevents+json') {
      throw unsupported(`structured mode needs Content-Type application/cloudevents+json, got ${type}`);
    }
    return { event: fromStructured(body), mode: 'structured' };
  }
  if ([...h.keys()].some((name) => name.startsWith('ce-'))) {
    return { event: fromBinary(h, type, body), mode: 'binary' };
  }
  throw bad(
    'not a CloudEvent: expected ce-* headers (binary mode) or Content-Type application/cloudevents+json (structured mode)',
  );
}

function fromStructured(body: string): CloudEvent {
  if (body.trim().length === 0) throw bad('structured-mode request has an empty body');
  const raw = parseJson(body, 'structured-mode body');
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('structured-mode body must be a JSON object');
  const attrs = raw as Record<string, unknown>;
  if ('data_base64' in attrs) throw unsupported('binary data (data_base64) is not supported: the data must be JSON');
  const contentType = attrs.datacontenttype;
  if (contentType !== undefined) {
    if (typeof contentType !== 'string') throw bad('attribute datacontenttype must be a string');
    const media = mediaType(contentType);
    if (!media || !JSON_MEDIA.test(media)) throw unsupported(`datacontenttype must be a JSON media type, got ${contentType}`);
  }
  return build(attrs, attrs.data === undefined ? null : attrs.data, 'attribute ');
}

function fromBinary(h: Map<string, string>, type: string | undefined, body: string): CloudEvent {
  const attrs: Record<string, unknown> = {};
  for (const [name, value] of h) {
    if (name.startsWith('ce-') && name.length > 3) attrs[name.slice(3)] = decodeHeader(value);
  }
  let data: unknown = null;
  if (body.trim().length > 0) {
    if (!type || !JSON_MEDIA.test(type)) {
      throw unsupported(`binary-mode data must be JSON (Content-Type application/json), got ${type ?? 'no Content-Type'}`);
    }
    data = parseJson(body, 'binary-mode body');
  }
  return build(attrs, data, 'header ce-');
}

function requiredString(attrs: Record<string, unknown>, name: string, where: string): string {
  const value = attrs[name];
  if (value === undefined || value === null) throw bad(`missing required ${where}${name}`);
  if (typeof value !== 'string' || value.length === 0) throw bad(`${where}${name} must be a non-empty string`);
  return value;
}

function build(attrs: Record<string, unknown>, data: unknown, where: string): CloudEvent {
  const specversion = requiredString(attrs, 'specversion', where);
  if (specversion !== '1.0') throw bad(`unsupported specversion "${specversion}": only 1.0 is accepted`);
  const event: CloudEvent = {
    specversion: '1.0',
    id: requiredString(attrs, 'id', where),
    source: requiredString(attrs, 'source', where),
    type: requiredString(attrs, 'type', where),
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data,
  };
  const time = attrs.time;
  if (time !== undefined) {
    if (typeof time !== 'string' || !RFC3339.test(time) || Number.isNaN(Date.parse(time))) {
      throw bad(`${where}time must be an RFC 3339 timestamp, got ${JSON.stringify(time)}`);
    }
    event.time = time;
  }
  const subject = attrs.subject;
  if (subject !== undefined) {
    if (typeof subject !== 'string') throw bad(`${where}subject must be a string`);
    event.subject = subject;
  }
  const version = attrs.entityversion;
  if (version !== undefined) {
    const n = typeof version === 'string' && /^-?\d+$/.test(version) ? Number(version) : version;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw bad(`${where}entityversion must be an integer`);
    event.entityversion = n;
  }
  const actor = attrs.actor;
  if (actor !== undefined) {
    if (typeof actor !== 'string') throw bad(`${where}actor must be a string`);
    event.actor = actor;
  }
  return event;
}

/** Read the body of `req` (up to `maxBodyBytes`, else 413) and parse it as one CloudEvent. */
export async function readCloudEvent(req: http.IncomingMessage, maxBodyBytes = 1024 * 1024): Promise<ReceivedCloudEvent> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () =>
    new CloudEventRequestError(413, CloudEventErrorCode.PAYLOAD_TOO_LARGE, `request body over ${maxBodyBytes} bytes`);
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBodyBytes) throw tooLarge();
    chunks.push(buf);
  }
  return parseCloudEventMessage(req.headers, Buffer.concat(chunks).toString('utf8'));
}

export interface CloudEventsHandlerOptions {
  /**
   * The bearer token senders must present (`Authorization: Bearer <token>`); absent = no check (for
   * receivers that are not reachable by others, e.g. test sinks). Compared in constant time.
   */
  bearerToken?: string;
  /**
   * Called with every valid event. Resolve to accept it (202). Throw an `LcmError` to refuse it with a
   * 4xx the sender will not retry (BAD_USER_INPUT 400, NOT_FOUND 404, CONFLICT / INVALID_TRANSITION
   * 409, UNAUTHENTICATED 401, FORBIDDEN 403); anything else answers 500, which a sender retries.
   */
  onEvent(event: CloudEvent, mode: CloudEventMode): Promise<void> | void;
  maxBodyBytes?: number;
  /** Told about handler failures that became 500. */
  onError?: (error: unknown, event: CloudEvent) => void;
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID_TRANSITION: 409,
};

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers });
  res.end(payload);
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Whether `authorization` (the header's value) is `Bearer <expected>`. The tokens are compared as
 * SHA-256 digests with `timingSafeEqual`: equal lengths whatever was sent, and no early exit that
 * would let a sender learn the token a character at a time from response times.
 */
export function bearerTokenMatches(authorization: string | string[] | undefined, expected: string): boolean {
  const header = Array.isArray(authorization) ? authorization[0] : authorization;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  // Always compare, so a missing or malformed header takes as long as a wrong token.
  const same = timingSafeEqual(digest(match?.[1] ?? ''), digest(expected));
  return match !== null && same;
}

/**
 * A request listener for a CloudEvents endpoint: POST only, one event per request, in either mode.
 * Answers 202 `{ "id": ... }` when accepted and `{ "error": { "code", "message" } }` otherwise (401
 * `UNAUTHENTICATED` when `bearerToken` is set and the request does not carry it).
 */
export function cloudEventsHandler(options: CloudEventsHandlerOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (req.method !== 'POST') {
      req.resume();
      sendJson(res, 405, { error: { code: CloudEventErrorCode.METHOD_NOT_ALLOWED, message: 'CloudEvents are POSTed' } }, { allow: 'POST' });
      return;
    }
    if (options.bearerToken !== undefined && !bearerTokenMatches(req.headers.authorization, options.bearerToken)) {
      // Refused before the body is read: nothing of it is parsed or processed. `connection: close`
      // keeps an unauthenticated sender from streaming a large body into this server's keep-alive.
      sendJson(
        res,
        401,
        { error: { code: ErrorCode.UNAUTHENTICATED, message: 'a valid bearer token is required (Authorization: Bearer <LCM_EVENTS_TOKEN>)' } },
        { 'www-authenticate': 'Bearer realm="lcm-events"', connection: 'close' },
      );
      return;
    }
    let received: ReceivedCloudEvent;
    try {
      received = await readCloudEvent(req, options.maxBodyBytes);
    } catch (e) {
      if (e instanceof CloudEventRequestError) {
        sendJson(res, e.status, { error: { code: e.code, message: e.message } });
      } else if (!res.headersSent) {
        // The body could not be read (the client went away mid-request).
        sendJson(res, 400, { error: { code: CloudEventErrorCode.BAD_REQUEST, message: `could not read the request: ${(e as Error).message}` } });
      }
      return;
    }
    try {
      await options.onEvent(received.event, received.mode);
      sendJson(res, 202, { id: received.event.id });
    } catch (e) {
      const status = isLcmError(e) ? STATUS_BY_CODE[e.code] : undefined;
      if (isLcmError(e) && status !== undefined) {
        sendJson(res, status, { error: { code: e.code, message: e.message } });
        return;
      }
      options.onError?.(e, received.event);
      sendJson(res, 500, { error: { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'the event could not be processed; retry later' } });
    }
  };
}
