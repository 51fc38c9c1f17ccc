import type { Command } from 'commander';
import { ConfigError } from '../../core/config.ts';
import { OperatorClient, resolveTarget } from './client.ts';
import { applyDefinitions, listDefinitions } from './definitions.ts';
import { CliError, ExitCode } from './errors.ts';
import { exportReports } from './reports.ts';
import { createKey, listKeys, revokeKey } from './keys.ts';
import { stdout, type Output } from './output.ts';
import { createSession, listSessions, moveSession, parseStatus, showSession, watchSession } from './sessions.ts';
import { drainWorker, listWorkers, stopWorker } from './workers.ts';

/**
 * The operator CLI (CONTRACT.md "The operator CLI"): `lcm definitions|sessions|workers|reports|keys …`
 * against a running gateway (LCM_URL, LCM_TOKEN). Human tables by default, `--json` for scripts; exit
 * codes 0 ok, 2 usage, 3 unauthenticated/forbidden, 4 not found, 5 conflict or invalid transition,
 * 1 anything else, with a one-line `error: …` on stderr. docs/cli.md documents every command.
 */
type Json = { json?: boolean };

async function finish(code: number): Promise<never> {
  // stdout to a pipe may still hold data: let it drain before exiting.
  await new Promise<void>((resolve) => (process.stdout.writableLength === 0 ? resolve() : process.stdout.once('drain', () => resolve())));
  process.exit(code);
}

