import { CoordinationKeys, type CoordinationStore } from '../../../core/ports/coordination.ts';
import type { DefinitionStatusProjection } from '../../../core/read-models/definition.ts';

/**
 * What the sessions subgraph knows of definitions: the projection the definitions subgraph publishes
 * (`/lcm/definitions/<id>/status`), read when a session is created (it must exist and be ACTIVE; its
 * version is snapshotted). The definitions collection is the definitions subgraph's alone. Without a
 * coordination store (a lone `lcm subgraph sessions` without etcd) no definition is known.
 */
export class DefinitionReader {
  constructor(private readonly coordination: CoordinationStore | undefined) {}

  async get(id: string): Promise<DefinitionStatusProjection | undefined> {
    const kv = await this.coordination?.get(CoordinationKeys.definitionStatus(id));
    if (!kv) return undefined;
    try {
      const p = JSON.parse(kv.value) as Partial<DefinitionStatusProjection>;
      if (typeof p.id !== 'string' || typeof p.version !== 'string' || typeof p.status !== 'string') return undefined;
      return { id: p.id, name: String(p.name ?? ''), version: p.version, status: p.status, revision: Number(p.revision ?? 0) };
    } catch {
      return undefined;
    }
  }
}
