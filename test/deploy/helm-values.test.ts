/**
 * The chart's README documents its values: every value in deploy/helm/lcm/values.yaml is a row of the
 * README's values table (itself or a parent), every row names a value that exists, and values.schema.json
 * types every top-level value. Without helm, so a unit test; test/deploy/helm.int.test.ts renders the chart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const CHART = fileURLToPath(new URL('../../deploy/helm/lcm/', import.meta.url));
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as { properties: Record<string, unknown> };

/** The value paths of the README's table (first column, `a.b`, several per row separated by commas). */
function documented(): Set<string> {
  const table = readme.slice(readme.indexOf('## Values'));
  const rows = table.split('\n').filter((l) => l.startsWith('| `'));
  return new Set(rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)));
}

/** Every leaf path of values.yaml (maps are walked; lists and empty maps are leaves). */
function leaves(obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    return v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 ? [path, ...leaves(v as Record<string, unknown>, path)] : [path];
  });
}

function exists(path: string): boolean {
  let node: unknown = values;
  for (const part of path.split('.')) {
    if (!node || typeof node !== 'object' || !(part in node)) return false;
    node = (node as Record<string, unknown>)[part];
  }
  return true;
}

describe('deploy/helm/lcm values', () => {
  const rows = documented();

  it('the README documents every value (itself or a parent)', () => {
    const all = leaves(values);
    const missing = all.filter((p) => {
      const parts = p.split('.');
      return !parts.some((_, i) => rows.has(parts.slice(0, i + 1).join('.'))) && !all.some((q) => q.startsWith(`${p}.`));
    });
    expect(missing).toEqual([]);
  });

  it('documents no value that does not exist', () => {
    expect([...rows].filter((p) => !exists(p))).toEqual([]);
    expect(rows.size).toBeGreaterThan(50);
  });

  it('values.schema.json types every top-level value', () => {
    expect(Object.keys(values).filter((k) => !(k in schema.properties))).toEqual([]);
  });
});
