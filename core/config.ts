import { z } from 'zod';

/**
 * The environment every process reads (CONTRACT.md "Environment"), parsed once and validated with zod.
 * A bad value fails fast with every problem listed, not just the first.
 */
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(0);

export const EnvSchema = z.object({
  LCM_GATEWAY_PORT: port.default(4000),
  LCM_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LCM_MONGODB_URI: z.string().url().optional(),
  LCM_MONGODB_DB: z.string().min(1).default('lcm'),
  LCM_ETCD_ENDPOINTS: z
    .string()
    .transform((s) => s.split(',').map((e) => e.trim()).filter(Boolean))
    .pipe(z.array(z.string().url()).min(1))
    .optional(),
  LCM_SIM_EC2_BOOT_MS: ms.default(3000),
  LCM_SIM_CML_BOOT_MS: ms.default(2000),
  LCM_MIN_WORKERS: z.coerce.number().int().min(0).default(0),
  LCM_EC2_ENDPOINT: z.string().url().optional(),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  LCM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Secret that signs the identity header the gateway forwards to subgraphs. */
  LCM_INTERNAL_SECRET: z.string().min(16).optional(),
});
export type Env = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse and validate `source` (default `process.env`) against `schema`, listing every problem. */
export function parseConfig<S extends z.ZodType>(schema: S, source: Record<string, unknown> = process.env): z.infer<S> {
  // A variable set to the empty string means "not set" (as in `LCM_ADMIN_TOKEN= npm start`).
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return result.data;
}

let cached: Env | undefined;
export function env(): Env {
  cached ??= parseConfig(EnvSchema);
  return cached;
}
