import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { DescribeImagesCommand, DescribeInstancesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/eventually.ts';
import { ec2Client } from '../../test/support/simulators/ec2.ts';

/** `lcm sim ec2 --port 0` as a user starts it: banner with the URL, the real SDK against it, clean stop. */

const LCM = fileURLToPath(new URL('../../bin/lcm.js', import.meta.url));
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
});

/** Start the CLI and resolve with the simulator URL from its banner. */
async function startCli(env: Record<string, string>): Promise<{ url: string; banner: string[] }> {
  child = spawn(process.execPath, [LCM, 'sim', 'ec2', '--port', '0'], {
    env: { ...process.env, LCM_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const url = await eventually('the simulator banner', async () => {
    if (child?.exitCode !== null) throw new Error(`lcm exited early (${child?.exitCode}): ${stderr}`);
    // The whole banner: its last line names the fault endpoint.
    if (!lines.some((l) => l.includes('faults: POST'))) return undefined;
    return lines.map((l) => /EC2 simulator listening on (http:\/\/\S+)/.exec(l)?.[1]).find(Boolean);
  }, { timeoutMs: 20_000, intervalMs: 25 });
  return { url, banner: lines };
}

describe('lcm sim ec2', () => {
  it('prints its URL, serves the EC2 API to the SDK with the boot time from LCM_SIM_EC2_BOOT_MS, and stops on SIGTERM', async () => {
    const { url, banner } = await startCli({ LCM_SIM_EC2_BOOT_MS: '0' });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(banner.join('\n')).toMatch(/instances boot in 0 ms on 127\.\d+\.0\.0\/16/);

    const ec2 = ec2Client(url, { region: 'eu-central-1', credentials: { accessKeyId: 'whatever', secretAccessKey: 'whatever' } });
    try {
      const images = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['CML-*'] }] }));
      expect(images.Images).toHaveLength(5);
      const out = await ec2.send(new RunInstancesCommand({ ImageId: images.Images?.[0]?.ImageId, InstanceType: 't3.large', MinCount: 1, MaxCount: 1 }));
      const id = out.Instances?.[0]?.InstanceId as string;
      await eventually('the instance to be running', async () => {
        const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        return described.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running' ? true : undefined;
      });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/lcm_sim_ec2_requests_total\{action="RunInstances",code="OK"[^}]*\} 1/);
    } finally {
      ec2.destroy();
    }

    child?.kill('SIGTERM');
    const [code] = (await once(child as ChildProcess, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
