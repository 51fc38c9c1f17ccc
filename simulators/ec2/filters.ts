import { ec2Errors } from './errors.ts';
import type { Filter } from './query.ts';

/**
 * Describe* filtering as EC2 does it: filters are ANDed, the values of one filter are ORed, string
 * values accept the wildcards `*` (any run) and `?` (one character), escaped with a backslash, and
 * `tag:<key>`, `tag-key` and `tag-value` work on any taggable resource. An unknown filter name is an
 * error, as on the real service.
 */
export type FieldReader<T> = (resource: T) => string | number | boolean | undefined | readonly string[];

export interface FilterSpec<T> {
  /** Filter name → the value(s) of the resource it is compared with. */
  fields: Readonly<Record<string, FieldReader<T>>>;
  /** The resource's tags, for `tag:<key>`, `tag-key` and `tag-value`. */
  tags: (resource: T) => ReadonlyMap<string, string>;
}

const patternCache = new Map<string, RegExp>();

/** Compile an EC2 filter value with `*` / `?` wildcards into an anchored regular expression. */
export function wildcardPattern(value: string): RegExp {
  let cached = patternCache.get(value);
  if (cached) return cached;
  let source = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && i + 1 < value.length) {
      source += escapeRegExp(value[++i] as string);
    } else if (c === '*') {
      source += '[\\s\\S]*';
    } else if (c === '?') {
      source += '[\\s\\S]';
    } else {
      source += escapeRegExp(c);
    }
  }
  cached = new RegExp(`^${source}$`);
  if (patternCache.size > 1000) patternCache.clear();
  patternCache.set(value, cached);
  return cached;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether `candidate` matches the filter value `pattern`. */
export function matchesWildcard(pattern: string, candidate: string): boolean {
  return wildcardPattern(pattern).test(candidate);
}

function asStrings(value: ReturnType<FieldReader<unknown>>): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value as string[];
  return [String(value)];
}

/** Reject any filter whose name `spec` does not know (before any resource is looked at). */
export function validateFilters<T>(filters: readonly Filter[], spec: FilterSpec<T>): void {
  for (const { name } of filters) {
    if (name.startsWith('tag:') && name.length > 4) continue;
    if (name === 'tag-key' || name === 'tag-value') continue;
    if (!(name in spec.fields)) throw ec2Errors.invalidFilter(name);
  }
}

/** Whether `resource` passes every filter. Call `validateFilters` first. */
export function matchesFilters<T>(resource: T, filters: readonly Filter[], spec: FilterSpec<T>): boolean {
  return filters.every((filter) => matchesFilter(resource, filter, spec));
}

function matchesFilter<T>(resource: T, { name, values }: Filter, spec: FilterSpec<T>): boolean {
  let candidates: string[];
  if (name.startsWith('tag:')) {
    const value = spec.tags(resource).get(name.slice(4));
    candidates = value === undefined ? [] : [value];
  } else if (name === 'tag-key') {
    candidates = [...spec.tags(resource).keys()];
  } else if (name === 'tag-value') {
    candidates = [...spec.tags(resource).values()];
  } else {
    const reader = spec.fields[name];
    candidates = reader ? asStrings(reader(resource)) : [];
  }
  return values.some((pattern) => candidates.some((candidate) => matchesWildcard(pattern, candidate)));
}
