/**
 * Merging subgraph results into the response being built, with the semantics of `@apollo/gateway`'s
 * `deepMerge` (objects merge key by key, equal-length lists merge element by element, anything else
 * replaces), so the merged tree is the same as the stock gateway's.
 *
 * `cloneSource` copies every object or list taken from `source` instead of sharing it: the executor
 * sends each distinct entity representation once and merges the one answer into every entity that
 * had that representation, and those entities must not share sub-objects (later fetches may merge
 * different data into them).
 */
type JsonObject = Record<string, unknown>;

const hasOwn = Object.prototype.hasOwnProperty;

export function isPlainObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Own property or undefined (never a value from the prototype chain). */
function own(target: JsonObject, key: string): unknown {
  return hasOwn.call(target, key) ? target[key] : undefined;
}

function assign(target: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

export function deepMerge(target: JsonObject, source: unknown, cloneSource = false): void {
  if (source === undefined || source === null) return;
  const src = source as JsonObject;
  for (const key in src) {
    if (!hasOwn.call(src, key)) continue;
    const sourceValue = src[key];
    if (sourceValue === undefined) continue;
    const targetValue = own(target, key);
    if (targetValue && typeof targetValue === 'object' && isPlainObject(sourceValue)) {
      if (Array.isArray(targetValue)) {
        assign(target, key, cloneSource ? cloneJson(sourceValue) : sourceValue);
      } else {
        deepMerge(targetValue as JsonObject, sourceValue, cloneSource);
      }
    } else if (Array.isArray(sourceValue) && Array.isArray(targetValue) && sourceValue.length === targetValue.length) {
      for (let i = 0; i < sourceValue.length; i++) {
        const s = sourceValue[i] as unknown;
        const t = targetValue[i] as unknown;
        if (isPlainObject(t) && isPlainObject(s)) deepMerge(t, s, cloneSource);
        else targetValue[i] = cloneSource ? cloneJson(s) : s;
      }
    } else {
      assign(target, key, cloneSource ? cloneJson(sourceValue) : sourceValue);
    }
  }
}

/** A deep copy of a JSON value (objects, lists, scalars). */
export function cloneJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = cloneJson(value[i] as unknown);
    return out as T;
  }
  const out: JsonObject = {};
  for (const key in value) {
    if (hasOwn.call(value, key)) assign(out, key, cloneJson((value as JsonObject)[key]));
  }
  return out as T;
}
