import {
  executeSync,
  Kind,
  OperationTypeNode,
  visit,
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
  type VariableDefinitionNode,
} from 'graphql';
import {
  isCompositeType,
  isCustomScalarType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isSubtype,
  Variable,
  type FieldSelection,
  type Operation,
  type OutputType,
  type Schema,
  type SelectionSet,
  type Type,
} from '@apollo/federation-internals';
import { invalidGraphQLError } from './errors.ts';

/**
 * Result shaping, compiled once per operation: turns the merged subgraph data into the response the
 * client asked for — only the requested fields, in query order, aliases applied, `__typename`
 * resolved, leaf values checked, and nulls propagated per the GraphQL rules.
 *
 * It walks the same normalized operation (`@apollo/federation-internals` `Operation`) and follows the
 * same rules as `@apollo/gateway`'s `computeResponse`, so the output is identical (field order, error
 * messages and paths included), but the per-request work is a walk over precomputed nodes: no
 * directive lookups, type printing or schema queries per value.
 */

/** How `@skip`/`@include` decide on a selection: a literal or a variable name. */
interface InclusionCondition {
  skip?: boolean | string;
  include?: boolean | string;
}

const enum TypeKind {
  NonNull,
  List,
  Composite,
  Leaf,
}

type ShapeType =
  | { kind: TypeKind.NonNull; of: ShapeType; printed: string; composite: boolean }
  | { kind: TypeKind.List; of: ShapeType; printed: string; composite: boolean }
  | { kind: TypeKind.Composite; name: string; set: ShapeSet; printed: string; composite: true }
  | { kind: TypeKind.Leaf; valid: (value: unknown) => boolean; printed: string; composite: false };

interface ShapeField {
  field: true;
  responseName: string;
  /** The response name is also an `Object.prototype` key: read it as an own property only. */
  ownOnly: boolean;
  condition?: InclusionCondition;
  isTypename: boolean;
  introspection?: IntrospectionField;
  type: ShapeType;
}

interface ShapeFragment {
  field: false;
  condition?: InclusionCondition;
  /** Type condition name; undefined for a fragment without one. */
  typeCondition?: string;
  /** Memo: does the type condition apply to a runtime type of this name? */
  applies: (typeName: string) => boolean;
  set: ShapeSet;
}

type ShapeItem = ShapeField | ShapeFragment;

interface ShapeSet {
  items: ShapeItem[];
}

interface IntrospectionField {
  document: DocumentNode;
  responseName: string;
  /** Result when the introspection uses no variables (the schema never changes). */
  cached?: unknown;
  usesVariables: boolean;
}

/** Per-schema facts the shaper needs about type names found in subgraph data. */
export class ShapingSchema {
  private readonly kinds = new Map<string, { composite: boolean; object: boolean }>();
  private readonly subtypeMemo = new Map<string, boolean>();

  constructor(
    readonly schema: Schema,
    readonly graphqlSchema: GraphQLSchema,
  ) {
    for (const type of schema.types()) {
      this.kinds.set(type.name, { composite: isCompositeType(type), object: isObjectType(type) });
    }
  }

  exists(name: string): boolean {
    return this.kinds.has(name);
  }
  isComposite(name: string): boolean {
    return this.kinds.get(name)?.composite ?? false;
  }
  isObject(name: string): boolean {
    return this.kinds.get(name)?.object ?? false;
  }

  /** `typeName` names a type of the schema and is a subtype of (or equal to) `condition`. */
  conditionApplies(condition: string, typeName: string): boolean {
    const key = condition + '\u0000' + typeName;
    let result = this.subtypeMemo.get(key);
    if (result === undefined) {
      const conditionType = this.schema.type(condition);
      const type = this.schema.type(typeName);
      result = !!conditionType && !!type && isSubtype(conditionType, type);
      this.subtypeMemo.set(key, result);
    }
    return result;
  }
}

const PROTOTYPE_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));
const hasOwn = Object.prototype.hasOwnProperty;

/** A compiled operation shape: call `shape()` per response (or per subscription event). */
export class CompiledShape {
  private readonly root: ShapeSet;
  private readonly rootTypeName: string;
  private readonly defaultedVariables: Record<string, unknown>;
  private readonly compiled = new WeakMap<SelectionSet, ShapeSet>();

  constructor(
    private readonly shapingSchema: ShapingSchema,
    operation: Operation,
    private readonly variableDefinitions: readonly VariableDefinitionNode[],
  ) {
    const schema = operation.schema();
    const rootType = schema.schemaDefinition.rootType(operation.rootKind);
    if (!rootType) throw new Error(`the schema has no ${operation.rootKind} type`);
    this.rootTypeName = rootType.name;
    this.defaultedVariables = operation.collectDefaultedVariableValues();
    this.root = this.compileSet(operation.selectionSet);
  }

