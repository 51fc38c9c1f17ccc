/**
 * Sample CML topologies for tests (this folder's and the controllers'): valid labs of different shapes
 * and the classic mistakes an import must reject.
 */

/** Two IOSv routers linked back to back, each with a serial console port tag (research/cml-api.md §7). */
export const TWO_ROUTERS_YAML = `lab:
  version: 0.2.2
  title: student-lab
  description: ''
  notes: ''
nodes:
  - id: n0
    label: r1
    node_definition: iosv
    x: 0
    y: 0
    tags: ["serial:4001"]
    configuration: "hostname r1"
    interfaces:
      - {id: i0, label: GigabitEthernet0/0, slot: 0, type: physical}
  - id: n1
    label: r2
    node_definition: iosv
    x: 200
    y: 0
    tags: ["serial:4002"]
    interfaces:
      - {id: i0, label: GigabitEthernet0/0, slot: 0, type: physical}
links:
  - {id: l0, n1: n0, n2: n1, i1: i0, i2: i0}
`;

/** A mixed lab: a router, a Linux host with VNC, and an external connector (NAT). */
export const MIXED_LAB_YAML = `lab: {version: 0.3.0, title: mixed, description: 'router + host + NAT', notes: ''}
nodes:
  - id: n0
    label: edge
    node_definition: iol-xe
    x: 0
    y: 0
    tags: ["serial:4101", "pat:tcp:4180:80"]
    interfaces:
      - {id: i0, type: physical, slot: 0}
      - {id: i1, type: physical, slot: 1}
      - {id: lo0, type: loopback}
  - id: n1
    label: host
    node_definition: alpine
    x: 100
    y: 100
    tags: ["serial:4102", "vnc:4103", "student"]
    interfaces:
      - {id: i0, type: physical, slot: 0}
  - id: n2
    label: nat
    node_definition: external_connector
    x: -100
    y: 0
    interfaces:
      - {id: i0, type: physical, slot: 0}
links:
  - {id: l0, n1: n0, n2: n1, i1: i0, i2: i0}
  - {id: l1, n1: n0, n2: n2, i1: i1, i2: i0}
`;

/** A one-node lab of the given node definition and label. */
export const singleNodeYaml = (nodeDefinition: string, label = 'n', tags: string[] = []): string => `lab: {version: 0.2.2, title: single}
nodes:
  - {id: n0, label: ${label}, node_definition: ${nodeDefinition}, x: 0, y: 0, tags: ${JSON.stringify(tags)}, interfaces: []}
links: []
`;

export const UNKNOWN_NODE_DEFINITION_YAML = `lab: {version: 0.2.2, title: broken}
nodes:
  - {id: n0, label: r1, node_definition: iosv-does-not-exist, x: 0, y: 0, interfaces: []}
links: []
`;

export const LINK_TO_MISSING_INTERFACE_YAML = `lab: {version: 0.2.2, title: broken}
nodes:
  - {id: n0, label: r1, node_definition: iosv, x: 0, y: 0, interfaces: [{id: i0, type: physical}]}
  - {id: n1, label: r2, node_definition: iosv, x: 0, y: 0, interfaces: [{id: i0, type: physical}]}
links:
  - {id: l0, n1: n0, n2: n1, i1: i0, i2: i7}
`;

export const LINK_TO_MISSING_NODE_YAML = `lab: {version: 0.2.2, title: broken}
nodes:
  - {id: n0, label: r1, node_definition: iosv, x: 0, y: 0, interfaces: [{id: i0, type: physical}]}
links:
  - {id: l0, n1: n0, n2: n9, i1: i0, i2: i0}
`;
