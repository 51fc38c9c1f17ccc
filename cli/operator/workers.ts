import { CliDrainWorkerDocument, CliSetWorkerDesiredStatusDocument, CliWorkerDocument, CliWorkersDocument, type CliWorkerFragment } from '../__generated__/operations.ts';
import type { OperatorClient } from './client.ts';
import { CliError, notFound } from './errors.ts';
import { json, table, when, type Output } from './output.ts';
import { allPages } from './pages.ts';

/**
 * `lcm workers list|drain|stop`. Draining and stopping are the controllers' own moves, so they go
 * through `/internal/graphql` and need a token with the `internal` scope (the admin token has it):
 *   drain: RUNNING → DRAINING (`transitionWorker`): the worker takes no new session and finishes its
 *          own; once empty, the worker-controller stops or terminates it (LCM_SCALE_DOWN_ACTION).
 *   stop:  desired status STOPPED (`setWorkerDesiredStatus`): the worker-controller stops the EC2
 *          instance. Refused (exit 5) while sessions are placed on the worker: drain it first.
 */
type Worker = CliWorkerFragment;

const capacity = (w: Worker) =>
  `${w.allocatedCapacity.cpuCores}/${w.declaredCapacity.cpuCores} cpu, ${w.allocatedCapacity.memoryGb}/${w.declaredCapacity.memoryGb} GB`;

export async function listWorkers(client: OperatorClient, out: Output, asJson: boolean): Promise<void> {
  const workers: Worker[] = [];
  for await (const w of allPages((first, after) => client.request(CliWorkersDocument, { first, after, filter: null }).then((r) => r.workers))) workers.push(w);
  if (asJson) return out.line(json(workers));
  await out.line(
    table(
      ['ID', 'NAME', 'STATUS', 'DESIRED', 'TEMPLATE', 'ADDRESS', 'SESSIONS', 'ALLOCATED', 'CREATED'],
      workers.map((w) => [w.id, w.name, w.status, w.desiredStatus, w.templateName, w.ipAddress, w.reservations.length, capacity(w), when(w.createdAt)]),
      'no workers',
    ),
  );
}

async function getWorker(client: OperatorClient, id: string): Promise<Worker> {
  const w = (await client.request(CliWorkerDocument, { id })).worker;
  if (!w) throw notFound(`worker ${id} not found`);
  return w;
}

const summary = (w: Worker) => `${w.id} ${w.status} (desired ${w.desiredStatus})`;

export async function drainWorker(client: OperatorClient, id: string, reason: string | undefined, out: Output, asJson: boolean): Promise<void> {
  const current = await getWorker(client, id);
  if (current.status === 'DRAINING') {
    if (!asJson) out.note(`worker ${id} is already draining`);
    return out.line(asJson ? json(current) : summary(current));
  }
  const w = (await client.request(CliDrainWorkerDocument, { id, reason: reason ?? 'drained by an operator (lcm workers drain)' }, 'internal')).transitionWorker;
  await out.line(asJson ? json(w) : summary(w));
}

export async function stopWorker(client: OperatorClient, id: string, reason: string | undefined, out: Output, asJson: boolean): Promise<void> {
  await getWorker(client, id);
  try {
    const w = (
      await client.request(CliSetWorkerDesiredStatusDocument, { id, desiredStatus: 'STOPPED', reason: reason ?? 'stopped by an operator (lcm workers stop)' }, 'internal')
    ).setWorkerDesiredStatus;
    await out.line(asJson ? json(w) : summary(w));
  } catch (e) {
    if (e instanceof CliError && e.code === 'CONFLICT') throw new CliError(`${e.message}; drain it first (lcm workers drain ${id})`, e.exitCode, e.code);
    throw e;
  }
}
