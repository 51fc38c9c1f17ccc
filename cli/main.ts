import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, env } from '../core/config.ts';
import { startTracing } from '../core/telemetry/tracing.ts';
import type { RoleOptions, Stoppable } from '../core/role.ts';
import { addOperatorCommands } from './operator/index.ts';
import { portInUse } from './ports.ts';

/**
 * The `lcm` command: one codebase, many roles (DESIGN.md §2). Each role module exports
 * `run(options): Promise<Stoppable>`; this file only parses arguments, starts the role, and stops it
 * cleanly on SIGINT/SIGTERM.
 */
type RoleModule = { run(options: RoleOptions): Promise<Stoppable> };

const SUBGRAPHS = ['definitions', 'workers', 'sessions', 'score-reports'] as const;
const CONTROLLERS = ['resource-scheduler', 'lablet-controller', 'worker-controller'] as const;
const SIMULATORS = ['ec2', 'cml', 'lds', 'grading'] as const;

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer 0..65535');
  return n;
}

function oneOf<T extends string>(names: readonly T[], what: string) {
  return (value: string): T => {
    if (!(names as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`unknown ${what} "${value}"; one of: ${names.join(', ')}`);
    }
    return value as T;
  };
}

async function runRole(modulePath: string, options: RoleOptions, serviceName?: string): Promise<void> {
  const url = new URL(modulePath, import.meta.url);
  if (!existsSync(url)) {
    console.error(`this role is not part of this version of LCM yet (${modulePath.replace(/^\.\.\//, '')} is missing)`);
    process.exit(2);
  }
  // Tracing before the role starts (its servers and stores are instrumented as they open); nothing
  // is loaded unless OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (docs/operations.md "Tracing").
  const tracing = serviceName ? await startTracing({ serviceName, settings: env() }) : undefined;
  const mod = (await import(url.href)) as RoleModule;
  const started = await mod.run(options);
  const role: Stoppable = tracing ? { ...started, stop: () => started.stop().finally(() => tracing.stop()) } : started;
  for (const line of role.banner ?? []) console.log(line);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`received ${signal}, shutting down`);
    const timer = setTimeout(() => {
      console.error('shutdown took too long; exiting');
      process.exit(1);
    }, 10_000);
    timer.unref();
    await role.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

export function buildProgram(): Command {
  const program = new Command('lcm')
    .description('Lablet Cloud Manager: start any role of the system, or operate a running one')
    .showHelpAfterError()
    .exitOverride((err) => {
      // Help and --version exit 0; every other parse error is a usage error (exit 2).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      throw err;
    });

  program
    .command('up')
    .description('everything in one process on the embedded stores (what `npm start` runs)')
    .action(() => runRole('./up.ts', {}, 'lcm'));

  program
    .command('gateway')
    .description('the federation gateway (public /graphql and /internal/graphql)')
    .option('--port <n>', 'HTTP + WebSocket port (default LCM_GATEWAY_PORT or 4000)', parsePort)
    .option('--supergraph <file>', 'serve this Federation 2 supergraph file (its routing URLs)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .action((opts: RoleOptions) => runRole('../gateway/main.ts', opts, 'lcm-gateway'));

  program
    .command('subgraph')
    .description(`one domain subgraph: ${SUBGRAPHS.join(' | ')}`)
    .argument('<name>', 'subgraph name', oneOf(SUBGRAPHS, 'subgraph'))
    .option('--port <n>', 'HTTP + WebSocket port (0 = any free port)', parsePort)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .action((name: string, opts: RoleOptions) => runRole(`../subgraphs/${name}/main.ts`, opts, `lcm-subgraph-${name}`));

  program
    .command('controller')
    .description(`one reconciler: ${CONTROLLERS.join(' | ')}`)
    .argument('<name>', 'controller name', oneOf(CONTROLLERS, 'controller'))
    .option('--port <n>', 'health/metrics port', parsePort)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .action((name: string, opts: RoleOptions) => runRole(`../controllers/${name}/main.ts`, opts, `lcm-${name}`));

  program
    .command('sim')
    .description(`one simulator of an external system: ${SIMULATORS.join(' | ')}`)
    .argument('<name>', 'simulator name', oneOf(SIMULATORS, 'simulator'))
    .option('--port <n>', 'HTTP port', parsePort)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--username <name>', 'CML simulator: accepted username (default admin)')
    .option('--password <password>', 'CML simulator: accepted password (default admin)')
    .option('--sink <url>', 'LDS / grading simulators: where CloudEvents are delivered')
    .option('--sink-token <token>', 'LDS / grading simulators: bearer token sent to the sink (default: LCM_EVENTS_TOKEN, else derived from the internal secret)')
    .action((name: string, opts: RoleOptions) => runRole(`../simulators/${name}/main.ts`, opts));

  // The operator CLI (`lcm definitions|sessions|workers|reports|keys …`): talks to a running gateway.
  addOperatorCommands(program);

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    // A port in use (checked before starting, or EADDRINUSE when a role listens): one line, exit 1.
    const inUse = portInUse(e);
    if (inUse) {
      console.error(`lcm: ${inUse.message}`);
      process.exit(1);
    }
    if (e && typeof e === 'object' && 'code' in e && String((e as { code: unknown }).code).startsWith('commander.')) {
      process.exit(process.exitCode ?? 1);
    }
    console.error(e);
    process.exit(1);
  }
}
