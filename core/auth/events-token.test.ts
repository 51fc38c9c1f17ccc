import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvSchema, parseConfig } from '../config.ts';
import { deriveEventsToken, resolveEventsToken } from './events-token.ts';

describe('the events token', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'lcm-events-token-'));
    dirs.push(dir);
    return join(dir, '.lcm');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is LCM_EVENTS_TOKEN when set, whatever the internal secret', () => {
    const dir = tmp();
    expect(resolveEventsToken({ LCM_EVENTS_TOKEN: 'configured-events-token-0123', LCM_INTERNAL_SECRET: 'an-internal-secret-0123456789' }, dir)).toBe('configured-events-token-0123');
  });

  it('is HMAC-SHA256(internal secret, "lcm-events") in hex otherwise, the same for every role of one installation', () => {
    const secret = 'an-internal-secret-0123456789';
    const expected = createHmac('sha256', secret).update('lcm-events').digest('hex');
    expect(deriveEventsToken(secret)).toBe(expected);
    expect(resolveEventsToken({ LCM_INTERNAL_SECRET: secret }, tmp())).toBe(expected);
    // No secret configured: the generated .lcm/internal-secret, read again by the next process.
    const dir = tmp();
    const first = resolveEventsToken({}, dir);
    expect(first).toBe(deriveEventsToken(readFileSync(join(dir, 'internal-secret'), 'utf8').trim()));
    expect(resolveEventsToken({}, dir)).toBe(first);
    expect(first).not.toContain(readFileSync(join(dir, 'internal-secret'), 'utf8').trim());
  });

  it('LCM_EVENTS_TOKEN shorter than 16 characters is a configuration error', () => {
    expect(() => parseConfig(EnvSchema, { LCM_EVENTS_TOKEN: 'short' })).toThrow(/LCM_EVENTS_TOKEN: must be at least 16 characters/);
  });
});
