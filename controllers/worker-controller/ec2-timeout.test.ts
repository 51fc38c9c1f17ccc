/**
 * A silent network between the worker-controller and EC2 (a TCP proxy that forwards nothing) must make
 * an EC2 call fail after its request timeout, not wait for ever: found by the chaos link cuts (issue 12),
 * where a worker's reconcile stayed running for minutes after controller → EC2 was blackholed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEc2Simulator, type Ec2Simulator } from '../../simulators/ec2/index.ts';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.ts';
import { SdkEc2 } from './ec2.ts';

describe('SdkEc2 on a silent network', () => {
  let sim: Ec2Simulator | undefined;
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await sim?.close();
    proxy = undefined;
    sim = undefined;
  });

  it('fails a call after its request timeout (and answers again once the network does)', async () => {
    sim = await startEc2Simulator({ port: 0 });
    proxy = await startTcpProxy({ port: Number(new URL(sim.url).port) });
    const ec2 = new SdkEc2({ endpoint: proxy.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1, requestTimeoutMs: 2500 });
    expect(await ec2.describe('i-0123456789abcdef0')).toBe('not-found');
    proxy.blackhole();
    const started = Date.now();
    await expect(ec2.describe('i-0123456789abcdef0')).rejects.toThrow(/requestTimeout|timed? ?out/i);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(15_000);
    proxy.restore();
    expect(await ec2.describe('i-0123456789abcdef0')).toBe('not-found');
  });
});
