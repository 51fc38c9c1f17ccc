import { isAbstractType, isInterfaceType, isObjectType, type GraphQLSchema } from 'graphql';
import type { FetchDataRewrite, QueryPlanSelectionNode } from '@apollo/query-planner';
import { deepMerge } from './merge.ts';

/**
 * The inputs of entity fetches, compiled once per plan: extracting a representation from an entity
 * (the fetch's `requires` selection, with the semantics of `@apollo/gateway`'s `executeSelectionSet`)
 * and applying the planner's input/output rewrites.
 */
type JsonObject = Record<string, unknown>;

const hasOwn = Object.prototype.hasOwnProperty;

/** Type-condition tests on objects by their `__typename`, against the supergraph schema (memoized). */
export class TypeConditions {
  private readonly memo = new Map<string, boolean>();

  constructor(private readonly schema: GraphQLSchema) {}

  /** `obj.__typename` is `condition` or one of its subtypes; `unknownDefault` when there is no typename. */
  matches(obj: JsonObject, condition: string, unknownDefault = false): boolean {
    const typename = obj.__typename;
    if (!typename || typeof typename !== 'string') return unknownDefault;
    if (typename === condition) return true;
    const key = condition + '\u0000' + typename;
    let result = this.memo.get(key);
    if (result === undefined) {
      const type = this.schema.getType(typename);
      const conditionType = this.schema.getType(condition);
      result =
        !!type &&
        !!conditionType &&
        isAbstractType(conditionType) &&
        (isObjectType(type) || isInterfaceType(type)) &&
        this.schema.isSubType(conditionType, type);
      this.memo.set(key, result);
    }
    return result;
  }
}

export type Extractor = (source: JsonObject | null) => JsonObject | null;

/** Compiles a `requires` selection into a function building the representation of one entity. */
export function compileRequires(selections: readonly QueryPlanSelectionNode[], conditions: TypeConditions): Extractor {
  const steps = selections.map((selection): ((source: JsonObject, result: JsonObject) => boolean) => {
    if (selection.kind === 'Field') {
      const responseName = selection.alias ?? selection.name;
      const sub = selection.selections ? compileRequires(selection.selections, conditions) : undefined;
      return (source, result) => {
        if (!hasOwn.call(source, responseName)) return false;
        const value = source[responseName];
        if (value === undefined) return false;
        if (Array.isArray(value)) {
          result[responseName] = sub ? value.map((v) => sub(v as JsonObject | null)) : value;
        } else if (sub) {
          result[responseName] = sub(value as JsonObject | null);
        } else {
          result[responseName] = value;
        }
        return true;
      };
    }
    const typeCondition = selection.typeCondition;
    if (!typeCondition) return () => true;
    const sub = compileRequires(selection.selections, conditions);
    return (source, result) => {
      if (conditions.matches(source, typeCondition)) deepMerge(result, sub(source));
      return true;
    };
  });
  return (source) => {
    if (source === null) return null;
    const result: JsonObject = {};
    for (const step of steps) {
      if (!step(source, result)) return null;
    }
    return result;
  };
}

/** The distinct representations of a fetch's entities, and which entity has which. */
export interface Representations {
  /** Each distinct representation, as JSON. */
  readonly unique: string[];
  /** Entity index → index in `unique`, or -1 when the entity has no representation. */
  readonly entityToUnique: Int32Array;
  /** Entities with a representation (counting duplicates). */
  readonly count: number;
}

export type RepresentationIndexer = (entities: readonly JsonObject[]) => Representations;

/**
 * Compiles what an entity fetch sends: the representation of each entity (its `requires`
 * selection, input rewrites applied) as JSON, each distinct one once. The usual `requires` — one
 * type condition over plain fields, no rewrites — finds duplicates by their field values (nested
 * maps, no string building) and writes JSON only for the first of each; anything else builds the
 * representation object and compares JSON.
 */
export function compileRepresentations(
  requires: readonly QueryPlanSelectionNode[],
  inputRewrites: Rewriter | undefined,
  conditions: TypeConditions,
): RepresentationIndexer {
  const only = requires.length === 1 ? requires[0]! : undefined;
  const plainFields =
    only?.kind === 'InlineFragment' &&
    only.typeCondition &&
    !inputRewrites &&
    only.selections.every((s) => s.kind === 'Field' && !s.alias && !s.selections) &&
    only.selections.some((s) => s.kind === 'Field' && s.name === '__typename')
      ? (only.selections as { name: string }[]).map((s) => s.name)
      : undefined;
  if (plainFields) return plainFieldsIndexer((only as { typeCondition: string }).typeCondition, plainFields, conditions);

  const extract = compileRequires(requires, conditions);
  return (entities) => {
    const unique: string[] = [];
    const byJson = new Map<string, number>();
    const entityToUnique = new Int32Array(entities.length);
    let count = 0;
    for (let i = 0; i < entities.length; i++) {
      const representation = extract(entities[i]!);
      if (!representation || !representation.__typename) {
        entityToUnique[i] = -1;
        continue;
      }
      inputRewrites?.(representation);
      entityToUnique[i] = indexOf(JSON.stringify(representation), unique, byJson);
      count++;
    }
    return { unique, entityToUnique, count };
  };
}

