/**
 * Test services: real etcd (Debian's etcd-server) and a real MongoDB-compatible server (FerretDB v1
 * on SQLite), each started on free loopback ports with a temporary data directory, and stopped with
 * its data removed. `scripts/install-test-services.sh` installs both; `npm test` runs it first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, host: string, timeoutMs: number, proc: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with code ${proc.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TestService {
  /** Client URL(s): for etcd `http://127.0.0.1:P`, for FerretDB `mongodb://127.0.0.1:P/`. */
  url: string;
  port: number;
  dataDir: string;
  /** Stop the process (SIGTERM, then SIGKILL) but keep the data directory. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start the process again on the same port and data directory (etcd restart tests). */
  restart(): Promise<void>;
  /** Stop and remove the data directory. */
  stop(): Promise<void>;
}

function which(candidates: string[]): string | undefined {
  return candidates.find((c) => existsSync(c));
}

export function etcdBinary(): string {
  const bin = which([process.env.LCM_ETCD_BIN ?? '', '/usr/bin/etcd', '/usr/local/bin/etcd'].filter(Boolean));
  if (!bin) throw new Error('etcd is not installed: run scripts/install-test-services.sh (Debian etcd-server)');
  return bin;
}

export function ferretdbBinary(): string {
  const dir = process.env.LCM_TOOLS_DIR ?? join(homedir(), '.cache', 'lcm-tools');
  const bin = which([process.env.LCM_FERRETDB_BIN ?? '', join(dir, 'bin', 'ferretdb')].filter(Boolean));
  if (!bin) throw new Error('FerretDB is not installed: run scripts/install-test-services.sh');
  return bin;
}

async function managed(
  name: string,
  port: number,
  dataDir: string,
  spawnIt: () => ChildProcess,
  url: string,
): Promise<TestService> {
  let proc = spawnIt();
  let output = '';
  const capture = (p: ChildProcess) => {
    p.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    p.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  };
  capture(proc);
  try {
    await waitForPort(port, '127.0.0.1', 20_000, proc, name);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${output}`);
  }
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url,
    port,
    dataDir,
    kill,
    async restart() {
      await kill();
      proc = spawnIt();
      capture(proc);
      await waitForPort(port, '127.0.0.1', 20_000, proc, name);
    },
    async stop() {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startEtcd(): Promise<TestService> {
  const bin = etcdBinary();
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'lcm-etcd-'));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  return managed(
    'etcd',
    clientPort,
    dataDir,
    () =>
      spawn(
        bin,
        [
          '--name', 'lcm-test',
          '--data-dir', dataDir,
          '--listen-client-urls', clientUrl,
          '--advertise-client-urls', clientUrl,
          '--listen-peer-urls', peerUrl,
          '--initial-advertise-peer-urls', peerUrl,
          '--initial-cluster', `lcm-test=${peerUrl}`,
          '--log-level', 'error',
          '--logger', 'zap',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    clientUrl,
  );
}

export async function startFerretDb(): Promise<TestService> {
  const bin = ferretdbBinary();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'lcm-ferretdb-'));
  return managed(
    'ferretdb',
    port,
    dataDir,
    () =>
      spawn(
        bin,
        [
          '--handler=sqlite',
          `--sqlite-url=file:${dataDir}/`,
          `--state-dir=${dataDir}`,
          `--listen-addr=127.0.0.1:${port}`,
          '--telemetry=disable',
          '--log-level=error',
          '--debug-addr=-',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    `mongodb://127.0.0.1:${port}/`,
  );
}
