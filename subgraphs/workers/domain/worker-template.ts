/**
 * WorkerTemplate: parsing and validating the templates YAML (`templates: [...]`), and upserting one
 * template by name. The original system's snake_case keys are accepted beside the camelCase ones
 * (`instance_type`, `ami_name_pattern`, `cost_per_hour_usd`, `cpu_cores`, ...). Errors are
 * BAD_USER_INPUT naming the field as written, e.g. `yaml.templates[2].capacity.cpuCores`.
 */
import { parse as parseYaml } from 'yaml';
import { LicenseType, values } from '../../../core/domain/enums.ts';
import { badInput } from '../../../core/errors.ts';
import { checkCapacity, sameCapacity, type CapacityDimension } from '../../../core/domain/capacity.ts';
import type { Capacity, WorkerTemplate } from './model.ts';

/** A template as the YAML describes it (validated, canonical). */
export interface WorkerTemplateSpec {
  name: string;
  description: string | null;
  instanceType: string;
  amiNamePattern: string;
  capacity: Capacity;
  licenseType: LicenseType;
  costPerHour: number;
  enabled: boolean;
}

const TEMPLATE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/;
const MAX_TEMPLATES = 200;
const MAX_COST_PER_HOUR = 10_000;

/** Canonical key → the spellings accepted for it. */
const TEMPLATE_KEYS = {
  name: ['name'],
  description: ['description'],
  instanceType: ['instanceType', 'instance_type'],
  amiNamePattern: ['amiNamePattern', 'ami_name_pattern'],
  capacity: ['capacity'],
  licenseType: ['licenseType', 'license_type', 'license'],
  costPerHour: ['costPerHour', 'cost_per_hour', 'costPerHourUsd', 'cost_per_hour_usd'],
  enabled: ['enabled'],
} as const;

const CAPACITY_KEYS: Record<CapacityDimension, readonly string[]> = {
  cpuCores: ['cpuCores', 'cpu_cores'],
  memoryGb: ['memoryGb', 'memory_gb'],
  storageGb: ['storageGb', 'storage_gb'],
  maxNodes: ['maxNodes', 'max_nodes'],
};

type Fields<K extends string> = Record<K, { value: unknown; path: string }>;

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Read a mapping whose keys may be spelt several ways. Each canonical key gets its value and the
 * path of the spelling used (or of the camelCase one when absent). Unknown keys and a key given in
 * two spellings are refused.
 */
function readFields<K extends string>(value: unknown, path: string, keys: Record<K, readonly string[]>): Fields<K> {
  if (!isMapping(value)) throw badInput(path, 'must be a mapping');
  const spellingOf = new Map<string, K>();
  for (const [canonical, spellings] of Object.entries(keys) as Array<[K, readonly string[]]>) {
    for (const s of spellings) spellingOf.set(s, canonical);
  }
  const out = {} as Fields<K>;
  for (const [canonical, spellings] of Object.entries(keys) as Array<[K, readonly string[]]>) {
    out[canonical] = { value: undefined, path: `${path}.${spellings[0]}` };
  }
  const used = new Map<K, string>();
  for (const [key, v] of Object.entries(value)) {
    const canonical = spellingOf.get(key);
    if (canonical === undefined) {
      throw badInput(`${path}.${key}`, `is not a known field; expected one of ${Object.values<readonly string[]>(keys).map((s) => s[0]).join(', ')}`);
    }
    const earlier = used.get(canonical);
    if (earlier !== undefined) throw badInput(`${path}.${key}`, `duplicates ${earlier}`);
    used.set(canonical, key);
    out[canonical] = { value: v, path: `${path}.${key}` };
  }
  return out;
}

function requiredString(f: { value: unknown; path: string }, max: number): string {
  if (typeof f.value !== 'string' || f.value.trim() === '') throw badInput(f.path, 'is required and must be a non-empty string');
  const v = f.value.trim();
  if (v.length > max) throw badInput(f.path, `must be at most ${max} characters`);
  return v;
}

function number(f: { value: unknown; path: string }): number {
  if (typeof f.value !== 'number' || !Number.isFinite(f.value)) throw badInput(f.path, `is required and must be a number; got ${JSON.stringify(f.value ?? null)}`);
  return f.value;
}

function parseCapacity(value: unknown, path: string): Capacity {
  const f = readFields(value, path, CAPACITY_KEYS);
  const raw = { cpuCores: number(f.cpuCores), memoryGb: number(f.memoryGb), storageGb: number(f.storageGb), maxNodes: number(f.maxNodes) };
  return checkCapacity((d) => f[d].path, raw, { positive: true });
}