  /**
   * Shapes `input` (the merged data). Value-completion problems are collected in `errors` (the
   * caller decides whether to report them); structural violations throw, as in `@apollo/gateway`.
   */
  shape(
    input: Record<string, unknown>,
    variables: Record<string, unknown> | undefined,
    errors: GraphQLError[],
  ): Record<string, unknown> | null {
    const ctx: ShapeContext = {
      variables: variables ? { ...this.defaultedVariables, ...variables } : this.defaultedVariables,
      rawVariables: variables,
      errors,
      invalid: false,
      hasErrors: false,
      schema: this.shapingSchema,
    };
    const data: Record<string, unknown> = {};
    const result = applySet(input, this.root, data, ctx, [], this.rootTypeName);
    return result === BUBBLE ? null : data;
  }

  private compileSet(selectionSet: SelectionSet): ShapeSet {
    const existing = this.compiled.get(selectionSet);
    if (existing) return existing;
    const set: ShapeSet = { items: [] };
    this.compiled.set(selectionSet, set);
    const schema = this.shapingSchema;
    for (const selection of selectionSet.selections()) {
      const condition = inclusionCondition(selection.element.appliedDirectives);
      if (selection.kind === 'FieldSelection') {
        const field = selection.element;
        const responseName = field.responseName();
        const item: ShapeField = {
          field: true,
          responseName,
          ownOnly: PROTOTYPE_KEYS.has(responseName),
          isTypename: field.name === '__typename',
          type: this.compileType(field.definition.type!, selection.selectionSet),
        };
        if (condition) item.condition = condition;
        if (field.definition.isSchemaIntrospectionField()) {
          item.introspection = this.compileIntrospection(selection, responseName);
        }
        set.items.push(item);
      } else {
        const typeCondition = selection.element.typeCondition?.name;
        const memo = new Map<string, boolean>();
        const item: ShapeFragment = {
          field: false,
          set: this.compileSet(selection.selectionSet),
          applies:
            typeCondition === undefined
              ? () => true
              : (typeName: string) => {
                  let applies = memo.get(typeName);
                  if (applies === undefined) {
                    applies = schema.conditionApplies(typeCondition, typeName);
                    memo.set(typeName, applies);
                  }
                  return applies;
                },
        };
        if (typeCondition !== undefined) item.typeCondition = typeCondition;
        if (condition) item.condition = condition;
        set.items.push(item);
      }
    }
    return set;
  }

  private compileType(type: OutputType | Type, selectionSet: SelectionSet | undefined): ShapeType {
    const printed = type.toString();
    if (isNonNullType(type)) {
      const of = this.compileType(type.ofType, selectionSet);
      return { kind: TypeKind.NonNull, of, printed, composite: of.composite };
    }
    if (isListType(type)) {
      const of = this.compileType(type.ofType, selectionSet);
      return { kind: TypeKind.List, of, printed, composite: of.composite };
    }
    if (isCompositeType(type)) {
      if (!selectionSet) throw new Error(`Invalid empty selection set for composite type ${printed}`);
      return { kind: TypeKind.Composite, name: type.name, set: this.compileSet(selectionSet), printed, composite: true };
    }
    return { kind: TypeKind.Leaf, valid: leafValidator(this.shapingSchema.schema, type), printed, composite: false };
  }

  private compileIntrospection(selection: FieldSelection, responseName: string): IntrospectionField {
    const fieldNode = selection.expandFragments().toSelectionNode();
    const used = new Set<string>();
    visit(fieldNode, {
      Variable: (node) => {
        used.add(node.name.value);
      },
    });
    const document: DocumentNode = {
      kind: Kind.DOCUMENT,
      definitions: [
        {
          kind: Kind.OPERATION_DEFINITION,
          operation: OperationTypeNode.QUERY,
          variableDefinitions: this.variableDefinitions.filter((d) => used.has(d.variable.name.value)),
          selectionSet: { kind: Kind.SELECTION_SET, selections: [fieldNode] },
        },
      ],
    };
    return { document, responseName, usesVariables: used.size > 0 };
  }
}

interface ShapeContext {
  /** Variables with the operation's defaults applied (for @skip/@include). */
  variables: Record<string, unknown>;
  /** Variables as the client sent them (for introspection). */
  rawVariables: Record<string, unknown> | undefined;
  errors: GraphQLError[];
  /** Set by `update`: the returned null violates a non-null type and must bubble up. */
  invalid: boolean;
  /** Set by `update`: an error was already recorded for this value. */
  hasErrors: boolean;
  schema: ShapingSchema;
}

