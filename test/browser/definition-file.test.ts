import { describe, expect, it } from 'vitest';
import { DefinitionFileError, parseDefinitionFile } from '../../dashboard/src/definition-file.ts';

const TOPOLOGY = 'lab: {title: t}\nnodes:\n  - {id: n0, node_definition: iosv}\n';
const BASE = 'name: ccna\nversion: 1.2.0\nresourceRequirements: {cpuCores: 2, memoryGb: 4, storageGb: 10, nodeCount: 1}\n';

describe('a definition file, as the dashboard reads it', () => {
  it('takes the topology inline as a string', () => {
    const input = parseDefinitionFile(`${BASE}labYaml: |\n  lab: {title: t}\n  nodes: []\n`);
    expect(input).toEqual({ name: 'ccna', version: '1.2.0', labYaml: 'lab: {title: t}\nnodes: []\n', resourceRequirements: { cpuCores: 2, memoryGb: 4, storageGb: 10, nodeCount: 1 } });
  });

  it('takes the topology inline as a mapping (`topology:`, written back as YAML)', () => {
    const input = parseDefinitionFile(`${BASE}topology:\n  lab: {title: t}\n  nodes: [{id: n0, node_definition: iosv}]\n`);
    expect(input.labYaml).toBe('lab:\n  title: t\nnodes:\n  - id: n0\n    node_definition: iosv\n');
  });

  it('takes the topology from the second file named by labYamlFile (matched by file name)', () => {
    expect(parseDefinitionFile(`${BASE}labYamlFile: labs/topology.yaml\n`, { name: 'topology.yaml', text: TOPOLOGY }).labYaml).toBe(TOPOLOGY);
    expect(parseDefinitionFile(BASE, { name: 'anything.yaml', text: TOPOLOGY }).labYaml).toBe(TOPOLOGY);
    expect(() => parseDefinitionFile(`${BASE}labYamlFile: topology.yaml\n`, { name: 'other.yaml', text: TOPOLOGY })).toThrow(/picked is `other.yaml`/);
    expect(() => parseDefinitionFile(`${BASE}labYamlFile: topology.yaml\n`)).toThrow(/pick that file/);
  });

  it('keeps every optional field of CreateDefinitionInput', () => {
    const input = parseDefinitionFile(
      `${BASE}labYaml: "x: 1"\nlicenseAffinity: [enterprise]\nportTemplate: [{name: console, protocol: serial}]\ncmlRequirements: {minVersion: 2.7.0, nodeDefinitions: [iosv]}\nbootLeadTimeMinutes: 10\n`,
    );
    expect(input).toMatchObject({
      licenseAffinity: ['ENTERPRISE'],
      portTemplate: [{ name: 'console', protocol: 'serial' }],
      cmlRequirements: { minVersion: '2.7.0', nodeDefinitions: ['iosv'] },
      bootLeadTimeMinutes: 10,
    });
  });

  it('keeps a version as written (1.10 is not the number 1.1)', () => {
    expect(parseDefinitionFile(BASE.replace('1.2.0', '1.10') + 'labYaml: "x: 1"\n').version).toBe('1.10');
  });

  it.each([
    ['not YAML', 'name: [', /not valid YAML/],
    ['not a mapping', '- a\n- b\n', /must be a YAML mapping/],
    ['an unknown field', `${BASE}labYaml: "x: 1"\ncpu: 2\n`, /unknown field `cpu`/],
    ['no topology', BASE, /has no topology/],
    ['two topologies', `${BASE}labYaml: "x: 1"\nlabYamlFile: t.yaml\n`, /`labYaml` and `labYamlFile` are both set/],
    ['no resources', 'name: a\nversion: 1.0.0\nlabYaml: "x: 1"\n', /resourceRequirements/],
    ['a non-numeric resource', BASE.replace('cpuCores: 2', 'cpuCores: two') + 'labYaml: "x: 1"\n', /cpuCores` must be a number/],
  ])('says what is wrong: %s', (_, source, message) => {
    expect(() => parseDefinitionFile(source)).toThrow(DefinitionFileError);
    expect(() => parseDefinitionFile(source)).toThrow(message);
  });
});
