/** Domain types the resolvers map from (codegen `mappers`). */
import type { DefinitionReadModel } from '../../../core/read-models/definition.ts';

/** A LabletDefinition as stored: the aggregate's state. */
export type Definition = DefinitionReadModel;
