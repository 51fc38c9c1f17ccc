import {
  getOperationAST,
  BREAK,
  Kind,
  visit,
  type ASTNode,
  getVariableValues,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type OperationDefinitionNode,
  type ParseOptions,
  type ValidationRule,
} from 'graphql';
import { operationFromDocument } from '@apollo/federation-internals';
import type { LRUCache } from 'lru-cache';
import { createOperationCache } from '../limits/operation-cache.ts';
import { ScalarLiteralError, type LoadedSupergraph } from '../supergraph.ts';
import { downstreamServiceError, gatewayError, GatewayErrorCode, toGraphQLError } from './errors.ts';
import { compilePlan, executeNode, UnsupportedPlanError, type CompiledPlan, type FetchObserver } from './plan.ts';
import { TypeConditions } from './requires.ts';
import { CompiledShape, ShapingSchema } from './shaping.ts';
import type { SubgraphClients, SubgraphResponse } from './subgraph-client.ts';
import { deepMerge } from './merge.ts';
import type { Span } from '../../core/telemetry/tracing.ts';

/**
 * The gateway's executor for one supergraph: operations are parsed, validated, planned (Apollo's
 * query planner) and compiled once, then cached by query text and operation name; each request
 * then only coerces its variables, runs the compiled plan against the subgraphs and shapes the
 * merged data. See docs/adr/0004-gateway-executor.md.
 */
export interface ExecutorOptions {
  supergraph: LoadedSupergraph;
  clients: SubgraphClients;
  /** Extra graphql-js validation rules (query limits: depth, aliases, cost…), run once per distinct query. */
  validationRules?: readonly ValidationRule[];
  /** graphql-js parse options (e.g. `maxTokens`); unused when `parse` is given. */
  parseOptions?: ParseOptions;
  /**
   * Parses a client document under the query limits (the LCM gateway's: `parseWithLimits` in
   * gateway/limits, the size before lexing, then the tokens); default graphql-js `parse` with
   * `parseOptions`. A GraphQLError it throws keeps its `extensions.code` (QUERY_LIMIT_EXCEEDED);
   * other parse errors are GRAPHQL_PARSE_FAILED.
   */
  parse?: (query: string) => DocumentNode;
  /** Allow `__schema` / `__type` (default true). */
  introspection?: boolean;
  /** Prepared operations kept (LRU), default 1000. */
  operationCacheSize?: number;
  /** Estimated bytes of prepared operations kept (gateway/limits/operation-cache.ts), default 32 MiB. */
  operationCacheBytes?: number;
}

export type OperationKind = 'query' | 'mutation' | 'subscription';

/** An operation ready to run: validated, planned and compiled. */
export interface PreparedOperation {
  /** Cache key: operation name and query text. */
  readonly key: string;
  readonly kind: OperationKind;
  readonly operationName: string | null;
  readonly document: DocumentNode;
  readonly definition: OperationDefinitionNode;
  readonly plan: CompiledPlan;
  readonly shape: CompiledShape;
}

/** Why an operation cannot run, with the HTTP status Apollo Server would answer. */
export interface PreparationFailure {
  readonly errors: readonly GraphQLError[];
  readonly status: number;
}

export type Preparation = { ok: true; operation: PreparedOperation } | ({ ok: false } & PreparationFailure);

/** A response before error formatting: `errors` holds GraphQLErrors or plain errors. */
export interface RawResult {
  data?: Record<string, unknown> | null;
  errors?: unknown[];
  extensions?: Record<string, unknown>;
}

export interface ExecuteOptions {
  /** Headers added to every subgraph request (e.g. the forwarded identity). */
  headers?: Record<string, string>;
  /** Observes every subgraph fetch. */
  onFetch?: FetchObserver;
  /** The operation's span (tracing on): every subgraph fetch becomes a child span of it. */
  span?: Span;
}

export class GatewayExecutor {
  readonly supergraph: LoadedSupergraph;
  private readonly cache: LRUCache<string, Preparation>;
  private readonly rules: readonly ValidationRule[];
  private readonly shapingSchema: ShapingSchema;
  private readonly conditions: TypeConditions;

  constructor(private readonly options: ExecutorOptions) {
    this.supergraph = options.supergraph;
    this.cache = createOperationCache<Preparation>({
      ...(options.operationCacheSize !== undefined ? { maxEntries: options.operationCacheSize } : {}),
      ...(options.operationCacheBytes !== undefined ? { maxBytes: options.operationCacheBytes } : {}),
    });
    this.rules = [
      ...specifiedRules,
      ...(options.introspection === false ? [NoSchemaIntrospectionCustomRule] : []),
      ...(options.validationRules ?? []),
    ];
    this.shapingSchema = new ShapingSchema(this.supergraph.apiSchema, this.supergraph.apiGraphQLSchema);
    this.conditions = new TypeConditions(this.supergraph.supergraphGraphQLSchema);
  }

