/**
 * zod schemas of the CML 2.9 responses the control plane reads (research/cml-api.md §2, §4), with
 * CML's own field names. Objects are loose: fields the API adds later pass through untouched; only
 * the fields the controllers rely on are checked.
 */
import { z } from 'zod';

/** Node states of CML 2.9 (2.10 adds STARTING; unknown values pass as strings). */
export type CmlNodeState = 'DEFINED_ON_CORE' | 'STOPPED' | 'QUEUED' | 'STARTED' | 'BOOTED' | 'DISCONNECTED' | (string & {});
/** Lab, link and interface states. */
export type CmlLabState = 'DEFINED_ON_CORE' | 'STOPPED' | 'STARTED' | (string & {});

export const TokenSchema = z.string().min(1);

export const SystemInformationSchema = z.looseObject({
  version: z.string(),
  ready: z.boolean(),
  allow_ssh_pubkey_auth: z.boolean().optional(),
  oui: z.string().nullable().optional(),
});
export type CmlSystemInformation = z.infer<typeof SystemInformationSchema>;

const UsageSchema = z.looseObject({ used: z.number(), free: z.number(), total: z.number() });

export const SystemStatsSchema = z.looseObject({
  computes: z.record(
    z.string(),
    z.looseObject({
      hostname: z.string(),
      is_controller: z.boolean().optional(),
      stats: z.looseObject({
        cpu: z.looseObject({ count: z.number(), percent: z.number(), load: z.array(z.number()).optional(), predicted: z.number().optional() }),
        memory: UsageSchema,
        disk: UsageSchema,
        dominfo: z
          .looseObject({
            total_nodes: z.number().nullable().optional(),
            running_nodes: z.number().nullable().optional(),
            allocated_cpus: z.number().nullable().optional(),
            allocated_memory: z.number().nullable().optional(),
          })
          .optional(),
      }),
    }),
  ),
  all: z.looseObject({ cpu: z.looseObject({ count: z.number(), percent: z.number() }), memory: UsageSchema, disk: UsageSchema }),
  controller: z.looseObject({ disk: UsageSchema }).optional(),
});
export type CmlSystemStats = z.infer<typeof SystemStatsSchema>;

export const SystemHealthSchema = z.looseObject({
  valid: z.boolean(),
  is_licensed: z.boolean(),
  is_enterprise: z.boolean(),
  computes: z.record(
    z.string(),
    z.looseObject({ valid: z.boolean(), admission_state: z.string().optional(), hostname: z.string().optional(), is_controller: z.boolean().optional() }),
  ),
  controller: z.looseObject({ valid: z.boolean() }).optional(),
});
export type CmlSystemHealth = z.infer<typeof SystemHealthSchema>;

const TimeInfoSchema = z.looseObject({}).nullable().optional();

export const LicensingStatusSchema = z.looseObject({
  registration: z.looseObject({
    status: z.string(),
    smart_account: z.string().nullable().optional(),
    virtual_account: z.string().nullable().optional(),
    expires: z.string().nullable().optional(),
    register_time: TimeInfoSchema,
    renew_time: TimeInfoSchema,
  }),
  authorization: z.looseObject({ status: z.string(), expires: z.string().nullable().optional() }),
  features: z
    .array(
      z.looseObject({
        id: z.string(),
        name: z.string().optional(),
        in_use: z.number().optional(),
        max: z.number().optional(),
        status: z.string().optional(),
      }),
    )
    .default([]),
  product_license: z.looseObject({ active: z.string(), is_enterprise: z.boolean() }),
  reservation_mode: z.boolean().optional(),
  udi: z.looseObject({ hostname: z.string().optional(), product_uuid: z.string().optional() }).optional(),
});
export type CmlLicensingStatus = z.infer<typeof LicensingStatusSchema>;

export const NodeDefinitionSchema = z.looseObject({
  id: z.string(),
  boot: z.looseObject({ timeout: z.number() }).optional(),
  general: z.looseObject({ nature: z.string(), description: z.string().optional() }).optional(),
  sim: z.looseObject({ linux_native: z.looseObject({ ram: z.number().nullable().optional(), cpus: z.number().nullable().optional() }) }).optional(),
  ui: z.looseObject({ label: z.string().optional(), label_prefix: z.string().optional() }).optional(),
});
export type CmlNodeDefinition = z.infer<typeof NodeDefinitionSchema>;

export const ImageDefinitionSchema = z.looseObject({
  id: z.string(),
  node_definition_id: z.string(),
  label: z.string(),
  disk_image: z.string().optional(),
});
export type CmlImageDefinition = z.infer<typeof ImageDefinitionSchema>;

export const ImportResultSchema = z
  .looseObject({ id: z.string().min(1), warnings: z.array(z.string()).nullable().optional() })
  .transform((r) => ({ id: r.id, warnings: r.warnings ?? [] }));
export type CmlImportResult = z.infer<typeof ImportResultSchema>;

export const LabSchema = z.looseObject({
  id: z.string(),
  lab_title: z.string(),
  lab_description: z.string().optional(),
  lab_notes: z.string().optional(),
  state: z.string() as z.ZodType<CmlLabState>,
  created: z.string().optional(),
  modified: z.string().optional(),
  owner: z.string().optional(),
  owner_username: z.string().optional(),
  node_count: z.number().optional(),
  link_count: z.number().optional(),
});
export type CmlLab = z.infer<typeof LabSchema>;

