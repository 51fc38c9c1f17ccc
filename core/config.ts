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

  // --- Controllers (`lcm controller …`; `lcm up` sets these itself) -----------------------------------
  /** The gateway the controllers (and the operator CLI) talk to; default http://127.0.0.1:<LCM_GATEWAY_PORT>. */
  LCM_URL: z.string().url().optional(),
  /** Bearer token; the controllers need the `internal` scope. Default: LCM_ADMIN_TOKEN, then `.lcm/admin-token`. */
  LCM_TOKEN: z.string().min(1).optional(),
  /** Every controller re-lists this often, so a missed watch event only delays work. */
  LCM_CONTROLLER_RESYNC_SECONDS: z.coerce.number().min(1).default(30),
  /** resource-scheduler: capacity requests of this window are batched into one scale-up decision. */
  LCM_SCALE_UP_BATCH_MS: ms.default(250),
  /** worker-controller: a RUNNING worker without sessions for this long is drained and scaled down. */
  LCM_SCALE_DOWN_IDLE_SECONDS: z.coerce.number().min(0).default(300),
  /** worker-controller: at most one scale-down per this many seconds. */
  LCM_SCALE_DOWN_COOLDOWN_SECONDS: z.coerce.number().min(0).default(60),
  /** worker-controller: what an idle worker becomes: `terminate` (default) or `stop` (kept for a fast restart). */
  LCM_SCALE_DOWN_ACTION: z.enum(['terminate', 'stop']).default('terminate'),
  /** worker-controller: a worker not RUNNING this long after its request is failed. */
  LCM_WORKER_PROVISION_TIMEOUT_SECONDS: z.coerce.number().min(1).default(900),
  /** CML API on every worker: `<scheme>://<worker address>:<port>`, and its credentials. */
  LCM_CML_SCHEME: z.enum(['http', 'https']).default('https'),
  LCM_CML_PORT: port.default(443),
  LCM_CML_USERNAME: z.string().min(1).default('admin'),
  LCM_CML_PASSWORD: z.string().min(1).default('admin'),
  /** Smart-licensing token the worker-controller registers on new workers (none: licensing is left as it is). */
  LCM_CML_LICENSE_TOKEN: z.string().min(1).optional(),
  /** lablet-controller: the lab delivery system (LDS) and the grading engine. */
  LCM_LDS_URL: z.string().url().optional(),
  LCM_GRADING_URL: z.string().url().optional(),
  /** lablet-controller: how long a lab may take to boot, and a grading to finish, before the session is ended. */
  LCM_LAB_BOOT_TIMEOUT_SECONDS: z.coerce.number().min(1).default(600),
  LCM_GRADING_TIMEOUT_SECONDS: z.coerce.number().min(1).default(1800),
  /** Port of the CML simulator on every simulated EC2 instance (`lcm up`). */
  LCM_SIM_CML_PORT: port.default(8443),
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
