/**
 * A definition file as `lcm definitions apply FILE.yaml` reads it (docs/cli.md): the fields of the
 * public `CreateDefinitionInput`, with the lab topology either inline (`labYaml:` a YAML string;
 * `topology:` the topology as a mapping) or in a second file (`labYamlFile: topology.yaml`, a path
 * relative to the definition file; in the browser, the second file picked).
 */
import { parse, stringify } from 'yaml';
import type { CreateDefinitionInput } from '../__generated__/operations.ts';

export class DefinitionFileError extends Error {}

const FIELDS = new Set([
  'name',
  'version',
  'labYaml',
  'labYamlFile',
  'topology',
  'resourceRequirements',
  'licenseAffinity',
  'portTemplate',
  'cmlRequirements',
  'bootLeadTimeMinutes',
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A YAML scalar as text: `version: 1.0` is the string "1.0", not the number 1. */
function text(field: string, value: unknown): string {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (typeof value === 'number') return String(value);
  throw new DefinitionFileError(`\`${field}\` must be a non-empty string`);
}

function number(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new DefinitionFileError(`\`${field}\` must be a number`);
}

export interface TopologyFile {
  name: string;
  text: string;
}

/**
 * Parses a definition file into the mutation's input. `topology` is the second file, used when the
 * definition names one with `labYamlFile` (matched by file name) or has no `labYaml` of its own.
 */
export function parseDefinitionFile(source: string, topology?: TopologyFile): CreateDefinitionInput {
  let doc: unknown;
  try {
    doc = parse(source);
  } catch (e) {
    throw new DefinitionFileError(`the file is not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isRecord(doc)) throw new DefinitionFileError('the file must be a YAML mapping with the definition’s fields');
  const unknown = Object.keys(doc).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0) {
    throw new DefinitionFileError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `\`${k}\``).join(', ')}; expected ${[...FIELDS].join(', ')}`);
  }
  const version = versionText(source, doc.version);

  let labYaml: string;
  const given = (['labYaml', 'topology', 'labYamlFile'] as const).filter((k) => doc[k] !== undefined);
  if (given.length > 1) throw new DefinitionFileError(`give the topology once: ${given.map((k) => `\`${k}\``).join(' and ')} are both set`);
  if (typeof doc.labYaml === 'string') labYaml = doc.labYaml;
  else if (isRecord(doc.labYaml)) labYaml = stringify(doc.labYaml);
  else if (doc.labYaml !== undefined) throw new DefinitionFileError('`labYaml` must be the topology as a YAML string (or use `topology:` for a mapping)');
  else if (isRecord(doc.topology)) labYaml = stringify(doc.topology);
  else if (doc.topology !== undefined) throw new DefinitionFileError('`topology` must be the topology as a mapping');
  else {
    const wanted = doc.labYamlFile === undefined ? undefined : text('labYamlFile', doc.labYamlFile);
    if (!topology) {
      throw new DefinitionFileError(
        wanted ? `the definition reads its topology from \`${wanted}\`: pick that file as the topology file too` : 'the definition has no topology: give `labYaml`, `topology` or `labYamlFile`, or pick a topology file',
      );
    }
    const base = (p: string) => p.split(/[\\/]/).pop() ?? p;
    if (wanted && base(wanted) !== base(topology.name)) {
      throw new DefinitionFileError(`the definition reads its topology from \`${wanted}\`, but the topology file picked is \`${topology.name}\``);
    }
    labYaml = topology.text;
  }
  if (labYaml.trim() === '') throw new DefinitionFileError('the lab topology is empty');

  const rr = doc.resourceRequirements;
  if (!isRecord(rr)) throw new DefinitionFileError('`resourceRequirements` is required: { cpuCores, memoryGb, storageGb, nodeCount }');
  const input: CreateDefinitionInput = {
    name: text('name', doc.name),
    version,
    labYaml,
    resourceRequirements: {
      cpuCores: number('resourceRequirements.cpuCores', rr.cpuCores),
      memoryGb: number('resourceRequirements.memoryGb', rr.memoryGb),
      storageGb: number('resourceRequirements.storageGb', rr.storageGb),
      nodeCount: number('resourceRequirements.nodeCount', rr.nodeCount),
    },
  };
  if (doc.licenseAffinity !== undefined) {
    if (!Array.isArray(doc.licenseAffinity)) throw new DefinitionFileError('`licenseAffinity` must be a list, e.g. [ENTERPRISE]');
    input.licenseAffinity = doc.licenseAffinity.map((v, i) => text(`licenseAffinity[${i}]`, v).toUpperCase() as NonNullable<CreateDefinitionInput['licenseAffinity']>[number]);
  }
  if (doc.portTemplate !== undefined) {
    if (!Array.isArray(doc.portTemplate)) throw new DefinitionFileError('`portTemplate` must be a list of { name, protocol }');
    input.portTemplate = doc.portTemplate.map((p, i) => {
      if (!isRecord(p)) throw new DefinitionFileError(`\`portTemplate[${i}]\` must be { name, protocol }`);
      return { name: text(`portTemplate[${i}].name`, p.name), protocol: text(`portTemplate[${i}].protocol`, p.protocol) };
    });
  }
  if (doc.cmlRequirements !== undefined) {
    const c = doc.cmlRequirements;
    if (!isRecord(c)) throw new DefinitionFileError('`cmlRequirements` must be { minVersion, maxVersion, nodeDefinitions }');
    input.cmlRequirements = {
      ...(c.minVersion !== undefined ? { minVersion: text('cmlRequirements.minVersion', c.minVersion) } : {}),
      ...(c.maxVersion !== undefined ? { maxVersion: text('cmlRequirements.maxVersion', c.maxVersion) } : {}),
      ...(Array.isArray(c.nodeDefinitions) ? { nodeDefinitions: c.nodeDefinitions.map((n, i) => text(`cmlRequirements.nodeDefinitions[${i}]`, n)) } : {}),
    };
  }
  if (doc.bootLeadTimeMinutes !== undefined) input.bootLeadTimeMinutes = number('bootLeadTimeMinutes', doc.bootLeadTimeMinutes);
  return input;
}

/** `version: 1.10` parses as the number 1.1: take the version as written in the file. */
function versionText(source: string, value: unknown): string {
  if (typeof value === 'number') {
    const written = /^version:\s*["']?([^"'\s#]+)/m.exec(source)?.[1];
    if (written !== undefined) return written;
  }
  return text('version', value);
}
