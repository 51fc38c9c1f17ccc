/**
 * Test services: real etcd (Debian's etcd-server) and a real MongoDB-compatible server (FerretDB v1
 * on SQLite), each started on free loopback ports with a temporary data directory, and stopped with
 * its data removed. `scripts/install-test-services.sh` installs both; `npm test` runs it first.
 *
 * `startFerretDbOnPostgres` is the store for several processes writing one document: FerretDB v1 on
 * PostgreSQL applies a filtered `replaceOne` atomically where the SQLite backend does not
 * (docs/adr/0015-atomic-test-store.md). It starts a private PostgreSQL cluster (Debian's postgresql)
 * under it and stops both together.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
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

/** Debian's PostgreSQL server binaries (`initdb`, `postgres`), newest major version installed. */
export function postgresBinDir(): string {
  const candidates = [process.env.LCM_POSTGRES_BIN_DIR ?? '', ...['17', '16', '15', '14', '13'].map((v) => `/usr/lib/postgresql/${v}/bin`)];
  const dir = candidates.filter(Boolean).find((d) => existsSync(join(d, 'postgres')) && existsSync(join(d, 'initdb')));
  if (!dir) throw new Error('PostgreSQL is not installed: run scripts/install-test-services.sh (Debian postgresql)');
  return dir;
}

/**
 * PostgreSQL refuses to run as root. As root, the cluster belongs to and runs as the `postgres` user
 * Debian's package creates; otherwise as the current user.
 */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root, PostgreSQL needs a non-root user: no "postgres" user exists (install Debian postgresql)');
  }
}

/** A private PostgreSQL cluster on a free loopback port, trust auth, no fsync (test data only). */
export async function startPostgres(): Promise<TestService> {
  const bin = postgresBinDir();
  const user = postgresUser();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'lcm-postgres-'));
  if (user) chownSync(dataDir, user.uid, user.gid);
  const cluster = join(dataDir, 'cluster');
  execFileSync(join(bin, 'initdb'), ['-D', cluster, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(user ?? {}),
  });
  return managed(
    'postgres',
    port,
    dataDir,
    () =>
      spawn(
        join(bin, 'postgres'),
        [
          '-D', cluster,
          '-p', String(port),
          '-k', dataDir,
          '-c', 'listen_addresses=127.0.0.1',
          '-c', 'fsync=off',
          '-c', 'synchronous_commit=off',
          '-c', 'full_page_writes=off',
          '-c', 'max_connections=300',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) },
      ),
    `postgres://postgres@127.0.0.1:${port}/postgres`,
  );
}

/**
 * FerretDB v1 on a private PostgreSQL: a MongoDB-compatible server whose conditional writes are
 * atomic across processes. `kill`/`restart` act on FerretDB; `stop` stops both and removes the data.
 * `postgres` is exposed for tests that restart the database itself.
 */
export async function startFerretDbOnPostgres(): Promise<TestService & { postgres: TestService }> {
  const bin = ferretdbBinary();
  const postgres = await startPostgres();
  try {
    const port = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), 'lcm-ferretdb-pg-'));
    const ferret = await managed(
      'ferretdb',
      port,
      stateDir,
      () =>
        spawn(
          bin,
          [
            '--handler=postgresql',
            `--postgresql-url=${postgres.url}`,
            `--state-dir=${stateDir}`,
            `--listen-addr=127.0.0.1:${port}`,
            '--telemetry=disable',
            '--log-level=error',
            '--debug-addr=-',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      `mongodb://127.0.0.1:${port}/`,
    );
    return {
      ...ferret,
      postgres,
      async stop() {
        await ferret.stop();
        await postgres.stop();
      },
    };
  } catch (e) {
    await postgres.stop();
    throw e;
  }
}
