/** Domain types the resolvers map from (codegen `mappers`). */
import type { DefinitionStatus, LicenseType } from '../../../core/domain/enums.ts';

/** A LabletDefinition as stored: the aggregate's state. Only the definitions subgraph reads or writes it. */
export interface Definition {
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
