import type { DefinitionStatus, LicenseType } from '../domain/enums.ts';
import type { CollectionSpec } from '../persistence/document-store.ts';

/**
 * The stored shape of a LabletDefinition. The definitions subgraph is its only writer; other
 * subgraphs may read it (the sessions subgraph checks a definition when a session is created).
 */
export interface DefinitionReadModel {
  id: string;
  revision: number;
  name: string;
  version: string;
  labYaml: string;
  resourceRequirements: { cpuCores: number; memoryGb: number; storageGb: number; nodeCount: number };
  licenseAffinity: LicenseType[];
  portTemplate: Array<{ name: string; protocol: string }>;
  cmlRequirements: { minVersion: string | null; maxVersion: string | null; nodeDefinitions: string[] };
  bootLeadTimeMinutes: number;
  status: DefinitionStatus;
  deprecationReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const DEFINITIONS_COLLECTION: CollectionSpec = {
  name: 'definitions',
  indexes: [
    { fields: ['name', 'version'], unique: true, description: 'name and version' },
    { fields: ['status'] },
  ],
};
