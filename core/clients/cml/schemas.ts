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
