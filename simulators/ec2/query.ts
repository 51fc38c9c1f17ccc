import { ec2Errors } from './errors.ts';

/**
 * The parameters of one EC2 Query request (`Action=…&InstanceId.1=…&Filter.1.Value.1=…`), with the
 * accessors the actions need: typed scalars, `Name.N` lists and `Name.N.Member` structure lists.
 * Every accessor reports a bad value the way EC2 does (`MissingParameter`, `InvalidParameterValue`).
 */
export class QueryParams {
  private constructor(private readonly entries: ReadonlyMap<string, string>) {}

  /** Parse a form-encoded body or query string. A repeated key keeps its last value. */
  static parse(encoded: string): QueryParams {
    return new QueryParams(new Map(new URLSearchParams(encoded)));
  }

  /** Merge: the other parameters win over these. */
  merge(other: QueryParams): QueryParams {
    return new QueryParams(new Map([...this.entries, ...other.entries]));
  }

  get(name: string): string | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  require(name: string): string {
    const value = this.entries.get(name);
    if (value === undefined || value === '') throw ec2Errors.missingParameter(name);
    return value;
  }

  int(name: string, range: { min?: number; max?: number } = {}): number | undefined {
    const raw = this.entries.get(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(value)) {
      throw ec2Errors.invalidParameterValue(`Invalid value '${raw}' for ${name}. It must be an integer.`);
    }
    if ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max)) {
      const bounds = [range.min !== undefined ? `at least ${range.min}` : '', range.max !== undefined ? `at most ${range.max}` : '']
        .filter(Boolean)
        .join(' and ');
      throw ec2Errors.invalidParameterValue(`Value (${value}) for parameter ${name} is invalid. Expecting a value ${bounds}.`);
    }
    return value;
  }

  bool(name: string): boolean | undefined {
    const raw = this.entries.get(name);
    if (raw === undefined) return undefined;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw ec2Errors.invalidParameterValue(`Invalid value '${raw}' for ${name}. Expecting true or false.`);
  }

  /** The indexes N present under `prefix.N` (or `prefix.N.…`), ascending. */
  private indexes(prefix: string): number[] {
    const found = new Set<number>();
    const head = `${prefix}.`;
    for (const key of this.entries.keys()) {
      if (!key.startsWith(head)) continue;
      const rest = key.slice(head.length);
      const dot = rest.indexOf('.');
      const index = Number(dot === -1 ? rest : rest.slice(0, dot));
      if (Number.isInteger(index) && index > 0) found.add(index);
    }
    return [...found].sort((a, b) => a - b);
  }

  /** A scalar list serialized as `prefix.1`, `prefix.2`, …, in index order. */
  list(prefix: string): string[] {
    const values: string[] = [];
    for (const index of this.indexes(prefix)) {
      const value = this.entries.get(`${prefix}.${index}`);
      if (value !== undefined) values.push(value);
    }
    return values;
  }

  /** A list of structures serialized as `prefix.N.Member…`: one QueryParams per N, members unprefixed. */
  structs(prefix: string): QueryParams[] {
    return this.indexes(prefix).map((index) => this.sub(`${prefix}.${index}`));
  }

  /** The members of the nested structure `prefix` (`prefix.Member` → `Member`). */
  sub(prefix: string): QueryParams {
    const head = `${prefix}.`;
    const members = new Map<string, string>();
    for (const [key, value] of this.entries) {
      if (key.startsWith(head)) members.set(key.slice(head.length), value);
    }
    return new QueryParams(members);
  }

  /** A canonical string of every parameter except `excluded`, to compare two requests. */
  fingerprint(excluded: readonly string[]): string {
    return [...this.entries]
      .filter(([key]) => !excluded.includes(key))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
      .join('&');
  }
}

/** A `Filter.N` of a Describe* request. */
export interface Filter {
  name: string;
  values: string[];
}

export function parseFilters(params: QueryParams): Filter[] {
  return params.structs('Filter').map((filter) => {
    const name = filter.get('Name');
    if (!name) throw ec2Errors.invalidFilter(String(name ?? 'null'));
    return { name, values: filter.list('Value') };
  });
}

/** One tag given as `Tag.N.Key` / `Tag.N.Value` (a missing value is the empty string). */
export interface TagInput {
  key: string;
  value: string;
}

export const MAX_TAGS_PER_RESOURCE = 50;

/** Parse and validate `prefix.N.Key/Value` tags with EC2's rules (length, reserved `aws:` prefix). */
export function parseTags(params: QueryParams, prefix: string): TagInput[] {
  const tags = params.structs(prefix).map((tag) => {
    const key = tag.get('Key');
    if (key === undefined || key === '') throw ec2Errors.invalidParameterValue('Tag key must not be empty');
    const value = tag.get('Value') ?? '';
    if (key.length > 128) throw ec2Errors.invalidParameterValue(`Tag key exceeds the maximum length of 128 characters: ${key}`);
    if (value.length > 256) throw ec2Errors.invalidParameterValue(`Tag value exceeds the maximum length of 256 characters: ${value}`);
    if (key.toLowerCase().startsWith('aws:')) {
      throw ec2Errors.invalidParameterValue(`Tag keys starting with 'aws:' are reserved for internal use: ${key}`);
    }
    return { key, value };
  });
  const seen = new Set<string>();
  for (const { key } of tags) {
    if (seen.has(key)) throw ec2Errors.invalidParameterValue(`Duplicate tag key '${key}' specified.`);
    seen.add(key);
  }
  return tags;
}