  /** Estimated bytes held by the prepared-operation cache (bounded by `operationCacheBytes`). */
  get operationCacheBytes(): number {
    return this.cache.calculatedSize;
  }

  /** Parses, validates, plans and compiles an operation, or returns it from the cache. */
  prepare(query: string | undefined, operationName?: string | null): Preparation {
    if (!query) {
      return failure(
        400,
        gatewayError(
          GatewayErrorCode.BAD_REQUEST,
          'GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension.',
        ),
      );
    }
    const key = (operationName ?? '') + '\u0000' + query;
    let preparation = this.cache.get(key);
    if (!preparation) {
      preparation = this.prepareUncached(key, query, operationName ?? undefined);
      this.cache.set(key, preparation);
    }
    return preparation;
  }

  private prepareUncached(key: string, query: string, operationName: string | undefined): Preparation {
    let document: DocumentNode;
    try {
      document = this.options.parse ? this.options.parse(query) : parse(query, this.options.parseOptions);
    } catch (e) {
      const error = toGraphQLError(e);
      return failure(
        400,
        new GraphQLError(error.message, {
          source: error.source,
          positions: error.positions,
          extensions: { ...error.extensions, code: error.extensions.code ?? GatewayErrorCode.GRAPHQL_PARSE_FAILED },
          originalError: error,
        }),
      );
    }
    const validationErrors = validate(this.supergraph.apiGraphQLSchema, document, this.rules);
    if (validationErrors.length > 0) {
      return {
        ok: false,
        status: 400,
        errors: validationErrors.map((error) =>
          error.originalError instanceof ScalarLiteralError
            ? literalInputError(error, document)
            : new GraphQLError(error.message, {
                nodes: error.nodes,
                extensions: { ...error.extensions, code: error.extensions.code ?? GatewayErrorCode.GRAPHQL_VALIDATION_FAILED },
                originalError: error.originalError ?? error,
              }),
        ),
      };
    }
    const definition = getOperationAST(document, operationName);
    if (!definition) {
      const operations = document.definitions.filter((d) => d.kind === 'OperationDefinition').length;
      const message =
        operationName !== undefined
          ? `Unknown operation named "${operationName}".`
          : operations > 1
            ? 'Must provide operation name if query contains multiple operations.'
            : 'Must provide an operation.';
      return failure(400, gatewayError(GatewayErrorCode.OPERATION_RESOLUTION_FAILURE, message));
    }
    try {
      const operation = operationFromDocument(this.supergraph.apiSchema, document, { operationName });
      const queryPlan = this.supergraph.planner.buildQueryPlan(operation);
      const variableDefinitions = definition.variableDefinitions ?? [];
      const plan = compilePlan(queryPlan, {
        client: (name) => {
          const url = this.supergraph.subgraphUrls.get(name);
          if (!url) throw new Error(`Couldn't find service with name "${name}"`);
          return this.options.clients.get(name, url);
        },
        conditions: this.conditions,
        variableDefinitions,
      });
      const shapingOperation = operationFromDocument(
        this.supergraph.apiSchema,
        { kind: document.kind, definitions: [definition, ...document.definitions.filter((d) => d.kind === 'FragmentDefinition')] },
        { validate: false },
      );
      return {
        ok: true,
        operation: {
          key,
          kind: definition.operation as OperationKind,
          operationName: definition.name?.value ?? null,
          document,
          definition,
          plan,
          shape: new CompiledShape(this.shapingSchema, shapingOperation, variableDefinitions),
        },
      };
    } catch (e) {
      if (e instanceof UnsupportedPlanError) {
        return failure(400, gatewayError(GatewayErrorCode.OPERATION_NOT_SUPPORTED, e.message));
      }
      if (e instanceof GraphQLError) return failure(400, e);
      return failure(500, toGraphQLError(e));
    }
  }

  /**
   * Coerces the request's variables against the operation (as graphql-js execution would);
   * returns the BAD_USER_INPUT errors, or undefined when they are valid.
   */
  checkVariables(operation: PreparedOperation, variables: Record<string, unknown> | undefined): GraphQLError[] | undefined {
    const definitions = operation.definition.variableDefinitions;
    if (!definitions || definitions.length === 0) return undefined;
    const { errors } = getVariableValues(this.supergraph.apiGraphQLSchema, definitions, variables ?? {});
    if (!errors) return undefined;
    return errors.map(
      (error) =>
        new GraphQLError(error.message, {
          nodes: error.nodes,
          originalError: error.originalError ?? error,
          extensions: { ...error.extensions, code: GatewayErrorCode.BAD_USER_INPUT },
        }),
    );
  }

