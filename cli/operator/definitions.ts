import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import semver from 'semver';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import {
  CliCreateDefinitionDocument,
  CliDefinitionByNameAndVersionDocument,
  CliDefinitionsDocument,
  type CliDefinitionFragment,
  type CreateDefinitionInput,
  type DefinitionFilter,
} from '../__generated__/operations.ts';
import type { OperatorClient } from './client.ts';
import { CliError, conflict, notFound, usage } from './errors.ts';
import { json, table, when, type Output } from './output.ts';
import { allPages } from './pages.ts';

/**
 * `lcm definitions apply FILE…` and `lcm definitions list`. A definition file is YAML with the fields
 * of `CreateDefinitionInput` and the lab topology given in exactly one of three ways (docs/cli.md):
 * `labYaml` (the CML topology as a string, e.g. a `|` block), `topology` (the CML topology as a nested
 * mapping), or `labYamlFile` (a path relative to the definition file). A file may hold several
 * definitions as YAML documents separated by `---`.
 */
const LICENSES = ['PERSONAL', 'ENTERPRISE', 'EVALUATION'] as const;
const DefinitionFile = z
  .object({
    name: z.string().min(1),
    version: z.union([z.string(), z.number()]).transform(String),
    labYaml: z.string().min(1).optional(),
    topology: z.record(z.string(), z.unknown()).optional(),
    labYamlFile: z.string().min(1).optional(),
    resourceRequirements: z.object({ cpuCores: z.number(), memoryGb: z.number(), storageGb: z.number(), nodeCount: z.number().int() }).strict(),
    licenseAffinity: z.array(z.enum(LICENSES)).optional(),
    portTemplate: z.array(z.object({ name: z.string(), protocol: z.string() }).strict()).optional(),
    cmlRequirements: z
      .object({ minVersion: z.string().nullish(), maxVersion: z.string().nullish(), nodeDefinitions: z.array(z.string()).nullish() })
      .strict()
      .optional(),
    bootLeadTimeMinutes: z.number().int().optional(),
  })
  .strict();
type DefinitionFile = z.infer<typeof DefinitionFile>;

export interface ApplyResult {
  file: string;
  action: 'created' | 'unchanged';
  id: string;
  name: string;
  version: string;
}