export const LabStateSchema = z.string() as z.ZodType<CmlLabState>;

const SerialConsoleSchema = z.looseObject({ console_key: z.string(), label: z.string().optional(), device_number: z.number().optional() });

export const NodeSchema = z.looseObject({
  id: z.string(),
  label: z.string(),
  node_definition: z.string(),
  image_definition: z.string().nullable().optional(),
  state: z.string() as z.ZodType<CmlNodeState>,
  boot_progress: z.string().optional(),
  lab_id: z.string().optional(),
  x: z.number().optional(),
  y: z.number().optional(),
  ram: z.number().nullable().optional(),
  cpus: z.number().nullable().optional(),
  compute_id: z.string().nullable().optional(),
  tags: z.array(z.string()).nullable().transform((t) => t ?? []).default([]),
  serial_consoles: z.array(SerialConsoleSchema).nullable().optional(),
  operational: z
    .looseObject({
      ram: z.number().nullable().optional(),
      cpus: z.number().nullable().optional(),
      compute_id: z.string().nullable().optional(),
      image_definition: z.string().nullable().optional(),
      vnc_key: z.string().nullable().optional(),
      serial_consoles: z.array(SerialConsoleSchema).nullable().optional(),
    })
    .nullable()
    .optional(),
});
export type CmlNode = z.infer<typeof NodeSchema>;

export const LabElementStateSchema = z.looseObject({
  nodes: z.record(z.string(), z.string()),
  links: z.record(z.string(), z.string()).default({}),
  interfaces: z.record(z.string(), z.string()).default({}),
});
export type CmlLabElementState = z.infer<typeof LabElementStateSchema>;

/** One configuration file of a node (CML 2.7+ named configurations). */
const ConfigurationFileSchema = z.looseObject({ name: z.string(), content: z.string().nullable().optional() });

/**
 * A node's `configuration` as CML returns it (the main file's text, a single file, or every file) reduced
 * to the text of the main configuration: the file named "Main", else the first one; null when none.
 */
export const MainConfigurationSchema = z
  .union([z.string(), z.null(), z.array(ConfigurationFileSchema), ConfigurationFileSchema])
  .optional()
  .transform((c): string | null => {
    if (c === undefined || c === null) return null;
    if (typeof c === 'string') return c;
    const file = Array.isArray(c) ? (c.find((f) => f.name === 'Main') ?? c[0]) : c;
    return file?.content ?? null;
  });

/** A node read with its configuration (`GET /labs/{id}/nodes/{nid}?exclude_configurations=false`). */
export const NodeConfigurationSchema = z.looseObject({ id: z.string(), configuration: MainConfigurationSchema });

const TopologyInterfaceSchema = z.looseObject({
  id: z.string(),
  label: z.string().optional(),
  type: z.string().optional(),
  slot: z.number().nullable().optional(),
});

/** `GET /labs/{id}/topology` (TopologyResponse), reduced to what the control plane reads. */
export const LabTopologySchema = z
  .looseObject({
    lab: z.looseObject({
      version: z.string().optional(),
      title: z.string().optional(),
      description: z.string().optional(),
      notes: z.string().optional(),
    }),
    nodes: z.array(
      z.looseObject({
        id: z.string(),
        label: z.string(),
        node_definition: z.string(),
        configuration: MainConfigurationSchema,
        tags: z.array(z.string()).nullable().optional(),
        interfaces: z.array(TopologyInterfaceSchema).nullable().optional(),
      }),
    ),
    links: z.array(
      z.looseObject({
        id: z.string(),
        interface_a: z.string(),
        interface_b: z.string(),
        node_a: z.string().optional(),
        node_b: z.string().optional(),
        label: z.string().nullable().optional(),
      }),
    ),
  })
  .transform((t): CmlLabTopology => {
    const nodeOfInterface = new Map<string, string>();
    const nodes = t.nodes.map((n) => {
      const interfaces = (n.interfaces ?? []).map((i) => {
        nodeOfInterface.set(i.id, n.id);
        return { id: i.id, label: i.label ?? i.id, type: i.type ?? 'physical', slot: i.slot ?? null };
      });
      return { id: n.id, label: n.label, node_definition: n.node_definition, configuration: n.configuration, tags: n.tags ?? [], interfaces };
    });
    return {
      lab: { title: t.lab.title ?? '', description: t.lab.description ?? '', notes: t.lab.notes ?? '', version: t.lab.version ?? null },
      nodes,
      links: t.links.map((l) => ({
        id: l.id,
        label: l.label ?? null,
        interface_a: l.interface_a,
        interface_b: l.interface_b,
        node_a: l.node_a ?? nodeOfInterface.get(l.interface_a) ?? null,
        node_b: l.node_b ?? nodeOfInterface.get(l.interface_b) ?? null,
      })),
    };
  });

/** A lab's topology as the control plane sees it: server ids, nodes with their main configuration, links. */
export interface CmlLabTopology {
  lab: { title: string; description: string; notes: string; version: string | null };
  nodes: Array<{
    id: string;
    label: string;
    node_definition: string;
    /** Text of the main configuration, null when the node has none. */
    configuration: string | null;
    tags: string[];
    interfaces: Array<{ id: string; label: string; type: 'physical' | 'loopback' | (string & {}); slot: number | null }>;
  }>;
  links: Array<{ id: string; label: string | null; interface_a: string; interface_b: string; node_a: string | null; node_b: string | null }>;
}