  /** Runs a query or mutation (variables already checked). */
  async execute(
    operation: PreparedOperation,
    variables: Record<string, unknown> | undefined,
    options: ExecuteOptions = {},
  ): Promise<RawResult> {
    const data: Record<string, unknown> = {};
    const errors: unknown[] = [];
    if (operation.plan.root) {
      await executeNode(operation.plan.root, { data, errors, variables, headers: options.headers, onFetch: options.onFetch, span: options.span }, data);
    }
    return this.finish(operation, data, errors, variables);
  }

  /**
   * Runs the rest of a subscription plan for one event: `event` is what the subgraph sent for the
   * primary fetch; entity fetches add the fields of other subgraphs, then the event is shaped.
   */
  async executeSubscriptionEvent(
    operation: PreparedOperation,
    event: SubgraphResponse,
    variables: Record<string, unknown> | undefined,
    options: ExecuteOptions = {},
  ): Promise<RawResult> {
    const primary = operation.plan.primary;
    if (!primary) throw new Error('not a subscription operation');
    const data: Record<string, unknown> = {};
    const errors: unknown[] = [];
    if (event.errors) {
      for (const error of event.errors) errors.push(downstreamServiceError(error, primary.serviceName, error.path));
    }
    if (event.data) {
      primary.outputRewrites?.(event.data);
      deepMerge(data, event.data);
    }
    if (operation.plan.root && event.data) {
      await executeNode(operation.plan.root, { data, errors, variables, headers: options.headers, onFetch: options.onFetch, span: options.span }, data);
    }
    if (!event.data && errors.length > 0) return { errors };
    return this.finish(operation, data, errors, variables);
  }

  private finish(
    operation: PreparedOperation,
    data: Record<string, unknown>,
    errors: unknown[],
    variables: Record<string, unknown> | undefined,
  ): RawResult {
    const valueCompletion: GraphQLError[] = [];
    let shaped: Record<string, unknown> | null;
    try {
      shaped = operation.shape.shape(data, variables, valueCompletion);
    } catch (e) {
      return { errors: [toGraphQLError(e)] };
    }
    if (errors.length === 0) {
      return valueCompletion.length > 0 ? { data: shaped, extensions: { valueCompletion } } : { data: shaped };
    }
    return { errors, data: shaped };
  }
}

function failure(status: number, ...errors: GraphQLError[]): Preparation {
  return { ok: false, status, errors };
}

/**
 * An inline literal refused by a custom scalar (`DateTime: "tomorrow"`): the client's input is at
 * fault, so BAD_USER_INPUT (as for the same value in a variable), naming the argument (and the
 * field it belongs to) in the message and in `extensions.field`, as the subgraphs' input errors do.
 */
function literalInputError(error: GraphQLError, document: DocumentNode): GraphQLError {
  const node = error.nodes?.[0];
  const where = node ? literalLocation(document, node) : undefined;
  const message = !where
    ? error.message
    : where.variable !== undefined
      ? `Invalid default value for variable "$${where.variable}": ${error.message}`
      : `Invalid value for argument "${where.argument}"${where.field ? ` of field "${where.field}"` : ''}: ${error.message}`;
  return new GraphQLError(message, {
    nodes: error.nodes,
    originalError: error.originalError ?? error,
    extensions: {
      ...error.extensions,
      code: GatewayErrorCode.BAD_USER_INPUT,
      ...(where?.argument ? { field: where.argument } : {}),
    },
  });
}

/** Where a literal sits: the argument path (`input.timeslotStart`) and field, or a variable's default. */
function literalLocation(
  document: DocumentNode,
  target: ASTNode,
): { argument?: string; field?: string; variable?: string } | undefined {
  let found: { argument?: string; field?: string; variable?: string } | undefined;
  visit(document, {
    enter(node, _key, parent, _path, ancestors) {
      if (node !== target) return undefined;
      const names: string[] = [];
      let field: string | undefined;
      let variable: string | undefined;
      // `ancestors` stops before the parent, which comes on its own.
      for (const ancestor of [...ancestors, parent, node]) {
        if (!ancestor) continue;
        if (Array.isArray(ancestor) || !('kind' in ancestor)) continue;
        const a = ancestor as ASTNode;
        if (a.kind === Kind.FIELD || a.kind === Kind.DIRECTIVE) {
          field = a.kind === Kind.FIELD ? a.name.value : `@${a.name.value}`;
          names.length = 0;
        } else if (a.kind === Kind.VARIABLE_DEFINITION) {
          variable = a.variable.name.value;
        } else if (a.kind === Kind.ARGUMENT || a.kind === Kind.OBJECT_FIELD) {
          names.push(a.name.value);
        }
      }
      found = variable !== undefined ? { variable } : { argument: names.join('.'), ...(field ? { field } : {}) };
      return BREAK;
    },
  });
  return found;
}
