import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';

/** Child processes for benchmarks: start, wait until serving, measure, stop. */
export interface BenchProcess {
  readonly label: string;
  readonly child: ChildProcess;
  /** The last lines the process printed (for error messages). */
  output(): string;
  stop(): Promise<void>;
}

export function startProcess(
  label: string,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): BenchProcess {
  const child = spawn(command, args, {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > 40) lines.shift();
    }
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    label,
    child,
    output: () => lines.join('\n'),
    stop: () => stopChild(child),
  };
}

/** A process running a TypeScript file through tsx. */
export function startTsProcess(label: string, file: string, args: string[], nodeArgs: string[] = [], env?: Record<string, string>) {
  return startProcess(label, process.execPath, [...nodeArgs, '--import', 'tsx', file, ...args], { env });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Resolves when the process prints `line`; rejects if it exits or takes longer than `timeoutMs`. */
export function waitForLine(proc: BenchProcess, line: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      if (buffer.split('\n').some((l) => l.trim() === line)) done();
    };
    const onExit = (code: number | null) => fail(new Error(`${proc.label} exited (${code}) before "${line}":\n${proc.output()}`));
    const timer = setTimeout(() => fail(new Error(`${proc.label} did not print "${line}" in ${timeoutMs} ms:\n${proc.output()}`)), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      proc.child.stdout!.off('data', onData);
      proc.child.off('exit', onExit);
    };
    const done = () => {
      cleanup();
      resolve();
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    proc.child.stdout!.on('data', onData);
    proc.child.once('exit', onExit);
  });
}

/** Polls until `probe` succeeds (or the process exits / time runs out). */
export async function waitUntil(proc: BenchProcess, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.label} exited (${proc.child.exitCode}):\n${proc.output()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${proc.label} not ready after ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resident memory of a process and its descendants, in MiB (Linux /proc; undefined elsewhere). */
export function residentMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    let kib = 0;
    const visit = (p: number) => {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const match = /VmRSS:\s+(\d+) kB/.exec(status);
      if (match) kib += Number(match[1]);
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(/\s+/) : []) visit(Number(child));
      }
    };
    visit(pid);
    return Math.round(kib / 1024);
  } catch {
    return undefined;
  }
}
