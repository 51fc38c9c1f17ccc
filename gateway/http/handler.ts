import type http from 'node:http';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from '../../core/logging.ts';
import { gatewayError, GatewayErrorCode, toGraphQLError } from '../executor/errors.ts';
import type { OperationKind, PreparedOperation, RawResult } from '../executor/executor.ts';
import { sharingKeyOf, statusForContextError, type Endpoint } from '../endpoint.ts';
import type { GatewayContext } from '../types.ts';
import { answerPreflight, corsHeaders } from './cors.ts';
import { tracing } from '../../core/telemetry/tracing.ts';
import { endOperationSpan, startOperationSpan } from '../tracing.ts';
import { PersistedQueries } from './persisted-queries.ts';
import {
  checkCsrf,
  HttpRequestError,
  MEDIA_TYPES,
  negotiateContentType,
  parseGetParams,
  parsePostBody,
  readBody,
  type GraphQLHttpRequest,
} from './request.ts';

/** A finished HTTP answer (shared as is between deduplicated requests). */
interface HttpAnswer {
  status: number;
  /** Encoded once, written as is to every request sharing this answer. */
  body: Buffer;
  headers?: Record<string, string>;
  errors: readonly GraphQLFormattedError[];
  operationName: string | null;
  operationType: OperationKind | undefined;
}

export interface HttpHandlerOptions {
  logger: Logger;
  csrfPrevention: boolean;
  maxBodyBytes: number;
  deduplicateInflightQueries: boolean;
  nextRequestId: () => string;
  /** Automatic persisted queries (default on). */
  persistedQueries?: boolean;
  /** Most operations in one batched (JSON array) POST; 1 (default) refuses batches. */
  maxBatchSize?: number;
  /** Bytes of query text kept for automatic persisted queries (default 16 MiB). */
  persistedQueryBytes?: number;
}

/**
 * GraphQL over HTTP for one endpoint, with Apollo Server's observable behaviour (status codes,
 * error shapes, `extensions.code`, `{"errors","data","extensions"}` field order, trailing newline)
 * on a plain Node `http` server: see docs/adr/0004-gateway-executor.md for why not Apollo Server.
 */