function indexOf(json: string, unique: string[], byJson: Map<string, number>): number {
  let k = byJson.get(json);
  if (k === undefined) {
    k = unique.length;
    unique.push(json);
    byJson.set(json, k);
  }
  return k;
}

function plainFieldsIndexer(typeCondition: string, fields: readonly string[], conditions: TypeConditions): RepresentationIndexer {
  const keys = fields.map((name, i) => (i === 0 ? '{' : ',') + JSON.stringify(name) + ':');
  const last = fields.length - 1;
  const toJson = (entity: JsonObject): string => {
    let json = '';
    for (let f = 0; f < fields.length; f++) json += keys[f] + JSON.stringify(entity[fields[f]!]);
    return json + '}';
  };
  return (entities) => {
    const unique: string[] = [];
    /** value of field 0 → value of field 1 → … → unique index (for primitive values). */
    const root = new Map<unknown, unknown>();
    let byJson: Map<string, number> | undefined;
    const entityToUnique = new Int32Array(entities.length);
    let count = 0;
    entities: for (let i = 0; i < entities.length; i++) {
      const entity = entities[i]!;
      entityToUnique[i] = -1;
      if (!conditions.matches(entity, typeCondition)) continue;
      let primitive = true;
      for (let f = 0; f < fields.length; f++) {
        const name = fields[f]!;
        if (!hasOwn.call(entity, name)) continue entities;
        const value = entity[name];
        if (value === undefined || (name === '__typename' && !value)) continue entities;
        if (value !== null && typeof value === 'object') primitive = false;
      }
      count++;
      if (!primitive) {
        entityToUnique[i] = indexOf(toJson(entity), unique, (byJson ??= new Map()));
        continue;
      }
      let node = root;
      for (let f = 0; f < last; f++) {
        const value = entity[fields[f]!];
        let next = node.get(value) as Map<unknown, unknown> | undefined;
        if (!next) {
          next = new Map();
          node.set(value, next);
        }
        node = next;
      }
      const value = entity[fields[last]!];
      let k = node.get(value) as number | undefined;
      if (k === undefined) {
        k = unique.length;
        unique.push(toJson(entity));
        node.set(value, k);
      }
      entityToUnique[i] = k;
    }
    return { unique, entityToUnique, count };
  };
}

export type Rewriter = (value: unknown) => void;

/** Compiles planner rewrites (`ValueSetter`, `KeyRenamer`) into one function; undefined if none. */
export function compileRewrites(
  rewrites: readonly FetchDataRewrite[] | undefined,
  conditions: TypeConditions,
): Rewriter | undefined {
  if (!rewrites || rewrites.length === 0) return undefined;
  const compiled = rewrites.map((rewrite) => compileRewrite(rewrite, conditions)).filter((r) => r !== undefined);
  return (value) => {
    for (const rewrite of compiled) rewrite(value);
  };
}

function compileRewrite(rewrite: FetchDataRewrite, conditions: TypeConditions): Rewriter | undefined {
  if (rewrite.path.length === 0) return undefined;
  const parent = rewrite.path.slice(0, -1);
  const last = rewrite.path[rewrite.path.length - 1]!;
  if (last.startsWith(FRAGMENT_PREFIX)) throw new Error(`Unexpected fragment as last element of ${rewrite.path.join(',')}`);
  const action: (obj: JsonObject) => void =
    rewrite.kind === 'ValueSetter'
      ? (obj) => {
          setOwn(obj, last, rewrite.setValueTo);
        }
      : (obj) => {
          const value = hasOwn.call(obj, last) ? obj[last] : undefined;
          if (value) {
            setOwn(obj, rewrite.renameKeyTo, value);
            obj[last] = undefined;
          }
        };
  return (value) => applyAtPath(parent, 0, value, action, conditions);
}

const FRAGMENT_PREFIX = '... on ';

function applyAtPath(
  path: readonly string[],
  index: number,
  value: unknown,
  action: (obj: JsonObject) => void,
  conditions: TypeConditions,
): void {
  if (Array.isArray(value)) {
    for (const element of value) applyAtPath(path, index, element, action, conditions);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const obj = value as JsonObject;
  if (index === path.length) {
    action(obj);
    return;
  }
  const element = path[index]!;
  if (element.startsWith(FRAGMENT_PREFIX)) {
    if (conditions.matches(obj, element.slice(FRAGMENT_PREFIX.length), true)) {
      applyAtPath(path, index + 1, obj, action, conditions);
    }
  } else {
    applyAtPath(path, index + 1, hasOwn.call(obj, element) ? obj[element] : undefined, action, conditions);
  }
}

function setOwn(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}
