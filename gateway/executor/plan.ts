import type { VariableDefinitionNode } from 'graphql';
import { valueFromASTUntyped } from 'graphql';
import type { FetchNode, PlanNode, QueryPlan, ResponsePath, SubscriptionNode } from '@apollo/query-planner';
import { downstreamServiceError, markFetchFailure } from './errors.ts';
import { deepMerge } from './merge.ts';
import { compileRepresentations, compileRewrites, type RepresentationIndexer, type Rewriter, type TypeConditions } from './requires.ts';
import type { SubgraphClient, SubgraphResponse } from './subgraph-client.ts';
import type { Span } from '../../core/telemetry/tracing.ts';
import { tracedFetch } from '../tracing.ts';

/**
 * Query plans compiled for execution, and their executor. Compilation happens once per operation
 * (it is cached with the plan): subgraph clients are resolved, request bodies are pre-serialized
 * around the variables, `requires` selections and rewrites become functions, and every fetch knows
 * its absolute response path. Execution follows `@apollo/gateway`'s `executeQueryPlan` (same merged
 * data, same errors) with one difference that only saves work: an entity fetch sends each distinct
 * representation once and merges the answer into every entity that had it.
 */
type JsonObject = Record<string, unknown>;

export interface CompiledFetch {
  readonly serviceName: string;
  readonly client: SubgraphClient;
  /** `{"query":"…","variables":` */
  readonly bodyPrefix: string;
  /** `,"operationName":"…"}` or `}` */
  readonly bodySuffix: string;
  readonly variableUsages: readonly { name: string; jsonKey: string }[];
  /** Entity fetches only: the distinct representations of the entities. */
  readonly representations?: RepresentationIndexer;
  readonly outputRewrites?: Rewriter;
  /** Path of the data this fetch works on, from the root (with `@` for lists). */
  readonly path: ResponsePath;
  /** The plan node, for hooks and debugging. */
  readonly node: FetchNode;
}

export type ExecNode =
  | { kind: 'Sequence'; nodes: ExecNode[] }
  | { kind: 'Parallel'; nodes: ExecNode[] }
  | { kind: 'Flatten'; path: ResponsePath; node: ExecNode }
  | { kind: 'Fetch'; fetch: CompiledFetch }
  | { kind: 'Condition'; variable: string; defaultValue: unknown; ifClause?: ExecNode; elseClause?: ExecNode };

export interface CompiledPlan {
  /** The plan for queries and mutations; for subscriptions, the plan run for every event. */
  readonly root?: ExecNode;
  /** Subscriptions only: the fetch that opens the subgraph subscription. */
  readonly primary?: CompiledFetch;
  /** The planner's plan, kept for debugging and hooks. */
  readonly queryPlan: QueryPlan;
}

export interface PlanCompileContext {
  client(serviceName: string): SubgraphClient;
  conditions: TypeConditions;
  variableDefinitions: readonly VariableDefinitionNode[];
}

/** Raised at compile time for plans this executor does not run. */
export class UnsupportedPlanError extends Error {}

export function compilePlan(queryPlan: QueryPlan, ctx: PlanCompileContext): CompiledPlan {
  const node = queryPlan.node;
  if (!node) return { queryPlan };
  if (node.kind === 'Subscription') {
    const subscription = node as SubscriptionNode;
    const primary = compileFetch(subscription.primary, [], ctx);
    return subscription.rest ? { queryPlan, primary, root: compileNode(subscription.rest, [], ctx) } : { queryPlan, primary };
  }
  return { queryPlan, root: compileNode(node, [], ctx) };
}

function compileNode(node: PlanNode, path: ResponsePath, ctx: PlanCompileContext): ExecNode {
  switch (node.kind) {
    case 'Sequence':
      return { kind: 'Sequence', nodes: node.nodes.map((n) => compileNode(n, path, ctx)) };
    case 'Parallel':
      return { kind: 'Parallel', nodes: node.nodes.map((n) => compileNode(n, path, ctx)) };
    case 'Flatten':
      return { kind: 'Flatten', path: node.path, node: compileNode(node.node, [...path, ...node.path], ctx) };
    case 'Fetch':
      return { kind: 'Fetch', fetch: compileFetch(node, path, ctx) };
    case 'Condition': {
      const definition = ctx.variableDefinitions.find((d) => d.variable.name.value === node.condition);
      const compiled: ExecNode = {
        kind: 'Condition',
        variable: node.condition,
        defaultValue: definition?.defaultValue ? valueFromASTUntyped(definition.defaultValue) : undefined,
      };
      if (node.ifClause) compiled.ifClause = compileNode(node.ifClause, path, ctx);
      if (node.elseClause) compiled.elseClause = compileNode(node.elseClause, path, ctx);
      return compiled;
    }
    case 'Defer':
      throw new UnsupportedPlanError('@defer is not supported by this gateway: remove @defer from the operation');
  }
}

