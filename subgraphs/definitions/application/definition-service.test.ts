import { describe, expect, it } from 'vitest';
import { MemoryCoordinationStore } from '../../../core/adapters/memory/memory-coordination.ts';
import { MemoryEventBus } from '../../../core/adapters/memory/memory-event-bus.ts';
import { Scope, type Identity } from '../../../core/auth/identity.ts';
import { silentLogger } from '../../../core/logging.ts';
import { MemoryStorage } from '../../../core/persistence/memory-document-store.ts';
import { CoordinationKeys } from '../../../core/ports/coordination.ts';
import { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { LAB_YAML } from '../../../test/support/subgraph-harness.ts';
import { DefinitionRepository } from '../infrastructure/definition-repository.ts';
import { DefinitionService } from './definition-service.ts';

const admin: Identity = { subject: 'admin', kind: 'service', scopes: [Scope.DEFINITIONS_WRITE, Scope.READ] };
const input = {
  name: 'ccna-lab',
  version: '1.0.0',
  labYaml: LAB_YAML,
  resourceRequirements: { cpuCores: 2, memoryGb: 4, storageGb: 10, nodeCount: 2 },
};

describe('definition projections', () => {
  it('a projection whose write failed after the save is written again by the repair, and only that one', async () => {
    const coordination = new MemoryCoordinationStore();
    let failPuts = 0;
    const put = coordination.put.bind(coordination);
    // etcd unreachable for a moment: the projection write after the save fails (the publisher retries nothing).
    coordination.put = (key, value, options) => (failPuts-- > 0 ? Promise.reject(new Error('etcd unavailable')) : put(key, value, options));
    const service = new DefinitionService(new DefinitionRepository(new MemoryStorage()), new ChangePublisher('/lcm/subgraphs/definitions', new MemoryEventBus(), coordination, silentLogger), () => new Date());

    const kept = await service.create(admin, input);
    failPuts = 1;
    const lost = await service.create(admin, { ...input, version: '1.0.1' });
    expect(await coordination.get(CoordinationKeys.definitionStatus(kept.id))).toBeDefined();
    expect(await coordination.get(CoordinationKeys.definitionStatus(lost.id))).toBeUndefined();

    expect(await service.republishProjections(coordination)).toBe(1);
    const repaired = await coordination.get(CoordinationKeys.definitionStatus(lost.id));
    expect(JSON.parse(repaired?.value ?? '{}')).toMatchObject({ id: lost.id, version: '1.0.1' });
    // Nothing missing any more: the next round writes nothing (no revision churn on etcd).
    expect(await service.republishProjections(coordination)).toBe(0);
  });
});
