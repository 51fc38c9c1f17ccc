import { z } from 'zod';

/**
 * The environment every process reads (CONTRACT.md "Environment"), parsed once at each role's start
 * and validated with zod: a bad value fails fast with every problem listed, not just the first. This
 * schema is the only place the code reads variables from; README's configuration table is rendered from
 * it (`npm run docs:config`) and a test keeps the two equal.
 */
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(0);
const seconds = z.coerce.number().min(0);
const url = z.string().url();
/** A web origin, `http(s)://host[:port]` with no path (`*` is not one), as browsers send it in `Origin`. */
const origin = z.string().transform((value, ctx) => {
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.pathname !== '/' || parsed.search || parsed.hash || parsed.username || parsed.password) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not an origin: http(s)://host[:port], no path` });
    return z.NEVER;
  }
  return parsed.origin;
});
/** `true`/`false` (also 1/0, yes/no, on/off). */
const flag = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']))
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

export const EnvSchema = z.object({
  // --- Every process ---------------------------------------------------------------------------------
  LCM_GATEWAY_PORT: port.default(4000).describe('gateway HTTP + WebSocket port'),
  LCM_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional().describe('bootstrap token with every scope (default: generated once into `.lcm/admin-token`)'),
  LCM_MONGODB_URI: url.optional().describe('use MongoDB instead of the embedded store'),
  LCM_MONGODB_DB: z.string().min(1).default('lcm').describe('MongoDB database name'),
  LCM_MONGODB_WRITE_LOCKS: flag
    .default(false)
    .describe(
      'subgraphs: take a per-document lock in etcd (`LCM_ETCD_ENDPOINTS`) around each conditional write; only for a MongoDB-compatible server whose filtered replace is not atomic (FerretDB v1) shared by several replicas of a subgraph. MongoDB never needs it (docs/adr/0015-atomic-test-store.md)',
    ),
  LCM_ETCD_ENDPOINTS: z
    .string()
    .transform((s) => s.split(',').map((e) => e.trim()).filter(Boolean))
    .pipe(z.array(z.string().url()).min(1))
    .optional()
    .describe('comma-separated etcd endpoints instead of the embedded store'),
  LCM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('log level'),
  LCM_INTERNAL_SECRET: z.string().min(16).optional().describe('signs the identity the gateway forwards to subgraphs (default: generated once into `.lcm/internal-secret`)'),

  // --- Tracing (standard OpenTelemetry names; docs/operations.md "Tracing") ---------------------------
  OTEL_EXPORTER_OTLP_ENDPOINT: url
    .optional()
    .describe('turns tracing on: spans go to this OTLP/HTTP collector (`/v1/traces` appended); the SDK reads the other `OTEL_EXPORTER_OTLP_*` variables (headers, timeout) itself'),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url.optional().describe('turns tracing on: the full OTLP/HTTP traces URL (wins over `OTEL_EXPORTER_OTLP_ENDPOINT`)'),
  OTEL_SDK_DISABLED: flag.default(false).describe('`true`: no tracing even with an endpoint set'),
  OTEL_SERVICE_NAME: z.string().min(1).optional().describe('service name of the spans (default `lcm-<role>`, `lcm` for `lcm up`)'),

  // --- Gateway ---------------------------------------------------------------------------------------
  LCM_SUBGRAPH_URLS: z.string().optional().describe('`lcm gateway`: subgraph URLs, `name=url,…` (default 127.0.0.1:4001–4004)'),
  LCM_GATEWAY_INTROSPECTION: flag.default(true).describe('serve schema introspection'),
  LCM_OIDC_ISSUER: url.optional().describe('accept OIDC JWTs from this issuer (with `LCM_OIDC_AUDIENCE`)'),
  LCM_OIDC_AUDIENCE: z.string().min(1).optional().describe('audience OIDC JWTs must carry'),
  LCM_OIDC_JWKS_URL: url.optional().describe("the issuer's JWKS (default: from its discovery document)"),
  LCM_CORS_ORIGINS: z
    .string()
    .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(origin).min(1))
    .optional()
    .describe('browser pages on these origins (comma-separated, e.g. `https://app.example.com`) may call `/graphql` (CORS); unset: no CORS headers'),

  // --- Subgraphs -------------------------------------------------------------------------------------
  LCM_WORKER_TEMPLATES_FILE: z.string().min(1).optional().describe('worker templates seeded at start (default `subgraphs/workers/worker-templates.yaml`)'),

  // --- Controllers (`lcm controller …`; `lcm up` sets the endpoints itself) ----------------------------
  LCM_URL: url.optional().describe('the gateway the controllers and the operator CLI call (default `http://127.0.0.1:<LCM_GATEWAY_PORT>`)'),
  LCM_TOKEN: z.string().min(1).optional().describe('bearer token of the controllers (`internal` scope) and the CLI (default: the admin token)'),
  LCM_CONTROLLER_RESYNC_SECONDS: z.coerce.number().min(1).default(30).describe('controllers re-list this often, so a missed watch event only delays work'),
  LCM_CONTROLLER_WATCH: flag.default(true).describe('controllers are woken by watches on the status projections; `false`: only their re-lists and own timers wake them (the original\'s polling, for comparison)'),
  LCM_MIN_WORKERS: z.coerce.number().int().min(0).default(0).describe('workers kept running when idle'),
  LCM_SCALE_UP_BATCH_MS: ms.default(250).describe('resource-scheduler: capacity requests of this window are decided together'),
  LCM_SCALE_DOWN_IDLE_SECONDS: seconds.default(300).describe('worker-controller: a worker without sessions this long is drained and scaled down'),
  LCM_SCALE_DOWN_COOLDOWN_SECONDS: seconds.default(60).describe('worker-controller: at most one scale-down per this many seconds'),
  LCM_SCALE_DOWN_ACTION: z.enum(['terminate', 'stop']).default('terminate').describe('worker-controller: what an idle worker becomes (`terminate` or `stop`)'),
  LCM_WORKER_PROVISION_TIMEOUT_SECONDS: z.coerce.number().min(1).default(900).describe('worker-controller: a worker not RUNNING this long after its request is failed'),
  LCM_EC2_ENDPOINT: url.optional().describe('endpoint for `@aws-sdk/client-ec2` (any EC2-compatible API; default AWS, or the embedded simulator under `lcm up`)'),
  AWS_REGION: z.string().min(1).default('us-east-1').describe('EC2 region'),
  LCM_CML_SCHEME: z.enum(['http', 'https']).default('https').describe('scheme of the CML API on every worker'),
  LCM_CML_PORT: port.default(443).describe('port of the CML API on every worker'),
  LCM_CML_USERNAME: z.string().min(1).default('admin').describe('CML API user'),
  LCM_CML_PASSWORD: z.string().min(1).default('admin').describe('CML API password'),
  LCM_CML_LICENSE_TOKEN: z.string().min(1).optional().describe('smart-licensing token registered on new workers (unset: licensing left as it is)'),
  LCM_LDS_URL: url.optional().describe('lablet-controller: the lab delivery system (LDS)'),
  LCM_GRADING_URL: url.optional().describe('lablet-controller: the grading engine'),
  LCM_LAB_BOOT_TIMEOUT_SECONDS: z.coerce.number().min(1).default(600).describe('lablet-controller: how long a lab may take to boot'),
  LCM_GRADING_TIMEOUT_SECONDS: z.coerce.number().min(1).default(1800).describe('lablet-controller: how long a grading may take'),
  LCM_EVENTS_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe('lablet-controller: bearer token every sender to `POST /events` (LDS, the grading engine, their simulators) must present as `Authorization: Bearer <token>` (default: HMAC-SHA256 of the internal secret with `lcm-events`, in hex, so the roles of one installation agree)'),

  // --- Simulators (`lcm up`, `lcm sim …`) ------------------------------------------------------------
  LCM_SIM_EC2_BOOT_MS: ms.default(3000).describe('simulated EC2 instance boot time'),
  LCM_SIM_CML_BOOT_MS: ms.default(2000).describe('simulated CML lab boot time (all nodes BOOTED)'),
  LCM_SIM_CML_PORT: port.default(8443).describe('port of the CML simulator on every simulated EC2 instance'),
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
/** The process's configuration, parsed once (the first call validates and throws a ConfigError listing every problem). */
export function env(): Env {
  cached ??= parseConfig(EnvSchema);
  return cached;
}

/** README's configuration table, rendered from the schema (`npm run docs:config` writes it). */
export function configTable(): string {
  const rows = Object.entries(EnvSchema.shape).map(([name, field]) => {
    const description = field.description ?? '';
    const parsed = field.safeParse(undefined);
    const fallback = parsed.success && parsed.data !== undefined ? `\`${Array.isArray(parsed.data) ? parsed.data.join(',') : String(parsed.data)}\`` : '—';
    return `| \`${name}\` | ${description} | ${fallback} |`;
  });
  return ['| variable | meaning | default |', '|---|---|---|', ...rows].join('\n');
}
