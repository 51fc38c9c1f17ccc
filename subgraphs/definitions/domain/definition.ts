import semver from 'semver';
import { DefinitionStatus, LicenseType, values } from '../../../core/domain/enums.ts';
import { parseLabTopology } from '../../../core/domain/lab-topology.ts';
import { badInput, invalidTransition } from '../../../core/errors.ts';
import type { Definition } from './model.ts';

/**
 * The LabletDefinition aggregate: creation with every invariant checked, and deprecation. Pure
 * functions: they take state and return new state, or throw an LcmError naming the field at fault.
 */
export interface NewDefinition {
  name: string;
  version: string;
  labYaml: string;
  resourceRequirements: { cpuCores: number; memoryGb: number; storageGb: number; nodeCount: number };
  licenseAffinity?: readonly string[] | null;
  portTemplate?: ReadonlyArray<{ name: string; protocol: string }> | null;
  cmlRequirements?: { minVersion?: string | null; maxVersion?: string | null; nodeDefinitions?: readonly string[] | null } | null;
  bootLeadTimeMinutes?: number | null;
}

export const PORT_PROTOCOLS = ['tcp', 'udp', 'serial', 'vnc', 'ssh', 'telnet', 'http', 'https', 'rdp'] as const;
export const DEFAULT_BOOT_LEAD_TIME_MINUTES = 35;
const PORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_PORTS = 64;

function checkNumber(field: string, v: number, min: number, max: number, exclusiveMin = false): void {
  if (!Number.isFinite(v) || (exclusiveMin ? v <= min : v < min) || v > max) {
    throw badInput(field, `must be ${exclusiveMin ? 'greater than' : 'at least'} ${min} and at most ${max}; got ${v}`);
  }
}

function checkSemver(field: string, v: string): string {
  const clean = semver.valid(v);
  if (!clean || clean !== v.trim()) throw badInput(field, `must be a semantic version like 1.2.3; got "${v}"`);
  return clean;
}

export function createDefinition(input: NewDefinition, id: string, now: Date): Definition {
  const name = input.name.trim();
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (name.length < 1 || name.length > 128 || /[\u0000-\u001f]/.test(name)) {
    throw badInput('input.name', 'must be 1–128 printable characters');
  }
  const version = checkSemver('input.version', input.version);
  const topology = parseLabTopology(input.labYaml, 'input.labYaml');

  const r = input.resourceRequirements;
  checkNumber('input.resourceRequirements.cpuCores', r.cpuCores, 0, 1024, true);
  checkNumber('input.resourceRequirements.memoryGb', r.memoryGb, 0, 4096, true);
  checkNumber('input.resourceRequirements.storageGb', r.storageGb, 0, 100_000);
  if (!Number.isInteger(r.nodeCount) || r.nodeCount < 1 || r.nodeCount > 1000) {
    throw badInput('input.resourceRequirements.nodeCount', 'must be an integer between 1 and 1000');
  }
  if (r.nodeCount < topology.nodes.length) {
    throw badInput(
      'input.resourceRequirements.nodeCount',
      `is ${r.nodeCount} but the lab YAML has ${topology.nodes.length} nodes`,
    );
  }

  const licenses = [...(input.licenseAffinity ?? [])];
  const knownLicenses = values(LicenseType) as string[];
  for (const l of licenses) if (!knownLicenses.includes(l)) throw badInput('input.licenseAffinity', `unknown licence type ${l}`);
  if (new Set(licenses).size !== licenses.length) throw badInput('input.licenseAffinity', 'has duplicates');

  const ports = (input.portTemplate ?? []).map((p) => ({ name: p.name, protocol: p.protocol.toLowerCase() }));
  if (ports.length > MAX_PORTS) throw badInput('input.portTemplate', `has more than ${MAX_PORTS} ports`);
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    if (!PORT_NAME.test(p.name)) {
      throw badInput(`input.portTemplate[${i}].name`, 'must be 1–64 letters, digits, `.`, `_` or `-`, starting with a letter or digit');
    }
    if (seen.has(p.name)) throw badInput(`input.portTemplate[${i}].name`, `duplicates port "${p.name}"`);
    seen.add(p.name);
    if (!(PORT_PROTOCOLS as readonly string[]).includes(p.protocol)) {
      throw badInput(`input.portTemplate[${i}].protocol`, `must be one of ${PORT_PROTOCOLS.join(', ')}`);
    }
  });

  const cml = input.cmlRequirements ?? {};
  const minVersion = cml.minVersion ? checkSemver('input.cmlRequirements.minVersion', cml.minVersion) : null;
  const maxVersion = cml.maxVersion ? checkSemver('input.cmlRequirements.maxVersion', cml.maxVersion) : null;
  if (minVersion && maxVersion && semver.gt(minVersion, maxVersion)) {
    throw badInput('input.cmlRequirements.minVersion', `${minVersion} is above maxVersion ${maxVersion}`);
  }
  const nodeDefinitions = [...new Set(cml.nodeDefinitions ?? topology.nodeDefinitions)].sort();
  for (const nd of topology.nodeDefinitions) {
    if (!nodeDefinitions.includes(nd)) {
      throw badInput('input.cmlRequirements.nodeDefinitions', `must include "${nd}", which the lab YAML uses`);
    }
  }

  const bootLeadTimeMinutes = input.bootLeadTimeMinutes ?? DEFAULT_BOOT_LEAD_TIME_MINUTES;
  if (!Number.isInteger(bootLeadTimeMinutes) || bootLeadTimeMinutes < 0 || bootLeadTimeMinutes > 1440) {
    throw badInput('input.bootLeadTimeMinutes', 'must be an integer between 0 and 1440');
  }

  return {
    id,
    revision: 1,
    name,
    version,
    labYaml: input.labYaml,
    resourceRequirements: { cpuCores: r.cpuCores, memoryGb: r.memoryGb, storageGb: r.storageGb, nodeCount: r.nodeCount },
    licenseAffinity: licenses as Definition['licenseAffinity'],
    portTemplate: ports,
    cmlRequirements: { minVersion, maxVersion, nodeDefinitions },
    bootLeadTimeMinutes,
    status: DefinitionStatus.ACTIVE,
    deprecationReason: null,
    createdAt: now,
    updatedAt: now,
  };
}

export function deprecateDefinition(def: Definition, reason: string | null, now: Date): Definition {
  if (def.status !== DefinitionStatus.ACTIVE) {
    throw invalidTransition('LabletDefinition', def.status, DefinitionStatus.DEPRECATED);
  }
  return {
    ...def,
    status: DefinitionStatus.DEPRECATED,
    deprecationReason: reason,
    updatedAt: now,
    revision: def.revision + 1,
  };
}