/** Run one operator command: a client from the environment, the command, then exit with its code. */
function action<A extends unknown[]>(fn: (client: OperatorClient, out: Output, ...args: A) => Promise<unknown>) {
  return async (...args: A): Promise<void> => {
    let code: number = ExitCode.OK;
    try {
      await fn(new OperatorClient(resolveTarget()), stdout(), ...args);
    } catch (e) {
      if (e instanceof CliError) {
        process.stderr.write(`error: ${e.message}\n`);
        code = e.exitCode;
      } else if (e instanceof ConfigError) {
        process.stderr.write(`${e.message}\n`);
        code = ExitCode.USAGE;
      } else {
        process.stderr.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
        code = ExitCode.OTHER;
      }
    }
    await finish(code);
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];

export function addOperatorCommands(program: Command): void {
  // --- definitions -------------------------------------------------------------------------------
  const definitions = program.command('definitions').description('lablet definitions (operator CLI; talks to LCM_URL with LCM_TOKEN)');
  definitions
    .command('apply')
    .description('create definitions from YAML files; the same name+version again is a no-op, different content a conflict (exit 5)')
    .argument('<files...>', 'definition files (YAML; several documents per file allowed)')
    .option('--json', 'machine-readable output')
    .action(action((client, out, files: string[], opts: Json) => applyDefinitions(client, files, out, !!opts.json)));
  definitions
    .command('list')
    .description('every definition')
    .option('--name <name>', 'only this name')
    .option('--json', 'machine-readable output')
    .action(action((client, out, opts: Json & { name?: string }) => listDefinitions(client, opts.name ? { name: opts.name } : {}, out, !!opts.json)));

  // --- sessions ----------------------------------------------------------------------------------
  const sessions = program.command('sessions').description('lablet sessions (operator CLI)');
  sessions
    .command('create')
    .description('request a session; prints its id')
    .requiredOption('--definition <name[@version]>', 'definition name (newest ACTIVE version) or name@version')
    .requiredOption('--owner <owner>', 'who the session is for')
    .option('--start <iso>', 'timeslot start (ISO-8601; default now)')
    .option('--end <iso>', 'timeslot end (ISO-8601)')
    .option('--json', 'print the created session as JSON')
    .action(
      action((client, out, opts: Json & { definition: string; owner: string; start?: string; end?: string }) =>
        createSession(
          client,
          { definition: opts.definition, owner: opts.owner, ...(opts.start ? { start: opts.start } : {}), ...(opts.end ? { end: opts.end } : {}) },
          out,
          !!opts.json,
        ),
      ),
    );
  sessions
    .command('list')
    .description('sessions, all pages, oldest first')
    .option('--status <status>', 'only these statuses (repeat or comma-separate)', collect)
    .option('--owner <owner>', 'only this owner')
    .option('--json', 'machine-readable output')
    .action(
      action((client, out, opts: Json & { status?: string[]; owner?: string }) =>
        listSessions(
          client,
          {
            ...(opts.status?.length ? { statuses: opts.status.map((s) => parseStatus(s, '--status')) } : {}),
            ...(opts.owner ? { owner: opts.owner } : {}),
          },
          out,
          !!opts.json,
        ),
      ),
    );
  sessions
    .command('get')
    .description('one session with its status history')
    .argument('<id>', 'session id')
    .option('--json', 'machine-readable output')
    .action(action((client, out, id: string, opts: Json) => showSession(client, id, out, !!opts.json)));
  sessions
    .command('watch')
    .description('follow a session live, one line per change, until it is ARCHIVED or TERMINATED')
    .argument('<id>', 'session id')
    .option('--json', 'one JSON object per line (NDJSON)')
    .action(action((client, out, id: string, opts: Json) => watchSession(client, id, out, !!opts.json)));
  sessions
    .command('transition')
    .description('move a session as a person does (READY → RUNNING, RUNNING → COLLECTING, → STOPPING, → TERMINATED)')
    .argument('<id>', 'session id')
    .argument('<status>', 'target status')
    .option('--reason <reason>', 'why (recorded in the status history)')
    .option('--json', 'machine-readable output')
    .action(
      action((client, out, id: string, status: string, opts: Json & { reason?: string }) =>
        moveSession(client, id, parseStatus(status), opts.reason, false, out, !!opts.json),
      ),
    );
  sessions
    .command('terminate')
    .description('end a session now')
    .argument('<id>', 'session id')
    .option('--reason <reason>', 'why (recorded in the status history)')
    .option('--json', 'machine-readable output')
    .action(action((client, out, id: string, opts: Json & { reason?: string }) => moveSession(client, id, 'TERMINATED', opts.reason, true, out, !!opts.json)));

  // --- workers -----------------------------------------------------------------------------------
  const workers = program.command('workers').description('CML workers (operator CLI; drain and stop need the `internal` scope)');
  workers
    .command('list')
    .description('every worker')
    .option('--json', 'machine-readable output')
    .action(action((client, out, opts: Json) => listWorkers(client, out, !!opts.json)));
  workers
    .command('drain')
    .description('take no new sessions and finish the current ones (RUNNING → DRAINING)')
    .argument('<id>', 'worker id')
    .option('--reason <reason>', 'why')
    .option('--json', 'machine-readable output')
    .action(action((client, out, id: string, opts: Json & { reason?: string }) => drainWorker(client, id, opts.reason, out, !!opts.json)));
  workers
    .command('stop')
    .description('stop the worker (desired status STOPPED); refused while it hosts sessions')
    .argument('<id>', 'worker id')
    .option('--reason <reason>', 'why')
    .option('--json', 'machine-readable output')
    .action(action((client, out, id: string, opts: Json & { reason?: string }) => stopWorker(client, id, opts.reason, out, !!opts.json)));

  // --- reports -----------------------------------------------------------------------------------
  const reports = program.command('reports').description('score reports (operator CLI)');
  reports
    .command('export')
    .description('every matching score report, all pages, to stdout (CSV with a header row, or a JSON array)')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--json', 'same as --format json')
    .option('--definition <name>', 'only reports of this definition (every version)')
    .option('--owner <owner>', 'only this owner')
    .option('--passed <bool>', 'only passed (true) or failed (false) reports')
    .option('--since <iso>', 'submitted at or after (ISO-8601)')
    .option('--until <iso>', 'submitted before (ISO-8601)')
    .option('--page-size <n>', 'reports per request (1..500)', '200')
    .action(
      action(async (client, out, opts: Json & { format?: string; definition?: string; owner?: string; passed?: string; since?: string; until?: string; pageSize?: string }) => {
        const count = await exportReports(client, { ...opts, ...(opts.json ? { format: 'json' } : {}) }, out);
        if (process.stderr.isTTY) out.note(`${count} report(s)`);
      }),
    );

  // --- keys --------------------------------------------------------------------------------------
  const keys = program.command('keys').description('API keys (operator CLI; needs the `admin` scope)');
  keys
    .command('create')
    .description('create an API key; prints the key once')
    .argument('<name>', 'what the key is for')
    .requiredOption('--scopes <scopes>', 'comma-separated: read, sessions:write, definitions:write, workers:write, internal, admin')
    .option('--json', 'machine-readable output')
    .action(action((client, out, name: string, opts: Json & { scopes: string }) => createKey(client, name, opts.scopes, out, !!opts.json)));
  keys
    .command('list')
    .description('every API key (never the secrets)')
    .option('--json', 'machine-readable output')
    .action(action((client, out, opts: Json) => listKeys(client, out, !!opts.json)));
  keys
    .command('revoke')
    .description('revoke an API key')
    .argument('<id>', 'key id (key_…)')
    .option('--json', 'machine-readable output')
    .action(action((client, out, id: string, opts: Json) => revokeKey(client, id, out, !!opts.json)));
}
