import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, LcmError } from '../../../core/errors.ts';
import { createWorkerTemplate, parseWorkerTemplates, updateWorkerTemplate } from './worker-template.ts';

const DEFAULT_FILE = new URL('../worker-templates.yaml', import.meta.url);

function fieldOf(yaml: string): string | undefined {
  try {
    parseWorkerTemplates(yaml);
  } catch (e) {
    if (e instanceof LcmError && e.code === ErrorCode.BAD_USER_INPUT) return e.details.field;
    throw e;
  }
  throw new Error('expected BAD_USER_INPUT');
}

const ONE = `templates:
  - name: lab
    instanceType: m5.xlarge
    amiNamePattern: CML-2.8*
    capacity: { cpuCores: 4, memoryGb: 16, storageGb: 100, maxNodes: 10 }
    costPerHour: 0.192
`;

describe('worker templates YAML', () => {
  it('parses the bundled defaults: the five original ENTERPRISE templates and one PERSONAL', () => {
    const specs = parseWorkerTemplates(readFileSync(DEFAULT_FILE, 'utf8'));
    expect(specs.map((s) => [s.name, s.instanceType, s.costPerHour, s.licenseType])).toEqual([
      ['micro', 't3.micro', 0.0104, 'ENTERPRISE'],
      ['small', 't3.small', 0.0208, 'ENTERPRISE'],
      ['medium', 't3.medium', 0.0416, 'ENTERPRISE'],
      ['large', 't3.large', 0.0832, 'ENTERPRISE'],
      ['metal', 'm5zn.metal', 3.9641, 'ENTERPRISE'],
      ['personal', 'm5zn.2xlarge', 0.6606, 'PERSONAL'],
    ]);
    expect(specs.every((s) => s.amiNamePattern === 'CML-*' && s.enabled)).toBe(true);
    expect(specs[4]?.capacity).toEqual({ cpuCores: 48, memoryGb: 192, storageGb: 1000, maxNodes: 200 });
  });

  it('defaults the licence to ENTERPRISE and enabled to true, and accepts the original snake_case keys', () => {
    expect(parseWorkerTemplates(ONE)[0]).toEqual({
      name: 'lab',
      description: null,
      instanceType: 'm5.xlarge',
      amiNamePattern: 'CML-2.8*',
      capacity: { cpuCores: 4, memoryGb: 16, storageGb: 100, maxNodes: 10 },
      licenseType: 'ENTERPRISE',
      costPerHour: 0.192,
      enabled: true,
    });
    const snake = parseWorkerTemplates(`templates:
  - name: single-session
    instance_type: m5zn.2xlarge
    ami_name_pattern: CML-*
    capacity: { cpu_cores: 8, memory_gb: 32, storage_gb: 200, max_nodes: 20 }
    cost_per_hour_usd: 0.66
    license_type: personal
    enabled: false
`);
    expect(snake[0]).toMatchObject({ name: 'single-session', capacity: { cpuCores: 8, maxNodes: 20 }, licenseType: 'PERSONAL', enabled: false });
  });

  it.each([
    ['templates: [', 'yaml'],
    ['- a', 'yaml'],
    ['templates: []', 'yaml.templates'],
    ['other: 1\ntemplates: []', 'yaml.other'],
    [ONE.replace('name: lab', 'name: Lab_1'), 'yaml.templates[0].name'],
    [ONE.replace('instanceType: m5.xlarge', 'instanceType: big'), 'yaml.templates[0].instanceType'],
    [ONE.replace('cpuCores: 4', 'cpuCores: 0'), 'yaml.templates[0].capacity.cpuCores'],
    [ONE.replace('maxNodes: 10', 'max_nodes: 1.5'), 'yaml.templates[0].capacity.max_nodes'],
    [ONE.replace('memoryGb: 16, ', ''), 'yaml.templates[0].capacity.memoryGb'],
    [ONE.replace('costPerHour: 0.192', 'costPerHour: cheap'), 'yaml.templates[0].costPerHour'],
    [ONE.replace('costPerHour: 0.192', 'cost_per_hour_usd: -1'), 'yaml.templates[0].cost_per_hour_usd'],
    [`${ONE}    licenseType: GOLD\n`, 'yaml.templates[0].licenseType'],
    [`${ONE}    colour: red\n`, 'yaml.templates[0].colour'],
    [`${ONE}    cost_per_hour: 1\n`, 'yaml.templates[0].cost_per_hour'],
    [ONE + ONE.slice('templates:\n'.length).replace('cpuCores: 4', 'cpuCores: 2'), 'yaml.templates[1].name'],
    [ONE + ONE.slice('templates:\n'.length).replace('name: lab', 'name: lab2').replace('cpuCores: 4', 'cpuCores: x'), 'yaml.templates[1].capacity.cpuCores'],
  ])('rejects %j naming %s', (yaml, field) => {
    expect(fieldOf(yaml)).toBe(field);
  });

  it('upserts by name: unchanged specs change nothing, changed ones bump the revision', () => {
    const [spec] = parseWorkerTemplates(ONE);
    if (!spec) throw new Error('no spec');
    const t0 = new Date('2026-01-01T00:00:00Z');
    const stored = createWorkerTemplate(spec, 'wtpl_1', t0);
    expect(updateWorkerTemplate(stored, spec, new Date()).changed).toBe(false);
    const next = updateWorkerTemplate(stored, { ...spec, costPerHour: 0.2 }, new Date('2026-01-02T00:00:00Z'));
    expect(next).toMatchObject({ changed: true, template: { id: 'wtpl_1', revision: 2, costPerHour: 0.2, createdAt: t0 } });
  });
});
