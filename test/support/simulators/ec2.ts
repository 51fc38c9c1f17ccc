import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';

/**
 * EC2 simulator test kit: the real SDK client pointed at a simulator, a retry strategy with tiny delays,
 * and `rejection` (poll with `test/support/eventually.ts`: tests wait for conditions, never for fixed times).
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

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number; attempts?: number }; $fault?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { $metadata: { httpStatusCode?: number; attempts?: number }; $fault?: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
