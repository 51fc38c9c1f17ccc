import { describe, expect, it } from 'vitest';
import { MemoryCoordinationStore } from '../../../core/adapters/memory/memory-coordination.ts';
import { MemoryEventBus } from '../../../core/adapters/memory/memory-event-bus.ts';
import { Scope, type Identity } from '../../../core/auth/identity.ts';
import { silentLogger } from '../../../core/logging.ts';
import { MemoryStorage } from '../../../core/persistence/memory-document-store.ts';
import { CoordinationKeys } from '../../../core/ports/coordination.ts';
import { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { SessionRepository } from '../infrastructure/session-repository.ts';
import { DefinitionReader } from '../infrastructure/definition-reader.ts';
import { SessionService } from './session-service.ts';

const controller: Identity = { subject: 'lablet-controller', kind: 'service', scopes: [Scope.INTERNAL, Scope.READ] };
const DEFINITION = 'def_1';

function setup() {
  const coordination = new MemoryCoordinationStore();
  let failPuts = 0;
  const put = coordination.put.bind(coordination);
  // etcd unreachable for a moment: the projection write after the save fails (the publisher retries nothing).
  coordination.put = (key, value, options) => (failPuts-- > 0 ? Promise.reject(new Error('etcd unavailable')) : put(key, value, options));
  const service = new SessionService(
    new SessionRepository(new MemoryStorage()),
    new DefinitionReader(coordination),
    new ChangePublisher('/lcm/subgraphs/sessions', new MemoryEventBus(), coordination, silentLogger),
    new MemoryEventBus(),
    () => new Date(),
  );
  const projection = async (id: string) => JSON.parse((await coordination.get(CoordinationKeys.sessionStatus(id)))?.value ?? '{}') as { status?: string; revision?: number };
  return { coordination, service, projection, failNextPut: () => (failPuts = 1) };
}

describe('session status projections', () => {
  it('a projection left behind its session (a failed write after the save) is written again by the repair, and only that one', async () => {
    const { coordination, service, projection, failNextPut } = setup();
    await put(coordination, CoordinationKeys.definitionStatus(DEFINITION), { id: DEFINITION, name: 'lab', version: '1.0.0', status: 'ACTIVE', revision: 1 });
    const kept = await service.create(controller, { definitionId: DEFINITION, owner: 'kept' });
    const behind = await service.create(controller, { definitionId: DEFINITION, owner: 'behind' });
    const ended = await service.create(controller, { definitionId: DEFINITION, owner: 'ended' });

    failNextPut();
    const progressed = await service.recordPipelineProgress(controller, behind.id, 'grading', { attempts: 1 });
    failNextPut();
    await service.terminate(controller, ended.id, 'test');
    // What the score-reports subgraph and the controllers' watches would see: the state before.
    expect(await projection(behind.id)).toMatchObject({ status: 'PENDING', revision: behind.revision });
    expect(await projection(ended.id)).toMatchObject({ status: 'PENDING' });

    expect(await service.republishProjections(coordination)).toBe(2);
    expect(await projection(behind.id)).toMatchObject({ status: 'PENDING', revision: progressed.revision });
    // A session that ended while its projection said live is repaired too (found through the projection).
    expect(await projection(ended.id)).toMatchObject({ status: 'TERMINATED' });
    expect(await projection(kept.id)).toMatchObject({ status: 'PENDING', revision: kept.revision });
    // Nothing behind any more: the next round writes nothing (no revision churn on etcd).
    expect(await service.republishProjections(coordination)).toBe(0);
  });

  it('never puts an older state over a projection written meanwhile by a newer save', async () => {
    const { coordination, service, projection, failNextPut } = setup();
    await put(coordination, CoordinationKeys.definitionStatus(DEFINITION), { id: DEFINITION, name: 'lab', version: '1.0.0', status: 'ACTIVE', revision: 1 });
    const s = await service.create(controller, { definitionId: DEFINITION, owner: 'o' });
    failNextPut();
    await service.recordPipelineProgress(controller, s.id, 'grading', { attempts: 1 });
    // The repair has read etcd; before its conditional write, a newer save lands with its projection.
    const list = coordination.list.bind(coordination);
    let newer: Awaited<ReturnType<typeof service.terminate>> | undefined;
    coordination.list = async (prefix) => {
      const listed = await list(prefix);
      newer = await service.terminate(controller, s.id, 'newer');
      return listed;
    };
    expect(await service.republishProjections(coordination)).toBe(0);
    expect(await projection(s.id)).toMatchObject({ status: 'TERMINATED', revision: newer?.revision });
  });
});

function put(coordination: MemoryCoordinationStore, key: string, value: unknown) {
  return coordination.put(key, JSON.stringify(value));
}
