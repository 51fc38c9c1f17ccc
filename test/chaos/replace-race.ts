/**
 * Is a filtered `replaceOne({_id, revision: r}, {..., revision: r + 1})` atomic across processes?
 * K processes, each with its own MongoClient, loop for a fixed time on ONE document: read it, then try
 * to replace it at the revision read. An atomic server lets exactly one writer win each revision; a
 * "double win" is a revision that more than one writer's replace matched (each saw matchedCount 1).
 * The in-process replace queue of `MongoDocumentStore` plays no part: this uses the driver directly.
 *
 *   npx tsx test/chaos/replace-race.ts [--store sqlite|postgres|both] [--processes 4] [--seconds 5]
 *     [--op replaceOne|findOneAndReplace|claim|etcd-lock]   (or `--uri mongodb://…` for a server already running)
 *
 * Ops: `replaceOne` and `findOneAndReplace` are the filtered writes themselves. `claim` first inserts
 * a claim document whose `_id` is "<doc id>@<r + 1>" into a second collection (an insert of an existing
 * `_id` fails on every backend: a primary key), and only the writer whose insert succeeded replaces.
 * `etcd-lock` takes the per-document lock of `LCM_MONGODB_WRITE_LOCKS` (core/persistence/write-locks.ts)
 * in an etcd started for the run around the `replaceOne`, as `MongoDocumentStore` does with it.
 *
 * Prints one line per store: rounds (revisions reached), replace attempts, wins, double wins, ops/s.
 * docs/adr/0015-atomic-test-store.md records what it measured.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { EtcdCoordinationStore } from '../../core/adapters/etcd/etcd-coordination.ts';
import { LeaseWriteLocks } from '../../core/persistence/write-locks.ts';
import { startEtcd, startFerretDb, startFerretDbOnPostgres, type TestService } from '../support/services.ts';

interface Doc {
  _id: string;
  revision: number;
  writer: number;
  payload: string;
}

export interface RaceResult {
  store: string;
  op: Op;
  processes: number;
  seconds: number;
  /** Revisions the document went through (the final revision). */
  rounds: number;
  attempts: number;
  /** Replaces that matched (matchedCount 1), summed over writers. */
  wins: number;
  /** Revisions won by more than one writer. */
  doubleWins: number;
  opsPerSecond: number;
}

/** One writer: loops until the deadline, prints the revisions it won and its attempt count as JSON. */
type Op = 'replaceOne' | 'findOneAndReplace' | 'claim' | 'etcd-lock';

async function writer(uri: string, db: string, id: number, seconds: number, op: Op, etcdUrl: string): Promise<void> {
  const client = new MongoClient(uri, { maxPoolSize: 2 });
  await client.connect();
  const coordination = op === 'etcd-lock' ? new EtcdCoordinationStore({ endpoints: [etcdUrl], namespace: `/${db}` }) : undefined;
  const locks = coordination ? new LeaseWriteLocks(coordination) : undefined;
  const docs = client.db(db).collection<Doc>('race');
  const claims = client.db(db).collection<{ _id: string }>('race_claims');
  const replace = async (r: number): Promise<boolean> => {
    const next = { revision: r + 1, writer: id, payload: `w${id}r${r}` };
    if (op === 'findOneAndReplace') return (await docs.findOneAndReplace({ _id: 'the-doc', revision: r }, next)) !== null;
    if (op === 'claim') {
      try {
        await claims.insertOne({ _id: `the-doc@${r + 1}` });
      } catch (e) {
        if ((e as { code?: number }).code === 11000) return false;
        throw e;
      }
    }
    const write = async () => (await docs.replaceOne({ _id: 'the-doc', revision: r }, next)).matchedCount === 1;
    return locks ? locks.hold('race/the-doc', write) : write();
  };
  const won: number[] = [];
  let attempts = 0;
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const current = await docs.findOne({ _id: 'the-doc' });
    if (!current) continue;
    const r = current.revision;
    attempts++;
    if (await replace(r)) won.push(r);
  }
  await client.close();
  await coordination?.close();
  process.stdout.write(JSON.stringify({ won, attempts }) + '\n');
}

const SELF = fileURLToPath(import.meta.url);

/** Runs the race against a server already running at `uri`. */
export async function race(uri: string, store: string, processes: number, seconds: number, op: Op = 'replaceOne'): Promise<RaceResult> {
  const db = `race_${Date.now()}`;
  const etcd = op === 'etcd-lock' ? await startEtcd() : undefined;
  const client = new MongoClient(uri);
  await client.connect();
  const docs = client.db(db).collection<Doc>('race');
  await docs.insertOne({ _id: 'the-doc', revision: 0, writer: -1, payload: '' });
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: processes }, (_, i) => {
      const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--writer', uri, db, String(i), String(seconds), op, etcd?.url ?? ''], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<{ won: number[]; attempts: number }>((resolve, reject) =>
        child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { won: number[]; attempts: number }) : reject(new Error(`writer ${i} exited ${code}`)))),
      );
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  await etcd?.stop();
  const final = await docs.findOne({ _id: 'the-doc' });
  await client.db(db).dropDatabase();
  await client.close();
  const winners = new Map<number, number>();
  for (const r of results) for (const rev of r.won) winners.set(rev, (winners.get(rev) ?? 0) + 1);
  const attempts = results.reduce((n, r) => n + r.attempts, 0);
  return {
    store,
    op,
    processes,
    seconds,
    rounds: final?.revision ?? 0,
    attempts,
    wins: results.reduce((n, r) => n + r.won.length, 0),
    doubleWins: [...winners.values()].filter((n) => n > 1).length,
    opsPerSecond: Math.round((attempts * 2) / elapsed),
  };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return (i >= 0 ? process.argv[i + 1] : undefined) ?? fallback;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--writer') {
    const [uri = '', db = '', id = '0', seconds = '1', op = 'replaceOne', etcdUrl = ''] = process.argv.slice(3);
    await writer(uri, db, Number(id), Number(seconds), op as Op, etcdUrl);
    return;
  }
  const processes = Number(arg('processes', '4'));
  const seconds = Number(arg('seconds', '5'));
  const uri = process.argv.includes('--uri') ? arg('uri', '') : undefined;
  const which = arg('store', 'both');
  const op = arg('op', 'replaceOne') as Op;
  const print = (r: RaceResult) =>
    console.log(
      `${r.store.padEnd(20)} op=${r.op} processes=${r.processes} seconds=${r.seconds} rounds=${r.rounds} attempts=${r.attempts} ` +
        `wins=${r.wins} doubleWins=${r.doubleWins} ops/s=${r.opsPerSecond} (find + replace)`,
    );
  if (uri) {
    print(await race(uri, 'given', processes, seconds, op));
    return;
  }
  const stores: [string, () => Promise<TestService>][] = [];
  if (which === 'sqlite' || which === 'both') stores.push(['ferretdb-sqlite', startFerretDb]);
  if (which === 'postgres' || which === 'both') stores.push(['ferretdb-postgresql', startFerretDbOnPostgres]);
  for (const [name, start] of stores) {
    const service = await start();
    try {
      print(await race(service.url, name, processes, seconds, op));
    } finally {
      await service.stop();
    }
  }
}

if (process.argv[1] === SELF) await main();