export function createHttpHandler(endpoint: Endpoint, options: HttpHandlerOptions) {
  const inflight = new Map<string, Promise<HttpAnswer>>();
  const persisted = options.persistedQueries === false ? undefined : new PersistedQueries(options.persistedQueryBytes);

  async function answer(
    req: http.IncomingMessage,
    search: string,
    contentType: string,
    holder: { context?: GatewayContext; deduplicated: boolean },
  ): Promise<HttpAnswer> {
    if (req.method !== 'GET' && req.method !== 'POST') {
      throw new HttpRequestError(405, 'GraphQL endpoints support only GET and POST requests.', { allow: 'GET, POST' });
    }
    if (options.csrfPrevention) checkCsrf(req.headers);
    let rawBody: string | undefined;
    let parsed: GraphQLHttpRequest | GraphQLHttpRequest[];
    if (req.method === 'POST') {
      rawBody = await readBody(req, options.maxBodyBytes);
      parsed = parsePostBody(req.headers['content-type'], rawBody, options.maxBatchSize ?? 1);
    } else {
      parsed = parseGetParams(req.headers, search);
    }

    let context: GatewayContext;
    try {
      context = await endpoint.context({ transport: 'http', endpoint: endpoint.path, request: req });
    } catch (error) {
      return errorAnswer(statusForContextError(error), [error], null, undefined);
    }
    holder.context = context;

    if (Array.isArray(parsed)) {
      // A batch: each operation on its own (never sharing answers), one JSON array back.
      const answers = await Promise.all(parsed.map((one) => answerOne(req, one, undefined, contentType, holder, context, false)));
      const parts = answers.map((a) => a.body.subarray(0, a.body.length - 1));
      return {
        status: 200,
        body: Buffer.concat([Buffer.from('['), ...parts.flatMap((b, i) => (i === 0 ? [b] : [Buffer.from(','), b])), Buffer.from(']\n')]),
        errors: answers.flatMap((a) => a.errors),
        operationName: null,
        operationType: undefined,
      };
    }
    return answerOne(req, parsed, rawBody ?? search, contentType, holder, context, options.deduplicateInflightQueries);
  }

  /** One operation of a request (or of a batch): persisted query, preparation, checks, execution. */
  async function answerOne(
    req: http.IncomingMessage,
    request: GraphQLHttpRequest,
    sharingText: string | undefined,
    contentType: string,
    holder: { context?: GatewayContext; deduplicated: boolean },
    context: GatewayContext,
    share: boolean,
  ): Promise<HttpAnswer> {
    let remember: (() => void) | undefined;
    if (request.extensions?.persistedQuery) {
      if (!persisted) {
        return errorAnswer(400, [gatewayError(GatewayErrorCode.PERSISTED_QUERY_NOT_SUPPORTED, 'PersistedQueryNotSupported')], null, undefined);
      }
      try {
        ({ query: request.query, remember } = persisted.resolve(request.query, request.extensions.persistedQuery));
      } catch (error) {
        return errorAnswer(400, [error], request.operationName ?? null, undefined);
      }
    }
    // The executor parses under the query limits (size, tokens) and validates under the rest: the
    // same function for GET, POST, each operation of a batch, and graphql-ws `subscribe` messages.
    const preparation = endpoint.executor.prepare(request.query, request.operationName);
    if (!preparation.ok) return errorAnswer(preparation.status, preparation.errors, request.operationName ?? null, undefined);
    remember?.();
    const operation = preparation.operation;
    if (req.method === 'GET' && operation.kind !== 'query') {
      return errorAnswer(
        405,
        [
          gatewayError(
            GatewayErrorCode.BAD_REQUEST,
            `GET requests only support query operations, not ${operation.kind} operations`,
          ),
        ],
        operation.operationName,
        operation.kind,
        { allow: 'POST' },
      );
    }
    if (operation.kind === 'subscription') {
      return errorAnswer(
        400,
        [
          gatewayError(
            GatewayErrorCode.BAD_REQUEST,
            `Subscriptions are served over WebSocket (graphql-transport-ws) at ${endpoint.path}.`,
          ),
        ],
        operation.operationName,
        operation.kind,
      );
    }
    const variableErrors = endpoint.executor.checkVariables(operation, request.variables);
    if (variableErrors) return errorAnswer(400, variableErrors, operation.operationName, operation.kind);

    if (operation.kind !== 'query' || !share || sharingText === undefined) {
      return execute(operation, request, context, req);
    }
    const key = contentType + '\u0000' + sharingText + '\u0000' + sharingKeyOf(context);
    const running = inflight.get(key);
    if (running) {
      holder.deduplicated = true;
      return running;
    }
    const promise = execute(operation, request, context, req).finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  }

  async function execute(
    operation: PreparedOperation,
    request: GraphQLHttpRequest,
    context: GatewayContext,
    req: http.IncomingMessage,
  ): Promise<HttpAnswer> {
    const span = tracing.on ? startOperationSpan(req, endpoint.path, operation.kind, operation.operationName) : undefined;
    let result: RawResult;
    try {
      result = await endpoint.executor.execute(operation, request.variables, {
        headers: context.forwardHeaders,
        onFetch: endpoint.observesFetches ? endpoint.onFetch : undefined,
        span,
      });
    } catch (e) {
      if (span) endOperationSpan(span, [{ message: e instanceof Error ? e.message : String(e) }]);
      throw e;
    }
    const { formatted } = result.errors ? endpoint.format(result.errors) : { formatted: undefined };
    if (span) endOperationSpan(span, formatted);
    return {
      status: 200,
      body: Buffer.from(serialize(formatted, result.data, result.extensions)),
      errors: formatted ?? [],
      operationName: operation.operationName,
      operationType: operation.kind,
    };
  }

  function errorAnswer(
    status: number,
    errors: readonly unknown[],
    operationName: string | null,
    operationType: OperationKind | undefined,
    headers?: Record<string, string>,
  ): HttpAnswer {
    const { formatted, http } = endpoint.format(errors);
    return {
      status: http.status ?? status,
      body: Buffer.from(serialize(formatted, undefined, undefined)),
      headers: { ...headers, ...http.headers },
      errors: formatted,
      operationName,
      operationType,
    };
  }

  return async function handle(req: http.IncomingMessage, res: http.ServerResponse, search: string): Promise<void> {
    if (answerPreflight(endpoint.cors, req, res)) return;
    const started = performance.now();
    const headerId = req.headers['x-request-id'];
    const requestId = typeof headerId === 'string' && headerId.length > 0 && headerId.length <= 200 ? headerId : options.nextRequestId();
    const holder: { context?: GatewayContext; deduplicated: boolean } = { deduplicated: false };
    const contentType = negotiateContentType(req.headers.accept);
    let result: HttpAnswer;
    try {
      if (!contentType) {
        throw new HttpRequestError(
          406,
          `An 'accept' header was provided for this request which does not accept application/json or application/graphql-response+json`,
        );
      }
      result = await answer(req, search, contentType, holder);
    } catch (error) {
      if (error instanceof HttpRequestError) {
        result = errorAnswer(error.status, [error.toGraphQLError()], null, undefined, error.headers);
      } else {
        options.logger.error({ err: error, reqId: requestId, endpoint: endpoint.path }, 'unexpected error answering a GraphQL request');
        result = errorAnswer(500, [toGraphQLError(error)], null, undefined);
      }
    }
    if (!res.headersSent && !res.destroyed) {
      const headers: Record<string, string | number> = {
        'content-type': contentType ?? MEDIA_TYPES.json,
        'content-length': result.body.length,
        'x-request-id': requestId,
      };
      if (result.headers) Object.assign(headers, result.headers);
      Object.assign(headers, corsHeaders(endpoint.cors, req));
      res.writeHead(result.status, headers);
      res.end(result.body);
    }
    const durationMs = performance.now() - started;
    if (result.status >= 500) {
      options.logger.warn({ reqId: requestId, endpoint: endpoint.path, status: result.status, operation: result.operationName, durationMs }, 'GraphQL request failed');
    } else {
      options.logger.debug({ reqId: requestId, endpoint: endpoint.path, status: result.status, operation: result.operationName, durationMs }, 'GraphQL request');
    }
    endpoint.operationComplete({
      endpoint: endpoint.path,
      transport: 'http',
      requestId,
      operationName: result.operationName,
      operationType: result.operationType,
      durationMs,
      status: result.status,
      errors: result.errors,
      deduplicated: holder.deduplicated,
      context: holder.context,
    });
  };
}

/** The response body, as Apollo Server writes it: errors, data, extensions, then a newline. */
export function serialize(
  errors: readonly GraphQLFormattedError[] | undefined,
  data: Record<string, unknown> | null | undefined,
  extensions: Record<string, unknown> | undefined,
): string {
  return JSON.stringify({ errors, data, extensions }) + '\n';
}
