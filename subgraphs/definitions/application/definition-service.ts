import { actorOf, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import { EventTopic } from '../../../core/events/cloudevent.ts';
import { newId } from '../../../core/ids.ts';
import { notFound } from '../../../core/errors.ts';
import type { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { CoordinationKeys, type CoordinationStore } from '../../../core/ports/coordination.ts';
import type { DefinitionStatusProjection } from '../../../core/read-models/definition.ts';
import { encodeCursor, type Page, type PageRequest } from '../../../core/persistence/document-store.ts';
import { createDefinition, deprecateDefinition, type NewDefinition } from '../domain/definition.ts';
import type { Definition } from '../domain/model.ts';
import type { DefinitionFilter, DefinitionRepository } from '../infrastructure/definition-repository.ts';

/** What the other subgraphs may know of a definition (see `DefinitionStatusProjection`). */
export const definitionProjection = (def: Definition): DefinitionStatusProjection => ({
  id: def.id,
  name: def.name,
  version: def.version,
  status: def.status,
  revision: def.revision,
});

/** Use cases of the definitions subgraph: authorise → aggregate → save → publish. */
export class DefinitionService {
  constructor(
    private readonly repo: DefinitionRepository,
    private readonly publisher: ChangePublisher,
    private readonly clock: () => Date,
  ) {}

  async create(identity: Identity | undefined, input: NewDefinition): Promise<Definition> {
    const who = requireScope(identity, Scope.DEFINITIONS_WRITE);
    const now = this.clock();
    const def = createDefinition(input, newId('def', now.getTime()), now);
    await this.repo.insert(def);
    await this.publish(def, 'lcm.definition.created.v1', actorOf(who));
    return def;
  }

  async deprecate(identity: Identity | undefined, id: string, reason: string | null): Promise<Definition> {
    const who = requireScope(identity, Scope.DEFINITIONS_WRITE);
    const current = await this.repo.get(id);
    if (!current) throw notFound('LabletDefinition', id);
    const next = deprecateDefinition(current, reason, this.clock());
    await this.repo.save(next);
    await this.publish(next, 'lcm.definition.deprecated.v1', actorOf(who));
    return next;
  }

  get(id: string): Promise<Definition | undefined> {
    return this.repo.get(id);
  }

  getMany(ids: readonly string[]): Promise<Definition[]> {
    return this.repo.getMany(ids);
  }

  findByNameAndVersion(name: string, version: string): Promise<Definition | undefined> {
    return this.repo.findByNameAndVersion(name, version);
  }

  page(filter: DefinitionFilter, page: PageRequest): Promise<Page<Definition>> {
    return this.repo.page(filter, page);
  }

  private publish(def: Definition, type: string, actor: string): Promise<void> {
    return this.publisher.publish({
      topic: EventTopic.definition,
      type,
      subject: def.id,
      data: def,
      revision: def.revision,
      actor,
      projections: [{ key: CoordinationKeys.definitionStatus(def.id), value: definitionProjection(def) }],
    });
  }

  /**
   * Write the projection of every definition (at start): definitions saved before the projection
   * existed, or whose projection was lost with a wiped coordination store, become visible again.
   */
  async republishProjections(coordination: CoordinationStore | undefined): Promise<number> {
    if (!coordination) return 0;
    let count = 0;
    for (let after: string | undefined; ; ) {
      const page = await this.repo.page({}, { first: 500, ...(after ? { after } : {}) });
      for (const def of page.items) {
        await coordination.put(CoordinationKeys.definitionStatus(def.id), JSON.stringify(definitionProjection(def)));
        count += 1;
      }
      const last = page.items.at(-1);
      if (!page.hasNextPage || !last) return count;
      after = encodeCursor(last.id);
    }
  }
}
