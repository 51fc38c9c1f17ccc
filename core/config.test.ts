import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configTable, EnvSchema, parseConfig } from './config.ts';

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const c = parseConfig(EnvSchema, {});
    expect(c).toMatchObject({ LCM_GATEWAY_PORT: 4000, LCM_SIM_EC2_BOOT_MS: 3000, LCM_SIM_CML_BOOT_MS: 2000, LCM_MIN_WORKERS: 0, AWS_REGION: 'us-east-1', LCM_LOG_LEVEL: 'info' });
    expect(c.LCM_MONGODB_URI).toBeUndefined();
  });

  it('treats empty variables as unset and splits etcd endpoints', () => {
    const c = parseConfig(EnvSchema, { LCM_ADMIN_TOKEN: '', LCM_ETCD_ENDPOINTS: 'http://a:2379, http://b:2379' });
    expect(c.LCM_ADMIN_TOKEN).toBeUndefined();
    expect(c.LCM_ETCD_ENDPOINTS).toEqual(['http://a:2379', 'http://b:2379']);
  });

  it('lists every problem at once', () => {
    try {
      parseConfig(EnvSchema, { LCM_GATEWAY_PORT: 'x', LCM_LOG_LEVEL: 'loud', LCM_ADMIN_TOKEN: 'short' });
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join('\n');
      expect(problems).toContain('LCM_GATEWAY_PORT');
      expect(problems).toContain('LCM_LOG_LEVEL');
      expect(problems).toContain('LCM_ADMIN_TOKEN');
    }
  });

  it('is documented in README exactly as the schema reads it (npm run docs:config)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(configTable());
    for (const name of Object.keys(EnvSchema.shape)) expect(configTable()).toContain(`| \`${name}\` |`);
  });

  it('reads flags as booleans and refuses other words', () => {
    expect(parseConfig(EnvSchema, { LCM_GATEWAY_INTROSPECTION: 'false' }).LCM_GATEWAY_INTROSPECTION).toBe(false);
    expect(parseConfig(EnvSchema, { LCM_GATEWAY_INTROSPECTION: 'ON' }).LCM_GATEWAY_INTROSPECTION).toBe(true);
    expect(parseConfig(EnvSchema, {}).LCM_GATEWAY_INTROSPECTION).toBe(true);
    expect(() => parseConfig(EnvSchema, { LCM_GATEWAY_INTROSPECTION: 'maybe' })).toThrow(ConfigError);
  });
});
