import { describe, expect, it } from 'vitest';
import { chaosLogLevel } from './cluster.ts';

describe('chaosLogLevel (LCM_CHAOS_LOG_LEVEL)', () => {
  it('is warn when unset', () => {
    expect(chaosLogLevel('gateway', '')).toBe('warn');
  });

  it('applies one level to every role', () => {
    expect(chaosLogLevel('lablet-controller', 'info')).toBe('info');
    expect(chaosLogLevel('sessions', 'info')).toBe('info');
  });

  it('gives a role its own level, the others the default given or warn', () => {
    const spec = 'lablet-controller=debug, worker-controller=info';
    expect(chaosLogLevel('lablet-controller', spec)).toBe('debug');
    expect(chaosLogLevel('worker-controller', spec)).toBe('info');
    expect(chaosLogLevel('gateway', spec)).toBe('warn');
    expect(chaosLogLevel('gateway', `${spec},error`)).toBe('error');
  });
});
