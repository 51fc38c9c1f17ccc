import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';

/**
 * Test helpers: the real SDK client pointed at a simulator, a retry strategy with tiny delays, and a
 * poller (tests wait for conditions, never for fixed times).
 */
export function ec2Client(endpoint: string, overrides: Partial<EC2ClientConfig> = {}): EC2Client {
  return new EC2Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDSIMULATOR', secretAccessKey: 'any-secret' },
    maxAttempts: 1,
    ...overrides,
  });
}

/** The SDK's standard retry (same error classification), with `delayMs` between attempts. */
export function fastRetry(maxAttempts: number, delayMs = 5): ConfiguredRetryStrategy {
  return new ConfiguredRetryStrategy(maxAttempts, () => delayMs);
}

/** Call `probe` until it returns a value other than undefined (or stops throwing), up to `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 5_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number; attempts?: number }; $fault?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { $metadata: { httpStatusCode?: number; attempts?: number }; $fault?: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
