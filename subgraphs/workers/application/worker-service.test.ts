import { describe, expect, it } from 'vitest';
import { MemoryEventBus } from '../../../core/adapters/memory/memory-event-bus.ts';
import { ALL_SCOPES, type Identity } from '../../../core/auth/identity.ts';
import { ErrorCode, LcmError } from '../../../core/errors.ts';
import { silentLogger } from '../../../core/logging.ts';
import { MemoryStorage } from '../../../core/persistence/memory-document-store.ts';
import { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import type { Capacity, Worker } from '../domain/model.ts';
import { WorkerRepository } from '../infrastructure/worker-repository.ts';
import { WorkerTemplateRepository } from '../infrastructure/worker-template-repository.ts';
import { KeyedSerializer } from '../../../core/subgraph/keyed-serializer.ts';
import { WorkerService } from './worker-service.ts';
import { WorkerTemplateService } from './worker-template-service.ts';

const controller: Identity = { subject: 'resource-scheduler', kind: 'service', scopes: ALL_SCOPES };
const need: Capacity = { cpuCores: 4, memoryGb: 4, storageGb: 4, maxNodes: 1 };

/** A repository that lets another writer in just before its next save (a replica winning the race). */
class RacedWorkerRepository extends WorkerRepository {
  rivals: Array<() => Promise<unknown>> = [];
  saves = 0;

  override async save(worker: Worker): Promise<void> {
    this.saves += 1;
    const rival = this.rivals.shift();
    if (rival) await rival();
    return super.save(worker);
  }
}

async function setup(options: { maxAttempts?: number } = {}) {
  const storage = new MemoryStorage();
  const bus = new MemoryEventBus();
  const clock = () => new Date();
  const templates = new WorkerTemplateRepository(storage);
  await new WorkerTemplateService(templates, clock, silentLogger).seedIfEmpty(`templates:
  - { name: t, instanceType: m5.xlarge, amiNamePattern: CML-*, capacity: { cpuCores: 10, memoryGb: 10, storageGb: 10, maxNodes: 10 }, costPerHour: 1 }
`);
  const publisher = new ChangePublisher('/test', bus, undefined, silentLogger);
  const raced = new RacedWorkerRepository(storage);
  const service = new WorkerService(raced, templates, publisher, bus, clock, options);
  const replica = new WorkerService(new WorkerRepository(storage), templates, publisher, bus, clock);
  const worker = await replica.request(controller, { templateName: 't' });
  await replica.transition(controller, worker.id, 'PROVISIONING', null, null);
  await replica.transition(controller, worker.id, 'RUNNING', null, null);
  return { service, replica, raced, workerId: worker.id, events: bus };
}

describe('WorkerService: conditional writes against another replica', () => {
  it('reloads and decides again when another replica reserved first: the reservation still fits, on the next free ports', async () => {
    const { service, replica, raced, workerId } = await setup();
    raced.rivals.push(() => replica.reserve(controller, workerId, { sessionId: 'rival', capacity: need, portNames: ['a', 'b'] }));
    const mine = await service.reserve(controller, workerId, { sessionId: 'mine', capacity: need, portNames: ['ssh'] });
    expect(raced.saves).toBe(2);
    expect(mine.ports).toEqual([{ name: 'ssh', port: 2002 }]);
    const worker = await replica.get(controller, workerId);
    expect(worker?.reservations.map((r) => r.sessionId)).toEqual(['rival', 'mine']);
  });

  it('refuses with the domain CONFLICT when the rival took the room it needed', async () => {
    const { service, replica, raced, workerId } = await setup();
    raced.rivals.push(() => replica.reserve(controller, workerId, { sessionId: 'rival', capacity: { ...need, cpuCores: 8 }, portNames: [] }));
    const e = await service.reserve(controller, workerId, { sessionId: 'mine', capacity: need, portNames: [] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LcmError);
    expect((e as LcmError).details).toMatchObject({ reason: 'capacity', dimension: 'cpuCores' });
  });

  it('gives up with CONFLICT after a bounded number of lost writes, leaving the rivals’ state intact', async () => {
    const { service, replica, raced, workerId } = await setup({ maxAttempts: 3 });
    for (let i = 0; i < 3; i++) {
      raced.rivals.push(() => replica.recordObservation(controller, workerId, { systemStats: { i } }));
    }
    const e = await service.reserve(controller, workerId, { sessionId: 'mine', capacity: need, portNames: [] }).catch((x: unknown) => x);
    expect((e as LcmError).code).toBe(ErrorCode.CONFLICT);
    expect((e as LcmError).message).toContain('changed concurrently');
    expect(raced.saves).toBe(3);
    expect((await replica.get(controller, workerId))?.systemStats).toEqual({ i: 2 });
  });

  it('publishes one event per saved change with the worker snapshot, and none for a no-op', async () => {
    const { service, workerId, events } = await setup();
    const seen: Array<{ type: string; revision: number | undefined }> = [];
    events.subscribe('worker', (e) => seen.push({ type: e.type, revision: e.entityversion }));
    await service.reserve(controller, workerId, { sessionId: 's', capacity: need, portNames: [] });
    await service.reserve(controller, workerId, { sessionId: 's', capacity: need, portNames: [] });
    await service.release(controller, workerId, 's');
    await service.release(controller, workerId, 's');
    expect(seen).toEqual([
      { type: 'lcm.worker.capacity-reserved.v1', revision: 4 },
      { type: 'lcm.worker.capacity-released.v1', revision: 5 },
    ]);
  });
});

describe('KeyedSerializer', () => {
  it('runs tasks of one key one at a time in arrival order, other keys concurrently, and survives failures', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([
      serializer.run('a', task('a1', 20, true)),
      serializer.run('a', task('a2', 1)),
      serializer.run('b', task('b1', 5)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
    await new Promise((r) => setTimeout(r, 0));
    expect(serializer.activeKeys).toBe(0);
  });
});