const OK = 0;
const BUBBLE = 1;

function included(condition: InclusionCondition, variables: Record<string, unknown>): boolean {
  if (condition.skip !== undefined && conditionValue(condition.skip, variables)) return false;
  if (condition.include !== undefined && !conditionValue(condition.include, variables)) return false;
  return true;
}

function conditionValue(value: boolean | string, variables: Record<string, unknown>): boolean {
  if (typeof value === 'boolean') return value;
  const v = variables[value];
  if (typeof v !== 'boolean') throw new Error(`Unexpected value ${String(v)} for variable $${value}`);
  return v;
}

function inclusionCondition(
  directives: readonly { name: string; arguments(): Record<string, unknown> }[],
): InclusionCondition | undefined {
  let condition: InclusionCondition | undefined;
  for (const directive of directives) {
    if (directive.name !== 'skip' && directive.name !== 'include') continue;
    condition ??= {};
    if (condition[directive.name] !== undefined) continue; // only the first application counts
    const ifArg = directive.arguments().if;
    condition[directive.name] = ifArg instanceof Variable ? ifArg.name : Boolean(ifArg);
  }
  return condition;
}

/**
 * An integer whose `String()` has no exponent: what `@apollo/federation-internals` accepts for Int
 * and ID (`/^-?(?:0|[1-9][0-9]*)$/` on `String(value)`), without building the string.
 */
const isPlainInteger = (value: number): boolean => Number.isInteger(value) && Math.abs(value) < 1e21;

function leafValidator(schema: Schema, type: Type): (value: unknown) => boolean {
  if (isCustomScalarType(type)) return () => true;
  if (isEnumType(type)) {
    const values = new Set(type.values.map((v) => v.name));
    return (value) => typeof value === 'string' && values.has(value);
  }
  if (type === schema.booleanType()) return (value) => typeof value === 'boolean';
  if (type === schema.intType()) {
    return (value) => typeof value === 'number' && isPlainInteger(value);
  }
  if (type === schema.idType()) {
    return (value) =>
      typeof value === 'string' || (typeof value === 'number' && isPlainInteger(value));
  }
  if (type === schema.floatType()) return (value) => typeof value === 'number' && isFinite(value);
  return (value) => typeof value === 'string';
}

function describe(path: (string | number)[], printedType: string, parentTypeName: string): string {
  const last = path[path.length - 1]!;
  return typeof last === 'string'
    ? `field ${parentTypeName}.${last}`
    : `array element of type ${printedType} at index ${last}`;
}

function readInput(input: Record<string, unknown>, key: string, ownOnly: boolean): unknown {
  if (ownOnly && !hasOwn.call(input, key)) return null;
  const value = input[key];
  return value === undefined ? null : value;
}

function write(output: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(output, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    output[key] = value;
  }
}

function applySet(
  input: Record<string, unknown>,
  set: ShapeSet,
  output: Record<string, unknown>,
  ctx: ShapeContext,
  path: (string | number)[],
  parentTypeName: string,
): number {
  const items = set.items;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.condition !== undefined && !included(item.condition, ctx.variables)) continue;
    if (item.field) {
      const responseName = item.responseName;
      const outputValue = item.ownOnly && !hasOwn.call(output, responseName) ? undefined : output[responseName];
      if (item.introspection !== undefined) {
        if (outputValue === undefined) write(output, responseName, introspect(item.introspection, ctx));
        continue;
      }
      let inputValue = readInput(input, responseName, item.ownOnly);
      if (item.isTypename) {
        if (outputValue === undefined) {
          if (inputValue === null && responseName !== '__typename') inputValue = input.__typename ?? null;
          const typeName =
            typeof inputValue === 'string' && ctx.schema.exists(inputValue) ? inputValue : parentTypeName;
          if (!ctx.schema.isObject(typeName)) return BUBBLE;
          write(output, responseName, typeName);
        }
        continue;
      }
      path.push(responseName);
      const updated = update(outputValue, item.type, inputValue, path, ctx, parentTypeName);
      write(output, responseName, updated);
      path.pop();
      if (ctx.invalid) return BUBBLE;
    } else {
      const typename = input.__typename;
      if (typename !== undefined && typename !== null && typeof typename !== 'string') {
        throw new Error(`Got unexpected value for __typename: ${String(typename)}`);
      }
      if (item.applies(typename ? typename : parentTypeName)) {
        const result = applySet(input, item.set, output, ctx, path, item.typeCondition ?? parentTypeName);
        if (result === BUBBLE) return BUBBLE;
      }
    }
  }
  return OK;
}