function compileFetch(node: FetchNode, path: ResponsePath, ctx: PlanCompileContext): CompiledFetch {
  if (node.contextRewrites?.length) {
    throw new UnsupportedPlanError(
      `the plan for subgraph "${node.serviceName}" uses @fromContext, which this gateway does not support`,
    );
  }
  const fetch: CompiledFetch = {
    serviceName: node.serviceName,
    client: ctx.client(node.serviceName),
    bodyPrefix: `{"query":${JSON.stringify(node.operation)},"variables":`,
    bodySuffix: node.operationName === undefined ? '}' : `,"operationName":${JSON.stringify(node.operationName)}}`,
    variableUsages: (node.variableUsages ?? []).map((name) => ({ name, jsonKey: JSON.stringify(name) + ':' })),
    path,
    node,
  };
  const mutable = fetch as { -readonly [K in keyof CompiledFetch]: CompiledFetch[K] };
  if (node.requires) {
    mutable.representations = compileRepresentations(
      node.requires,
      compileRewrites(node.inputRewrites, ctx.conditions),
      ctx.conditions,
    );
  }
  const outputRewrites = compileRewrites(node.outputRewrites, ctx.conditions);
  if (outputRewrites) mutable.outputRewrites = outputRewrites;
  return fetch;
}

/** Observes subgraph fetches (metrics, tracing). */
export interface FetchObserver {
  (event: { serviceName: string; durationMs: number; error?: unknown }): void;
}

/** The mutable state of one execution. */
export interface ExecutionState {
  /** The merged data, from the root. */
  readonly data: JsonObject;
  /** Errors in the order they happened (GraphQLErrors, or other errors to be formatted). */
  readonly errors: unknown[];
  /** Variables as the client sent them. */
  readonly variables: Record<string, unknown> | undefined;
  /** Headers added to every subgraph request. */
  readonly headers: Record<string, string> | undefined;
  readonly onFetch?: FetchObserver;
  /** The operation's span when tracing is on: each fetch is a CLIENT span under it (gateway/tracing.ts). */
  readonly span?: Span;
}

export async function executeNode(node: ExecNode, state: ExecutionState, cursor: unknown): Promise<void> {
  if (cursor === undefined || cursor === null) return;
  switch (node.kind) {
    case 'Sequence':
      for (const child of node.nodes) await executeNode(child, state, cursor);
      return;
    case 'Parallel':
      await Promise.all(node.nodes.map((child) => executeNode(child, state, cursor)));
      return;
    case 'Flatten':
      return executeNode(node.node, state, flattenAtPath(cursor, node.path, 0));
    case 'Fetch':
      try {
        await executeFetch(node.fetch, state, cursor);
      } catch (error) {
        // Shown to clients as is (as `@apollo/gateway` does); marked so a masking `formatError` can
        // tell a failed fetch (transport, HTTP status, body) and its subgraph from other errors.
        state.errors.push(markFetchFailure(error, node.fetch.serviceName));
      }
      return;
    case 'Condition': {
      const branch = conditionValue(node, state.variables) ? node.ifClause : node.elseClause;
      if (branch) await executeNode(branch, state, cursor);
      return;
    }
  }
}

function conditionValue(node: Extract<ExecNode, { kind: 'Condition' }>, variables: Record<string, unknown> | undefined) {
  let value = variables && Object.prototype.hasOwnProperty.call(variables, node.variable) ? variables[node.variable] : undefined;
  if (value === undefined) value = node.defaultValue;
  if (typeof value !== 'boolean') throw new Error(`Invalid non-boolean value ${String(value)} for Boolean! variable $${node.variable}`);
  return value;
}

