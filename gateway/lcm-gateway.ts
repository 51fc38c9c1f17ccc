import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Registry } from 'prom-client';
import { IDENTITY_BINDING_HEADER, IDENTITY_HEADER, Scope, hasScope, missingScope, type IdentitySigner } from '../core/auth/identity.ts';
import { ErrorCode, LcmError } from '../core/errors.ts';
import { DateTimeScalar, JSONScalar } from '../core/graphql/scalars.ts';
import type { Logger } from '../core/logging.ts';
import type { Storage } from '../core/persistence/document-store.ts';
import { apiKeyAdminRoute } from './auth/admin-routes.ts';
import { ApiKeyStore } from './auth/api-keys.ts';
import { Authenticator, type OidcOptions } from './auth/authenticator.ts';
import { dashboardRoutes } from './http/dashboard.ts';
import type { CorsOptions } from './http/cors.ts';
import { DEFAULT_LIMITS, limitRules, parseWithLimits, type Limits } from './limits/limits.ts';
import { maskInternalError } from './executor/errors.ts';
import { createGateway, currentRequestId, type ContextInput, type GatewayContext, type GatewayOptions, type RunningGateway } from './server.ts';
import { loadSupergraph } from './supergraph.ts';

/**
 * The LCM gateway: the project's supergraphs behind authentication, scopes and query limits.
 *   /graphql           the public contract (schema/supergraph.public.graphql), any authenticated caller
 *   /internal/graphql  the full schema (schema/supergraph.graphql), callers with the `internal` scope
 *   /                  the live dashboard; a browser's GET of either GraphQL path gets GraphiQL (gateway/http/dashboard.ts)
 * The caller's identity goes to the subgraphs in the signed `x-lcm-identity` header.
 */
export interface LcmGatewayOptions {
  port?: number;
  host?: string;
  /** Routing URL per subgraph (default: the URLs in the committed supergraphs, ports 4001–4004). */
  subgraphUrls?: Record<string, string>;
  /** Where API keys are kept (hashed). */
  storage: Storage;
  signer: IdentitySigner;
  adminToken?: string;
  oidc?: OidcOptions;
  limits?: Limits;
  /** Serve introspection (default true). */
  introspection?: boolean;
  logger: Logger;
  registry?: Registry;
  /** More HTTP routes. */
  routes?: GatewayOptions['routes'];
  /** Serve the dashboard at `/` and GraphiQL to browsers at the GraphQL paths (default true). */
  dashboard?: boolean;
  /** How long a stop waits for requests in flight, ms (default: the gateway's, 5 000). */
  shutdownGraceMs?: number;
  /**
   * Browser pages on these origins may call `/graphql` (LCM_CORS_ORIGINS); default none. Not
   * `/internal/graphql`: the controllers' endpoint has no browser callers.
   */
  cors?: CorsOptions;
  /**
   * How often each open WebSocket connection's credential is checked against the key store, ms
   * (default 10 000): a key revoked through any replica closes its connections on every replica
   * within this plus the key cache (5 s).
   */
  webSocketRevalidateMs?: number;
}

/**
 * The custom scalars of the supergraphs, with the implementations the subgraphs use: the gateway
 * refuses an invalid value (variable or literal) with BAD_USER_INPUT before any subgraph sees it.
 */
const SCALARS = { DateTime: DateTimeScalar, JSON: JSONScalar };

export interface LcmGateway extends RunningGateway {
  apiKeys: ApiKeyStore;
}

const schemaFile = (name: string) => fileURLToPath(new URL(`../schema/${name}`, import.meta.url));

const HTTP_STATUS: Partial<Record<string, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
};

function toGraphQLError(e: unknown): GraphQLError {
  if (e instanceof GraphQLError) return e;
  if (e instanceof LcmError) {
    return new GraphQLError(e.message, {
      extensions: { ...e.details, code: e.code, http: { status: HTTP_STATUS[e.code] ?? 400 } },
    });
  }
  return new GraphQLError('internal server error', { extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } });
}

/** graphql-js's own token limit reports a syntax error; name it as the over-limit query it is. */
function formatLimitErrors(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (/Document contains more th\w+ \d+ tokens/.test(formatted.message)) {
    return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.QUERY_LIMIT_EXCEEDED, limit: 'tokens' } };
  }
  return formatted;
}