/**
 * Computes the output value for `type` from `inputValue` (never undefined), merging into an
 * `outputValue` already computed for the same response name (or undefined). Sets `ctx.invalid`
 * when the result is a null that must bubble up and `ctx.hasErrors` when an error was recorded.
 */
function update(
  outputValue: unknown,
  type: ShapeType,
  inputValue: unknown,
  path: (string | number)[],
  ctx: ShapeContext,
  parentTypeName: string,
): unknown {
  ctx.invalid = false;
  ctx.hasErrors = false;
  if (outputValue === null || (outputValue !== undefined && !type.composite)) return outputValue;

  switch (type.kind) {
    case TypeKind.NonNull: {
      const updated = update(outputValue, type.of, inputValue, path, ctx, parentTypeName);
      if (updated === null) {
        if (!ctx.hasErrors) {
          ctx.errors.push(
            invalidGraphQLError(
              `Cannot return null for non-nullable ${describe(path, type.of.printed, parentTypeName)}.`,
              path,
            ),
          );
        }
        ctx.invalid = true;
        ctx.hasErrors = true;
        return null;
      }
      ctx.invalid = false;
      ctx.hasErrors = false;
      return updated;
    }
    case TypeKind.List: {
      if (inputValue === null) return null;
      if (!Array.isArray(inputValue)) {
        throw new Error(`Invalid non-list value ${String(inputValue)} returned by subgraph for list type ${type.printed}`);
      }
      if (outputValue !== undefined && (!Array.isArray(outputValue) || outputValue.length !== inputValue.length)) {
        throw new Error(`Invalid non-list value ${String(outputValue)} returned by subgraph for list type ${type.printed}`);
      }
      const previous = outputValue as unknown[] | undefined;
      const length = inputValue.length;
      const updated = new Array<unknown>(length);
      let nullify = false;
      let hasErrors = false;
      for (let i = 0; i < length; i++) {
        path.push(i);
        updated[i] = update(previous === undefined ? undefined : previous[i], type.of, inputValue[i], path, ctx, parentTypeName);
        path.pop();
        if (ctx.invalid) nullify = true;
        if (ctx.hasErrors) hasErrors = true;
      }
      ctx.invalid = false;
      ctx.hasErrors = hasErrors;
      return nullify ? null : updated;
    }
    case TypeKind.Composite: {
      if (inputValue === null) return null;
      if (typeof inputValue !== 'object') {
        throw new Error(`Invalid non-object value ${String(inputValue)} returned by subgraph for composite type ${type.printed}`);
      }
      if (outputValue !== undefined && typeof outputValue !== 'object') {
        throw new Error(`Invalid non-object value ${String(inputValue)} returned by subgraph for composite type ${type.printed}`);
      }
      const input = inputValue as Record<string, unknown>;
      const inputTypename = input.__typename;
      if (inputTypename !== undefined && typeof inputTypename !== 'string') {
        throw new Error(`Invalid non-string value ${String(inputTypename)} for __typename at ${path.join(',')}`);
      }
      let objectTypeName = type.name;
      if (inputTypename) {
        if (!ctx.schema.isComposite(inputTypename)) {
          ctx.errors.push(
            invalidGraphQLError(`Invalid __typename found for object at ${describe(path, type.printed, parentTypeName)}.`, path),
          );
          ctx.hasErrors = true;
          return null;
        }
        objectTypeName = inputTypename;
      }
      const output = outputValue === undefined ? {} : (outputValue as Record<string, unknown>);
      const result = applySet(input, type.set, output, ctx, path, objectTypeName);
      ctx.invalid = false;
      ctx.hasErrors = result === BUBBLE;
      return result === BUBBLE ? null : output;
    }
    case TypeKind.Leaf: {
      if (inputValue === null) return null;
      if (type.valid(inputValue)) return inputValue;
      ctx.errors.push(invalidGraphQLError(`Invalid value found for ${describe(path, type.printed, parentTypeName)}.`, path));
      ctx.hasErrors = true;
      return null;
    }
  }
}

function introspect(field: IntrospectionField, ctx: ShapeContext): unknown {
  if (!field.usesVariables && field.cached !== undefined) return field.cached;
  const result = executeSync({
    schema: ctx.schema.graphqlSchema,
    document: field.document,
    rootValue: {},
    variableValues: ctx.rawVariables,
  });
  if (result.errors?.length || !result.data) {
    throw new Error(`Introspection query failed: ${result.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
  }
  const value = (result.data as Record<string, unknown>)[field.responseName];
  if (!field.usesVariables) field.cached = value;
  return value;
}