function parseTemplate(value: unknown, path: string): WorkerTemplateSpec {
  const f = readFields(value, path, TEMPLATE_KEYS);
  const name = requiredString(f.name, 63);
  if (!TEMPLATE_NAME.test(name)) throw badInput(f.name.path, 'must be 1–63 lowercase letters, digits or `-`, starting with a letter or digit');
  let description: string | null = null;
  if (f.description.value !== undefined && f.description.value !== null) {
    if (typeof f.description.value !== 'string') throw badInput(f.description.path, 'must be a string');
    description = f.description.value.trim() || null;
    if (description && description.length > 500) throw badInput(f.description.path, 'must be at most 500 characters');
  }
  const instanceType = requiredString(f.instanceType, 64);
  if (!INSTANCE_TYPE.test(instanceType)) throw badInput(f.instanceType.path, `must be an EC2 instance type like m5zn.metal; got "${instanceType}"`);
  const amiNamePattern = requiredString(f.amiNamePattern, 128);
  if (f.capacity.value === undefined) throw badInput(f.capacity.path, 'is required');
  const capacity = parseCapacity(f.capacity.value, f.capacity.path);
  let licenseType: LicenseType = LicenseType.ENTERPRISE;
  if (f.licenseType.value !== undefined && f.licenseType.value !== null) {
    const l = typeof f.licenseType.value === 'string' ? f.licenseType.value.trim().toUpperCase() : '';
    if (!(values(LicenseType) as string[]).includes(l)) {
      throw badInput(f.licenseType.path, `must be one of ${values(LicenseType).join(', ')}; got ${JSON.stringify(f.licenseType.value)}`);
    }
    licenseType = l as LicenseType;
  }
  const costPerHour = number(f.costPerHour);
  if (costPerHour < 0 || costPerHour > MAX_COST_PER_HOUR) throw badInput(f.costPerHour.path, `must be between 0 and ${MAX_COST_PER_HOUR}`);
  let enabled = true;
  if (f.enabled.value !== undefined && f.enabled.value !== null) {
    if (typeof f.enabled.value !== 'boolean') throw badInput(f.enabled.path, 'must be true or false');
    enabled = f.enabled.value;
  }
  return { name, description, instanceType, amiNamePattern, capacity, licenseType, costPerHour, enabled };
}

/**
 * Parse and validate a templates document. Every template is checked before any is returned, so a
 * caller that writes only after parsing writes nothing for a bad document. Names must be unique.
 */
export function parseWorkerTemplates(yamlText: string, field = 'yaml'): WorkerTemplateSpec[] {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText, { maxAliasCount: 100, logLevel: 'error' });
  } catch (e) {
    throw badInput(field, `is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isMapping(doc)) throw badInput(field, 'must be a mapping with a `templates` list');
  const extra = Object.keys(doc).find((k) => k !== 'templates');
  if (extra !== undefined) throw badInput(`${field}.${extra}`, 'is not a known field; expected `templates`');
  const list = doc.templates;
  if (!Array.isArray(list) || list.length === 0) throw badInput(`${field}.templates`, 'must be a non-empty list of templates');
  if (list.length > MAX_TEMPLATES) throw badInput(`${field}.templates`, `has more than ${MAX_TEMPLATES} templates`);
  const seen = new Map<string, number>();
  return list.map((item, i) => {
    const spec = parseTemplate(item, `${field}.templates[${i}]`);
    const first = seen.get(spec.name);
    if (first !== undefined) throw badInput(`${field}.templates[${i}].name`, `duplicates templates[${first}] ("${spec.name}")`);
    seen.set(spec.name, i);
    return spec;
  });
}

/** A stored template from its spec. */
export function createWorkerTemplate(spec: WorkerTemplateSpec, id: string, now: Date): WorkerTemplate {
  return { id, revision: 1, ...spec, capacity: { ...spec.capacity }, createdAt: now, updatedAt: now };
}

/** Apply a spec to the stored template of the same name; unchanged when every field is equal. */
export function updateWorkerTemplate(current: WorkerTemplate, spec: WorkerTemplateSpec, now: Date): { template: WorkerTemplate; changed: boolean } {
  const same =
    current.description === spec.description &&
    current.instanceType === spec.instanceType &&
    current.amiNamePattern === spec.amiNamePattern &&
    sameCapacity(current.capacity, spec.capacity) &&
    current.licenseType === spec.licenseType &&
    current.costPerHour === spec.costPerHour &&
    current.enabled === spec.enabled;
  if (same) return { template: current, changed: false };
  return {
    template: { ...current, ...spec, capacity: { ...spec.capacity }, revision: current.revision + 1, updatedAt: now },
    changed: true,
  };
}