export async function startLcmGateway(options: LcmGatewayOptions): Promise<LcmGateway> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const apiKeys = new ApiKeyStore(options.storage);
  await options.storage.ensureIndexes();
  const authenticator = new Authenticator({
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    apiKeys,
    ...(options.oidc ? { oidc: options.oidc } : {}),
  });

  const authorization = (input: ContextInput): string | undefined => {
    if (input.transport === 'ws') {
      const p = input.connectionParams ?? {};
      const v = p.authorization ?? p.Authorization;
      return typeof v === 'string' ? v : undefined;
    }
    const h = input.request.headers.authorization;
    return typeof h === 'string' ? h : undefined;
  };

  const contextFor =
    (requiredScope: Scope | undefined) =>
    async (input: ContextInput): Promise<GatewayContext> => {
      const presented = authorization(input);
      const check = async () => {
        try {
          const credential = await authenticator.credential(presented);
          if (requiredScope && !hasScope(credential.identity, requiredScope)) {
            throw missingScope([requiredScope], input.endpoint);
          }
          return credential;
        } catch (e) {
          throw toGraphQLError(e);
        }
      };
      const { identity: who, expiresAt } = await check();
      return {
        forwardHeaders: { [IDENTITY_HEADER]: await options.signer.sign(who) },
        // The signed identity is short-lived and re-signed over time: share work by who asks, and
        // re-sign for long-lived work (subscription events, operations on an open WebSocket) only
        // after checking the credential again: a revoked key must not be re-signed (issue 12).
        sharingKey: `${who.kind}:${who.subject}:${who.scopes.join(',')}`,
        refreshForwardHeaders: async () => {
          await check();
          return { [IDENTITY_HEADER]: await options.signer.sign(who) };
        },
        revalidate: async () => {
          await check();
        },
        ...(expiresAt !== undefined ? { expiresAt } : {}),
        identity: who,
      };
    };

  const supergraphOptions = { scalars: SCALARS, ...(options.subgraphUrls ? { overrideSubgraphUrls: options.subgraphUrls } : {}) };
  const publicSupergraph = loadSupergraph(readFileSync(schemaFile('supergraph.public.graphql'), 'utf8'), supergraphOptions);
  const internalSupergraph = loadSupergraph(readFileSync(schemaFile('supergraph.graphql'), 'utf8'), supergraphOptions);
  // No internal detail reaches a client (docs/api.md "Errors"): masked errors carry the request's
  // x-request-id (outside an HTTP request, on a WebSocket, an id of their own) and are logged under it.
  const errorIdPrefix = randomBytes(4).toString('hex');
  let errorCounter = 0;
  const maskOptions = () => ({
    requestId: currentRequestId() ?? `${errorIdPrefix}-err-${(++errorCounter).toString(36)}`,
    log: (details: Record<string, unknown>, message: string) => options.logger.error(details, message),
  });
  const formatError = (formatted: GraphQLFormattedError, error: unknown) =>
    maskInternalError(formatLimitErrors(formatted), error, maskOptions());
  const common = {
    validationRules: limitRules(limits),
    // One parse for every transport: the document's size before lexing, then its tokens.
    parse: (query: string) => parseWithLimits(query, limits),
    operationCacheBytes: limits.operationCacheBytes,
    introspection: options.introspection ?? true,
    formatError,
    webSocket: { maxPayloadBytes: limits.maxBodyBytes, revalidateIntervalMs: options.webSocketRevalidateMs ?? 10_000 },
  };
  const dashboard = options.dashboard === false ? undefined : dashboardRoutes({ authenticator, logger: options.logger });
  const gateway = await createGateway({
    port: options.port ?? 4000,
    host: options.host ?? '127.0.0.1',
    logger: options.logger,
    ...(options.registry ? { registry: options.registry } : {}),
    maxBodyBytes: limits.maxBodyBytes,
    maxBatchSize: limits.maxBatchSize,
    ...(options.shutdownGraceMs !== undefined ? { shutdownGraceMs: options.shutdownGraceMs } : {}),
    // Each subgraph request carries its identity bound to its exact body (ADR 0008, "Revised").
    subgraphs: {
      bindRequest: (body, headers) => {
        const token = headers?.[IDENTITY_HEADER];
        return token ? { [IDENTITY_BINDING_HEADER]: options.signer.bind(token, body) } : undefined;
      },
    },
    routes: [apiKeyAdminRoute(authenticator, apiKeys), ...(dashboard?.routes ?? []), ...(options.routes ?? [])],
    ...(dashboard ? { browserPage: dashboard.graphiql } : {}),
    endpoints: [
      { path: '/graphql', supergraph: publicSupergraph, context: contextFor(undefined), ...common, ...(options.cors ? { cors: options.cors } : {}) },
      { path: '/internal/graphql', supergraph: internalSupergraph, context: contextFor(Scope.INTERNAL), ...common },
    ],
  });
  return { ...gateway, apiKeys };
}

/** `LCM_SUBGRAPH_URLS=definitions=http://…,workers=http://…` → a map. */
export function parseSubgraphUrls(raw: string | undefined): Record<string, string> | undefined {
  if (!raw) return undefined;
  const out: Record<string, string> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`LCM_SUBGRAPH_URLS: "${part}" is not name=url`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    try {
      new URL(url);
    } catch {
      throw new Error(`LCM_SUBGRAPH_URLS: "${url}" is not a URL`);
    }
    out[name] = url;
  }
  return out;
}
