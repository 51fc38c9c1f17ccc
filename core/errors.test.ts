import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_ERROR_CODES } from './errors.ts';

describe('the error registry', () => {
  it('is what docs/api.md lists for partners: every code a client can see, and no other', () => {
    const doc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Errors'), doc.indexOf('\n## ', doc.indexOf('## Errors') + 1));
    const documented = new Set(
      section
        .split('\n')
        .filter((line) => line.startsWith('| `'))
        .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z_]+)`/g)].map((m) => m[1] as string)),
    );
    expect([...documented].sort()).toEqual([...CLIENT_ERROR_CODES].sort());
  });
});