/** The inputs of a definition file: one per YAML document. Problems are usage errors (exit 2). */
export async function readDefinitionFile(file: string): Promise<CreateDefinitionInput[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw usage(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const docs = parseAllDocuments(text);
  const inputs: CreateDefinitionInput[] = [];
  for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    const where = `${file}${Array.isArray(docs) && docs.length > 1 ? ` (document ${i + 1})` : ''}`;
    if (doc.errors.length > 0) throw usage(`${where}: not valid YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue; // an empty document (e.g. a trailing `---`)
    const parsed = DefinitionFile.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw usage(`${where}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    inputs.push(await toInput(parsed.data, file, where));
  }
  if (inputs.length === 0) throw usage(`${file}: no definition in it`);
  return inputs;
}

async function toInput(d: DefinitionFile, file: string, where: string): Promise<CreateDefinitionInput> {
  const given = [d.labYaml !== undefined, d.topology !== undefined, d.labYamlFile !== undefined].filter(Boolean).length;
  if (given !== 1) throw usage(`${where}: give the lab topology in exactly one of labYaml, topology or labYamlFile`);
  let labYaml: string;
  if (d.labYaml !== undefined) labYaml = d.labYaml;
  else if (d.topology !== undefined) labYaml = stringifyYaml(d.topology);
  else {
    const path = resolve(dirname(file), d.labYamlFile as string);
    try {
      labYaml = await readFile(path, 'utf8');
    } catch (e) {
      throw usage(`${where}: labYamlFile ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  return {
    name: d.name.trim(),
    version: d.version.trim(),
    labYaml,
    resourceRequirements: d.resourceRequirements,
    ...(d.licenseAffinity ? { licenseAffinity: d.licenseAffinity } : {}),
    ...(d.portTemplate ? { portTemplate: d.portTemplate } : {}),
    ...(d.cmlRequirements ? { cmlRequirements: d.cmlRequirements } : {}),
    ...(d.bootLeadTimeMinutes !== undefined ? { bootLeadTimeMinutes: d.bootLeadTimeMinutes } : {}),
  };
}

/** Fields of `input` that differ from the stored definition (empty: applying it again changes nothing). */
export function differences(input: CreateDefinitionInput, existing: CliDefinitionFragment): string[] {
  const out: string[] = [];
  const sameYaml = (() => {
    if (input.labYaml === existing.labYaml) return true;
    try {
      return isDeepStrictEqual(parseYaml(input.labYaml), parseYaml(existing.labYaml));
    } catch {
      return false;
    }
  })();
  if (!sameYaml) out.push('labYaml');
  const r = input.resourceRequirements;
  const e = existing.resourceRequirements;
  for (const k of ['cpuCores', 'memoryGb', 'storageGb', 'nodeCount'] as const) if (r[k] !== e[k]) out.push(`resourceRequirements.${k}`);
  const sorted = (a: readonly string[]) => [...a].sort();
  if (!isDeepStrictEqual(sorted(toArray(input.licenseAffinity)), sorted(existing.licenseAffinity))) out.push('licenseAffinity');
  const ports = toArray(input.portTemplate).map((p) => ({ name: p.name, protocol: p.protocol }));
  if (!isDeepStrictEqual(ports, existing.portTemplate.map((p) => ({ name: p.name, protocol: p.protocol })))) out.push('portTemplate');
  const c = input.cmlRequirements;
  if ((c?.minVersion ?? null) !== (existing.cmlRequirements.minVersion ?? null)) out.push('cmlRequirements.minVersion');
  if ((c?.maxVersion ?? null) !== (existing.cmlRequirements.maxVersion ?? null)) out.push('cmlRequirements.maxVersion');
  if (c?.nodeDefinitions && !isDeepStrictEqual(sorted(toArray(c.nodeDefinitions)), sorted(existing.cmlRequirements.nodeDefinitions))) {
    out.push('cmlRequirements.nodeDefinitions');
  }
  if (input.bootLeadTimeMinutes !== undefined && input.bootLeadTimeMinutes !== null && input.bootLeadTimeMinutes !== existing.bootLeadTimeMinutes) {
    out.push('bootLeadTimeMinutes');
  }
  return out;
}

function toArray<T>(v: T | readonly T[] | null | undefined): T[] {
  if (v === null || v === undefined) return [];
  return Array.isArray(v) ? [...(v as T[])] : [v as T];
}

async function lookup(client: OperatorClient, name: string, version: string): Promise<CliDefinitionFragment | null> {
  const d = await client.request(CliDefinitionByNameAndVersionDocument, { name, version });
  return d.definitionByNameAndVersion;
}

/** Create the definition unless the same name+version exists: unchanged when equal, CONFLICT (exit 5) when not. */
export async function applyOne(client: OperatorClient, file: string, input: CreateDefinitionInput): Promise<ApplyResult> {
  const label = `${input.name}@${input.version}`;
  const compare = (existing: CliDefinitionFragment): ApplyResult => {
    const diff = differences(input, existing);
    if (diff.length > 0) {
      throw conflict(`${file}: definition ${label} already exists (${existing.id}) with different content: ${diff.join(', ')}; publish it under a new version`);
    }
    return { file, action: 'unchanged', id: existing.id, name: existing.name, version: existing.version };
  };
  const existing = await lookup(client, input.name, input.version);
  if (existing) return compare(existing);
  try {
    const created = (await client.request(CliCreateDefinitionDocument, { input })).createDefinition;
    return { file, action: 'created', id: created.id, name: created.name, version: created.version };
  } catch (e) {
    // Someone created it between our look-up and our create: compare with theirs.
    if (e instanceof CliError && e.code === 'CONFLICT') {
      const now = await lookup(client, input.name, input.version);
      if (now) return compare(now);
    }
    if (e instanceof CliError) throw new CliError(`${file}: ${label}: ${e.message}`, e.exitCode, e.code);
    throw e;
  }
}

export async function applyDefinitions(client: OperatorClient, files: string[], out: Output, asJson: boolean): Promise<void> {
  // Read and check every file first, so a typo in the third file does not leave the first two applied.
  const all: Array<{ file: string; input: CreateDefinitionInput }> = [];
  for (const file of files) for (const input of await readDefinitionFile(file)) all.push({ file, input });
  const results: ApplyResult[] = [];
  for (const { file, input } of all) {
    const r = await applyOne(client, file, input);
    results.push(r);
    if (!asJson) {
      await out.line(
        r.action === 'created'
          ? `created ${r.name}@${r.version} (${r.id})`
          : `unchanged ${r.name}@${r.version} (${r.id}): already applied, nothing to do`,
      );
    }
  }
  if (asJson) await out.line(json(results));
}

export async function listDefinitions(client: OperatorClient, filter: DefinitionFilter, out: Output, asJson: boolean): Promise<void> {
  const defs: CliDefinitionFragment[] = [];
  for await (const d of allPages((first, after) => client.request(CliDefinitionsDocument, { first, after, filter }).then((r) => r.definitions))) defs.push(d);
  if (asJson) return out.line(json(defs));
  await out.line(
    table(
      ['ID', 'NAME', 'VERSION', 'STATUS', 'NODES', 'CPU', 'MEMORY GB', 'PORTS', 'CREATED'],
      defs.map((d) => [
        d.id,
        d.name,
        d.version,
        d.status,
        d.resourceRequirements.nodeCount,
        d.resourceRequirements.cpuCores,
        d.resourceRequirements.memoryGb,
        d.portTemplate.map((p) => p.name).join(','),
        when(d.createdAt),
      ]),
      'no definitions',
    ),
  );
}

/** `NAME` → the newest ACTIVE version (semver); `NAME@VERSION` → that version. Not found: exit 4. */
export async function resolveDefinition(client: OperatorClient, ref: string): Promise<CliDefinitionFragment> {
  const at = ref.lastIndexOf('@');
  const name = (at > 0 ? ref.slice(0, at) : ref).trim();
  const version = at > 0 ? ref.slice(at + 1).trim() : undefined;
  if (!name || version === '') throw usage(`--definition: expected NAME or NAME@VERSION, got "${ref}"`);
  if (version) {
    const d = await lookup(client, name, version);
    if (!d) throw notFound(`no definition ${name}@${version}`);
    return d;
  }
  const active: CliDefinitionFragment[] = [];
  for await (const d of allPages((first, after) =>
    client.request(CliDefinitionsDocument, { first, after, filter: { name, statuses: ['ACTIVE'] } }).then((r) => r.definitions),
  )) {
    active.push(d);
  }
  const newest = active.filter((d) => semver.valid(d.version)).sort((a, b) => semver.rcompare(a.version, b.version))[0];
  if (!newest) throw notFound(`no ACTIVE definition named "${name}"`);
  return newest;
}

/** Every definition id of a name (all versions, any status), for filters; none: exit 4. */
export async function definitionIdsByName(client: OperatorClient, name: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const d of allPages((first, after) => client.request(CliDefinitionsDocument, { first, after, filter: { name } }).then((r) => r.definitions))) {
    ids.push(d.id);
  }
  if (ids.length === 0) throw notFound(`no definition named "${name}"`);
  return ids;
}
