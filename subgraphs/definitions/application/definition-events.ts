import type { DefinitionStatusProjection } from '../../../core/read-models/definition.ts';
import type { Definition } from '../domain/model.ts';

/** CloudEvent types the definitions subgraph publishes on the `definition` topic (data: the definition). */
export const DefinitionEventType = {
  created: 'lcm.definition.created.v1',
  deprecated: 'lcm.definition.deprecated.v1',
} as const;
export type DefinitionEventType = (typeof DefinitionEventType)[keyof typeof DefinitionEventType];

/** What the other subgraphs may know of a definition (see `DefinitionStatusProjection`). */
export const definitionProjection = (def: Definition): DefinitionStatusProjection => ({
  id: def.id,
  name: def.name,
  version: def.version,
  status: def.status,
  revision: def.revision,
});
