import { actorOf, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import { EventTopic } from '../../../core/events/cloudevent.ts';
import { newId } from '../../../core/ids.ts';
import { AggregateChanges, changedTo } from '../../../core/subgraph/aggregate-changes.ts';
import type { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { definitionProjection, DefinitionEventType } from './definition-events.ts';
import { CoordinationKeys, type CoordinationStore } from '../../../core/ports/coordination.ts';
import { encodeCursor, type Page, type PageRequest } from '../../../core/persistence/document-store.ts';
import { createDefinition, deprecateDefinition, type NewDefinition } from '../domain/definition.ts';
import type { Definition } from '../domain/model.ts';
import type { DefinitionFilter, DefinitionRepository } from '../infrastructure/definition-repository.ts';

/** Use cases of the definitions subgraph: authorise → aggregate → save → publish. */
export class DefinitionService {
  private readonly changes: AggregateChanges<Definition>;

  constructor(
    private readonly repo: DefinitionRepository,
    private readonly publisher: ChangePublisher,
    private readonly clock: () => Date,
  ) {
    this.changes = new AggregateChanges<Definition>({
      entity: 'LabletDefinition',
      load: (id) => this.repo.get(id),
      save: (next) => this.repo.save(next),
      publish: (next, eventType, actor) => this.publish(next, eventType, actor),
    });
  }

  async create(identity: Identity | undefined, input: NewDefinition): Promise<Definition> {
    const who = requireScope(identity, Scope.DEFINITIONS_WRITE);
    const now = this.clock();
    const def = createDefinition(input, newId('def', now.getTime()), now);
    await this.repo.insert(def);
    await this.publish(def, DefinitionEventType.created, actorOf(who));
    return def;
  }

  deprecate(identity: Identity | undefined, id: string, reason: string | null): Promise<Definition> {
    const who = requireScope(identity, Scope.DEFINITIONS_WRITE);
    return this.changes.run(id, actorOf(who), null, (current) =>
      changedTo(deprecateDefinition(current, reason, this.clock()), DefinitionEventType.deprecated),
    );
  }

  // -------------------------------------------------------------------------------------------------
  // Queries (scope `read`)

  async get(identity: Identity | undefined, id: string): Promise<Definition | undefined> {
    requireScope(identity, Scope.READ);
    return this.repo.get(id);
  }

  /** Definitions by id in one round trip (entity references). */
  async getMany(identity: Identity | undefined, ids: readonly string[]): Promise<Definition[]> {
    requireScope(identity, Scope.READ);
    return this.repo.getMany(ids);
  }

  async findByNameAndVersion(identity: Identity | undefined, name: string, version: string): Promise<Definition | undefined> {
    requireScope(identity, Scope.READ);
    return this.repo.findByNameAndVersion(name, version);
  }

  async page(identity: Identity | undefined, filter: DefinitionFilter, page: PageRequest): Promise<Page<Definition>> {
    requireScope(identity, Scope.READ);
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
   * Write the projection of every definition whose projection is missing or out of date (at start,
   * and every 15 s after): a projection not written after its save (etcd unreachable
   * for a moment: the change is saved and answered anyway), or lost with a wiped coordination store,
   * becomes visible again. The sessions subgraph sees definitions only through this projection, so
   * without the repair a definition created during an etcd hiccup gets no session (NOT_FOUND) until
   * this subgraph restarts. Returns how many projections were written.
   */
  async republishProjections(coordination: CoordinationStore | undefined): Promise<number> {
    if (!coordination) return 0;
    const stored = new Map((await coordination.list(CoordinationKeys.definitions)).items.map((kv) => [kv.key, kv.value]));
    let count = 0;
    for (let after: string | undefined; ; ) {
      const page = await this.repo.page({}, { first: 500, ...(after ? { after } : {}) });
      for (const def of page.items) {
        const key = CoordinationKeys.definitionStatus(def.id);
        const value = JSON.stringify(definitionProjection(def));
        if (withoutTraceparent(stored.get(key)) === value) continue;
        await coordination.put(key, value);
        count += 1;
      }
      const last = page.items.at(-1);
      if (!page.hasNextPage || !last) return count;
      after = encodeCursor(last.id);
    }
  }
}

/** A stored projection as `definitionProjection` writes it (the publisher may add the change's trace context). */
function withoutTraceparent(stored: string | undefined): string | undefined {
  if (stored === undefined) return undefined;
  try {
    const { traceparent: _, ...rest } = JSON.parse(stored) as Record<string, unknown>;
    return JSON.stringify(rest);
  } catch {
    return undefined;
  }
}