/** The data at `path` (`@` flattens lists): one value, or a list when the path crosses lists. */
function flattenAtPath(value: unknown, path: ResponsePath, index: number): unknown {
  for (let i = index; i < path.length; i++) {
    if (value === undefined || value === null) return value;
    const element = path[i]!;
    if (element === '@') {
      const out: unknown[] = [];
      collectAtPath(value, path, i, out);
      return out;
    }
    if (Array.isArray(value)) throw new Error(`Unexpected array in result for path element ${String(element)}`);
    const obj = value as JsonObject;
    value = Object.prototype.hasOwnProperty.call(obj, element) ? obj[element as string] : undefined;
  }
  return value;
}

/** Pushes the values at `path` (from `index`, which is `@` or past the end) into `out`. */
function collectAtPath(value: unknown, path: ResponsePath, index: number, out: unknown[]): void {
  if (index === path.length || value === undefined || value === null) {
    // Inside a flattened list, a list found at the end of the path is spread one level (flatMap).
    if (Array.isArray(value)) for (const item of value) out.push(item);
    else out.push(value);
    return;
  }
  const element = path[index]!;
  if (element === '@') {
    if (!Array.isArray(value)) throw new Error(`Expected a list at path element @`);
    for (let i = 0; i < value.length; i++) collectAtPath(value[i], path, index + 1, out);
    return;
  }
  if (Array.isArray(value)) throw new Error(`Unexpected array in result for path element ${String(element)}`);
  const obj = value as JsonObject;
  collectAtPath(Object.prototype.hasOwnProperty.call(obj, element) ? obj[element as string] : undefined, path, index + 1, out);
}

function variablesJson(fetch: CompiledFetch, variables: Record<string, unknown> | undefined): string {
  let json = '{';
  if (variables) {
    for (const usage of fetch.variableUsages) {
      if (!Object.prototype.hasOwnProperty.call(variables, usage.name)) continue;
      const value = variables[usage.name];
      if (value === undefined) continue;
      if (json.length > 1) json += ',';
      json += usage.jsonKey + JSON.stringify(value);
    }
  }
  return json;
}

async function send(fetch: CompiledFetch, state: ExecutionState, variables: string): Promise<SubgraphResponse> {
  const body = fetch.bodyPrefix + variables + fetch.bodySuffix;
  const idempotent = fetch.node.operationKind === 'query';
  if (state.span) return tracedFetch(state.span, fetch.serviceName, (traceHeaders) => observedPost(fetch, state, body, idempotent, traceHeaders));
  if (!state.onFetch) return fetch.client.post(body, state.headers, idempotent);
  return observedPost(fetch, state, body, idempotent, undefined);
}

async function observedPost(
  fetch: CompiledFetch,
  state: ExecutionState,
  body: string,
  idempotent: boolean,
  traceHeaders: Record<string, string> | undefined,
): Promise<SubgraphResponse> {
  if (!state.onFetch) return fetch.client.post(body, state.headers, idempotent, traceHeaders);
  const started = performance.now();
  try {
    const response = await fetch.client.post(body, state.headers, idempotent, traceHeaders);
    state.onFetch({ serviceName: fetch.serviceName, durationMs: performance.now() - started });
    return response;
  } catch (error) {
    state.onFetch({ serviceName: fetch.serviceName, durationMs: performance.now() - started, error });
    throw error;
  }
}

async function executeFetch(fetch: CompiledFetch, state: ExecutionState, cursor: unknown): Promise<void> {
  let entities: JsonObject[];
  if (Array.isArray(cursor)) {
    entities = [];
    for (const e of cursor) if (e !== null && e !== undefined) entities.push(e as JsonObject);
  } else {
    entities = [cursor as JsonObject];
  }
  if (entities.length === 0) return;

  if (!fetch.representations) {
    const vars = variablesJson(fetch, state.variables) + '}';
    const response = await send(fetch, state, vars);
    if (response.errors) {
      for (const error of response.errors) {
        state.errors.push(
          downstreamServiceError(error, fetch.serviceName, error.path ? [...fetch.path, ...error.path] : undefined),
        );
      }
    }
    const data = response.data;
    if (data) {
      fetch.outputRewrites?.(data);
      for (let i = 0; i < entities.length; i++) deepMerge(entities[i]!, data, i > 0);
    }
    return;
  }

  // Entity fetch: one representation per distinct entity input.
  const { unique, entityToUnique, count: representationCount } = fetch.representations(entities);
  if (representationCount === 0) return;

  let vars = variablesJson(fetch, state.variables);
  if (fetch.variableUsages.some((u) => u.name === 'representations') && state.variables?.representations !== undefined) {
    throw new Error(`Variables cannot contain key "representations"`);
  }
  vars += (vars.length > 1 ? ',' : '') + '"representations":[' + unique.join(',') + ']}';
  const response = await send(fetch, state, vars);

  if (response.errors) pushEntityErrors(fetch, state, response.errors, entityToUnique, unique.length < representationCount);

  const data = response.data;
  if (!data) return;
  const received = data._entities;
  if (!Array.isArray(received)) throw new Error(`Expected "data._entities" in response to be an array`);
  if (received.length !== unique.length) throw new Error(`Expected "data._entities" to contain ${unique.length} elements`);

  const used = new Uint8Array(unique.length);
  for (let i = 0; i < entities.length; i++) {
    const k = entityToUnique[i]!;
    if (k < 0) continue;
    const entity = entities[i]!;
    const receivedEntity = received[k] as JsonObject | null | undefined;
    if (!used[k]) {
      used[k] = 1;
      if (receivedEntity && !receivedEntity.__typename) receivedEntity.__typename = entity.__typename;
      if (receivedEntity) fetch.outputRewrites?.(receivedEntity);
      deepMerge(entity, receivedEntity);
    } else {
      deepMerge(entity, receivedEntity, true);
    }
  }
}

