import type { DefinitionStatus } from '../domain/enums.ts';

/**
 * What the definitions subgraph publishes about each definition for the other subgraphs, at
 * `/lcm/definitions/<id>/status` (`CoordinationKeys.definitionStatus`), after every saved change: the
 * sessions subgraph checks it when a session is created and snapshots the version. One subgraph, one
 * owner of its data: nobody else reads the definitions collection; the rest of a definition is reached
 * through federation.
 */
export interface DefinitionStatusProjection {
  id: string;
  name: string;
  version: string;
  status: DefinitionStatus;
  revision: number;
}