/**
 * Reports a subgraph's errors with paths into the client's response. `_entities[k]` errors are
 * reported once per entity that had representation k, in entity order, as the stock gateway would
 * have reported them had it sent the duplicates.
 */
function pushEntityErrors(
  fetch: CompiledFetch,
  state: ExecutionState,
  errors: readonly NonNullable<SubgraphResponse['errors']>[number][],
  entityToUnique: Int32Array,
  deduplicated: boolean,
): void {
  let hydrated: ResponsePath[] | undefined;
  const hydratedPaths = () => {
    if (!hydrated) {
      hydrated = [];
      hydratePaths([], fetch.path, 0, state.data, hydrated);
    }
    return hydrated;
  };
  // representation ordinals (the stock gateway's indexes into `representations`) per unique index
  let ordinalsByUnique: number[][] | undefined;
  const ordinalsOf = (k: number): number[] => {
    if (!ordinalsByUnique) {
      ordinalsByUnique = [];
      let ordinal = 0;
      for (let i = 0; i < entityToUnique.length; i++) {
        const u = entityToUnique[i]!;
        if (u < 0) continue;
        (ordinalsByUnique[u] ??= []).push(ordinal++);
      }
    }
    return ordinalsByUnique[k] ?? [];
  };

  const entityErrors: { ordinal: number; error: ReturnType<typeof downstreamServiceError> }[] = [];
  for (const error of errors) {
    const errorPath = error.path;
    if (typeof errorPath?.[1] === 'number') {
      const rest = errorPath.slice(2);
      const ordinals = deduplicated ? ordinalsOf(errorPath[1]) : [errorPath[1]];
      for (const ordinal of ordinals) {
        const base = hydratedPaths()[ordinal] ?? [];
        const gatewayErr = downstreamServiceError(error, fetch.serviceName, [...base, ...rest]);
        if (deduplicated) entityErrors.push({ ordinal, error: gatewayErr });
        else state.errors.push(gatewayErr);
      }
    } else {
      state.errors.push(
        downstreamServiceError(error, fetch.serviceName, errorPath ? [...fetch.path, ...errorPath] : undefined),
      );
    }
  }
  if (entityErrors.length > 0) {
    entityErrors.sort((a, b) => a.ordinal - b.ordinal);
    for (const { error } of entityErrors) state.errors.push(error);
  }
}

/** Expands a path with `@` into the concrete paths present in the data (for error paths). */
function hydratePaths(parent: (string | number)[], path: ResponsePath, index: number, data: unknown, out: ResponsePath[]): void {
  if (data === null || data === undefined) return;
  if (index === path.length) {
    out.push(parent.slice());
    return;
  }
  const head = path[index]!;
  if (head === '@') {
    if (!Array.isArray(data)) return;
    for (let i = 0; i < data.length; i++) {
      parent.push(i);
      hydratePaths(parent, path, index + 1, data[i], out);
      parent.pop();
    }
  } else if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      parent.push(i);
      hydratePaths(parent, path, index, data[i], out);
      parent.pop();
    }
  } else {
    const obj = data as JsonObject;
    if (Object.prototype.hasOwnProperty.call(obj, head)) {
      parent.push(head);
      hydratePaths(parent, path, index + 1, obj[head as string], out);
      parent.pop();
    }
  }
}
