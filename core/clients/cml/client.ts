/**
 * A typed client of the Cisco Modeling Labs 2.x REST API (`/api/v0`, research/cml-api.md), the one the
 * lablet-controller and worker-controller use against real CML workers and against the simulator.
 *
 * - Authentication: `POST /authenticate` → JWT, sent as `Authorization: Bearer`. Acquired lazily and
 *   shared by concurrent calls; refreshed shortly before its `exp`; on a 401 the client drops the token,
 *   re-authenticates once and replays the request once (as CML's own clients do).
 * - Resilience: every attempt has a timeout; 502/503 (the controller warming up behind nginx) and
 *   connection failures are retried with exponential backoff and jitter. A 4xx is never retried.
 *   Requests that change state and are not idempotent (POST, PATCH) are retried after a connection
 *   failure only when the request cannot have reached the server (connection refused, DNS, connect
 *   timeout).
 * - Errors: `CmlApiError` carries the HTTP status and CML's `{code, description}`; see errors.ts.
 * - Transport: undici with a keep-alive agent (one per client unless a dispatcher is shared).
 */
import { STATUS_CODES } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { silentLogger, type Logger } from '../../logging.ts';
import {
  CmlApiError,
  CmlAuthenticationError,
  CmlConnectionError,
  CmlError,
  CmlLicenseError,
  CmlNotConvergedError,
  CmlResponseError,
} from './errors.ts';
import { nodeExternalAccess, type NodeExternalAccess } from './external-access.ts';
import {
  ImageDefinitionSchema,
  ImportResultSchema,
  LabElementStateSchema,
  LabSchema,
  LabStateSchema,
  LabTopologySchema,
  LicensingStatusSchema,
  NodeConfigurationSchema,
  NodeDefinitionSchema,
  NodeSchema,
  SystemHealthSchema,
  SystemInformationSchema,
  SystemStatsSchema,
  TokenSchema,
  type CmlImageDefinition,
  type CmlImportResult,
  type CmlLab,
  type CmlLabElementState,
  type CmlLabState,
  type CmlLabTopology,
  type CmlLicensingStatus,
  type CmlNode,
  type CmlNodeDefinition,
  type CmlSystemHealth,
  type CmlSystemInformation,
  type CmlSystemStats,
} from './schemas.ts';

export interface CmlRetryOptions {
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First backoff delay (default 100 ms); doubles each retry, with jitter. */
  baseDelayMs?: number;
  /** Longest backoff delay (default 3000 ms). */
  maxDelayMs?: number;
}

export interface CmlClientOptions {
  /** The controller's root URL (`https://10.0.0.5`); `/api/v0` is appended unless already there. */
  baseUrl: string;
  username: string;
  password: string;
  /** Timeout of each attempt (default 30 000 ms). */
  timeoutMs?: number;
  retry?: CmlRetryOptions;
  /** Accept the controller's self-signed certificate (CML ships one). */
  insecureTls?: boolean;
  /** Share one undici dispatcher between clients; the client then does not close it. */
  dispatcher?: Dispatcher;
  logger?: Logger;
}

export interface WaitOptions {
  /** Give up after this long (default 600 000 ms). */
  timeoutMs?: number;
  /** Longest pause between polls (default 2000 ms). Polling starts fast and backs off up to this. */
  intervalMs?: number;
  /** First pause between polls (default 25 ms). */
  minIntervalMs?: number;
  signal?: AbortSignal;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface CallSpec<T> {
  method: Method;
  /** Path below `/api/v0`, e.g. `/labs`. */
  path: string;
  query?: Record<string, string | boolean | undefined>;
  json?: unknown;
  text?: { body: string; contentType?: string };
  /** Send the bearer token (default true). */
  auth?: boolean;
  /** Parse the JSON (or, with `responseText`, the text) body; without it the body is ignored. */
  schema?: z.ZodType<T>;
  responseText?: boolean;
  /** Overrides the method's idempotency for retries after a connection failure. */
  idempotent?: boolean;
  /** Overrides the client's retry count. */
  retries?: number;
  /** Overrides the client's per-attempt timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Node states in which nothing is in transition. */
const STEADY_NODE_STATES = new Set(['BOOTED', 'STOPPED', 'DEFINED_ON_CORE']);
/** Errors that mean the request never reached the server. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
/** Errors after which the server may or may not have processed the request. */
const TRANSFER_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

interface Token {
  value: string;
  /** When to get a new one before the server rejects it. */
  refreshAtMs: number;
}

export class CmlClient {
  readonly apiUrl: string;
  private readonly username: string;
  private readonly password: string;
  private readonly timeoutMs: number;
  private readonly retry: Required<CmlRetryOptions>;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly logger: Logger;
  private token: Token | null = null;
  private authInFlight: Promise<string> | null = null;
  private closing: Promise<void> | null = null;

  constructor(options: CmlClientOptions) {
    const root = options.baseUrl.replace(/\/+$/, '');
    this.apiUrl = root.endsWith('/api/v0') ? root : `${root}/api/v0`;
    this.username = options.username;
    this.password = options.password;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = {
      retries: options.retry?.retries ?? 5,
      baseDelayMs: options.retry?.baseDelayMs ?? 100,
      maxDelayMs: options.retry?.maxDelayMs ?? 3_000,
    };
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Agent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: options.insecureTls ? { rejectUnauthorized: false } : {},
      });
    this.logger = options.logger ?? silentLogger;
  }

  // ---- authentication -----------------------------------------------------------------------

  /** Gets a new token now (`POST /authenticate`) and uses it from then on. */
  authenticate(signal?: AbortSignal): Promise<string> {
    // One login shared by every caller; a caller's abort ends its own wait, not the shared login.
    this.authInFlight ??= this.login().finally(() => {
      this.authInFlight = null;
    });
    return abortable(this.authInFlight, signal);
  }

  /** Revokes the current token (`DELETE /logout`). */
  async logout(): Promise<void> {
    if (!this.token) return;
    await this.call({ method: 'DELETE', path: '/logout', retries: 0 }).catch((e: unknown) => {
      if (!(e instanceof CmlApiError && e.status === 401)) throw e;
    });
    this.token = null;
  }

  private async login(): Promise<string> {
    let value: string;
    try {
      value = await this.call({
        method: 'POST',
        path: '/authenticate',
        json: { username: this.username, password: this.password },
        auth: false,
        schema: TokenSchema,
        idempotent: true,
      });
    } catch (e) {
      if (e instanceof CmlApiError && (e.status === 401 || e.status === 403)) {
        throw new CmlAuthenticationError(e.status, e.code, e.description, e.method, e.path);
      }
      throw e;
    }
    this.token = { value, refreshAtMs: refreshTime(value) };
    return value;
  }

  private async currentToken(signal?: AbortSignal): Promise<string> {
    if (this.token && Date.now() < this.token.refreshAtMs) return this.token.value;
    return this.authenticate(signal);
  }

  /** After a 401 with `rejected`: get a new token unless another call already did. */
  private async reauthenticate(rejected: string, signal?: AbortSignal): Promise<void> {
    if (this.token?.value === rejected) this.token = null;
    if (!this.token) {
      this.logger.debug({ api: this.apiUrl }, 'CML token rejected; re-authenticating');
      await this.authenticate(signal);
    }
  }

  // ---- system --------------------------------------------------------------------------------

  /** `GET /system_information` (no authentication needed). */
  systemInformation(options: { signal?: AbortSignal; retries?: number } = {}): Promise<CmlSystemInformation> {
    return this.call({ method: 'GET', path: '/system_information', auth: false, schema: SystemInformationSchema, ...options });
  }

  /**
   * Whether the controller can serve the API and start nodes: false while the proxy answers 502/503 or
   * the server cannot be reached, otherwise `system_information.ready`. One attempt, no retries.
   */
  async isSystemReady(signal?: AbortSignal): Promise<boolean> {
    try {
      return (await this.systemInformation({ signal, retries: 0 })).ready;
    } catch (e) {
      if (e instanceof CmlConnectionError || (e instanceof CmlApiError && e.isNotReady)) return false;
      throw e;
    }
  }

  /** Polls `isSystemReady()` until true; throws `CmlError` at the deadline. */
  async waitForSystemReady(options: WaitOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    await this.poll(async () => ((await this.isSystemReady(options.signal)) ? true : undefined), options, async () =>
      new CmlError(`CML at ${this.apiUrl} was not ready within ${timeoutMs} ms`),
    );
  }

  systemStats(signal?: AbortSignal): Promise<CmlSystemStats> {
    return this.call({ method: 'GET', path: '/system_stats', schema: SystemStatsSchema, signal });
  }

  systemHealth(signal?: AbortSignal): Promise<CmlSystemHealth> {
    return this.call({ method: 'GET', path: '/system_health', schema: SystemHealthSchema, signal });
  }

  // ---- licensing -----------------------------------------------------------------------------

  licensing(signal?: AbortSignal): Promise<CmlLicensingStatus> {
    return this.call({ method: 'GET', path: '/licensing', schema: LicensingStatusSchema, signal });
  }

  /** Requests registration with a Smart Licensing token (asynchronous on the server: poll `licensing()`). */
  async registerLicense(token: string, options: { reregister?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    await this.call({
      method: 'POST',
      path: '/licensing/registration',
      json: { token, reregister: options.reregister ?? false },
      signal: options.signal,
    });
  }

  /** Polls `licensing()` until the registration is COMPLETED; throws `CmlLicenseError` on FAILED or at the deadline. */
  async waitForLicenseRegistration(options: WaitOptions = {}): Promise<CmlLicensingStatus> {
    const timeoutMs = options.timeoutMs ?? 120_000;
    let last = 'UNKNOWN';
    return this.poll(
      async () => {
        const status = await this.licensing(options.signal);
        last = status.registration.status;
        if (last === 'COMPLETED') return status;
        if (last === 'FAILED' || last === 'RETRY_FAILED') {
          throw new CmlLicenseError(`CML licence registration at ${this.apiUrl} failed (${last})`, last);
        }
        return undefined;
      },
      options,
      async () => new CmlLicenseError(`CML licence registration at ${this.apiUrl} did not complete within ${timeoutMs} ms (${last})`, last),
    );
  }

  /**
   * Deregisters the licence. `'local'` when only the local part succeeded (202: the Smart Software
   * Manager did not answer).
   */
  async deregisterLicense(signal?: AbortSignal): Promise<'deregistered' | 'local'> {
    const status = await this.callStatus({ method: 'DELETE', path: '/licensing/deregistration', signal });
    return status === 202 ? 'local' : 'deregistered';
  }

  // ---- definitions ---------------------------------------------------------------------------

  nodeDefinitions(signal?: AbortSignal): Promise<CmlNodeDefinition[]> {
    return this.call({ method: 'GET', path: '/node_definitions', schema: z.array(NodeDefinitionSchema), signal });
  }

  imageDefinitions(signal?: AbortSignal): Promise<CmlImageDefinition[]> {
    return this.call({ method: 'GET', path: '/image_definitions', schema: z.array(ImageDefinitionSchema), signal });
  }

  // ---- labs ----------------------------------------------------------------------------------

  /** Ids of all labs. */
  listLabs(signal?: AbortSignal): Promise<string[]> {
    return this.call({ method: 'GET', path: '/labs', query: { show_all: true }, schema: z.array(z.string()), signal });
  }

  getLab(labId: string, signal?: AbortSignal): Promise<CmlLab> {
    return this.call({ method: 'GET', path: `/labs/${enc(labId)}`, schema: LabSchema, signal });
  }

  /** Imports a topology (YAML text); the lab is created DEFINED_ON_CORE. A bad topology is a 400 `CmlApiError`. */
  importLab(topologyYaml: string, options: { title?: string; signal?: AbortSignal } = {}): Promise<CmlImportResult> {
    return this.call({
      method: 'POST',
      path: '/import',
      query: { title: options.title },
      // Sent as raw text without a content type, as CML's own Python client does.
      text: { body: topologyYaml },
      schema: ImportResultSchema,
      signal: options.signal,
    });
  }

  /** Starts every node (asynchronous: wait with `waitForConverged`). */
  async startLab(labId: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'PUT', path: `/labs/${enc(labId)}/start`, signal });
  }

  async stopLab(labId: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'PUT', path: `/labs/${enc(labId)}/stop`, signal });
  }

  /** Deletes the nodes' disks; the lab must be stopped (400 otherwise). */
  async wipeLab(labId: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'PUT', path: `/labs/${enc(labId)}/wipe`, signal });
  }

  /** Removes the lab; it must be stopped and wiped (400 otherwise). */
  async deleteLab(labId: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'DELETE', path: `/labs/${enc(labId)}`, signal });
  }

  labState(labId: string, signal?: AbortSignal): Promise<CmlLabState> {
    return this.call({ method: 'GET', path: `/labs/${enc(labId)}/state`, schema: LabStateSchema, signal });
  }

  checkIfConverged(labId: string, signal?: AbortSignal): Promise<boolean> {
    return this.call({ method: 'GET', path: `/labs/${enc(labId)}/check_if_converged`, schema: z.boolean(), signal });
  }

  labElementState(labId: string, signal?: AbortSignal): Promise<CmlLabElementState> {
    return this.call({ method: 'GET', path: `/labs/${enc(labId)}/lab_element_state`, schema: LabElementStateSchema, signal });
  }

  /** The topology of the lab as YAML (the import format: it can be imported again). */
  downloadLab(labId: string, signal?: AbortSignal): Promise<string> {
    return this.call({ method: 'GET', path: `/labs/${enc(labId)}/download`, schema: z.string(), responseText: true, signal });
  }

  /**
   * The lab's topology with the server's ids (`GET /labs/{id}/topology`): nodes with their definition
   * and the text of their main configuration, their interfaces, and the links between interfaces.
   */
  labTopology(labId: string, signal?: AbortSignal): Promise<CmlLabTopology> {
    return this.call({
      method: 'GET',
      path: `/labs/${enc(labId)}/topology`,
      query: { exclude_configurations: false },
      schema: LabTopologySchema,
      signal,
    });
  }

  /**
   * Polls `check_if_converged` until true (after start: every node BOOTED; after stop: STOPPED; after
   * wipe: DEFINED_ON_CORE). At the deadline throws `CmlNotConvergedError` naming the nodes still in
   * transition.
   */
  async waitForConverged(labId: string, options: WaitOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    await this.poll(
      async () => ((await this.checkIfConverged(labId, options.signal)) ? true : undefined),
      options,
      async () => {
        const nodes = await this.listNodes(labId, options.signal).catch(() => [] as CmlNode[]);
        const pending = nodes.filter((n) => !STEADY_NODE_STATES.has(n.state)).map((n) => ({ id: n.id, label: n.label, state: n.state }));
        return new CmlNotConvergedError(labId, timeoutMs, pending);
      },
    );
  }

  /** Stop → converged → wipe → converged (→ delete unless `keepLab`): the teardown order CML requires. */
  async teardownLab(labId: string, options: WaitOptions & { keepLab?: boolean } = {}): Promise<void> {
    await this.stopLab(labId, options.signal);
    await this.waitForConverged(labId, options);
    await this.wipeLab(labId, options.signal);
    await this.waitForConverged(labId, options);
    if (!options.keepLab) await this.deleteLab(labId, options.signal);
  }

  // ---- nodes ---------------------------------------------------------------------------------

  /** Every node of the lab with its state and operational data (consoles, compute). */
  listNodes(labId: string, signal?: AbortSignal): Promise<CmlNode[]> {
    return this.call({
      method: 'GET',
      path: `/labs/${enc(labId)}/nodes`,
      query: { data: true, operational: true, exclude_configurations: true },
      schema: z.array(NodeSchema),
      signal,
    });
  }

  getNode(labId: string, nodeId: string, signal?: AbortSignal): Promise<CmlNode> {
    return this.call({
      method: 'GET',
      path: `/labs/${enc(labId)}/nodes/${enc(nodeId)}`,
      query: { operational: true, exclude_configurations: true },
      schema: NodeSchema,
      signal,
    });
  }

  async startNode(labId: string, nodeId: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'PUT', path: `/labs/${enc(labId)}/nodes/${enc(nodeId)}/state/start`, signal });
  }

  async stopNode(labId: string, nodeId: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'PUT', path: `/labs/${enc(labId)}/nodes/${enc(nodeId)}/state/stop`, signal });
  }

  /**
   * Replaces a node's tags (PATty port tags included); they take effect when the node next starts.
   * Returns the updated node (CML 2.9 answers the PATCH with the node's id only, so it is read back).
   */
  async updateNodeTags(labId: string, nodeId: string, tags: readonly string[], signal?: AbortSignal): Promise<CmlNode> {
    await this.call({ method: 'PATCH', path: `/labs/${enc(labId)}/nodes/${enc(nodeId)}`, json: { tags }, idempotent: true, signal });
    return this.getNode(labId, nodeId, signal);
  }

  /**
   * Copies the running configuration of a BOOTED node into the node's `configuration`
   * (`PUT /labs/{id}/nodes/{nid}/extract_configuration`); read it with `nodeConfiguration`, or with the
   * lab in `downloadLab`. A node that is not running, or whose kind has no configuration (external
   * connectors, unmanaged switches), gets a 400 `CmlApiError` (`isBadRequest`). A real controller reads
   * the configuration over the node's console, so each attempt may take up to two minutes.
   */
  async extractConfiguration(labId: string, nodeId: string, signal?: AbortSignal): Promise<void> {
    await this.call({
      method: 'PUT',
      path: `/labs/${enc(labId)}/nodes/${enc(nodeId)}/extract_configuration`,
      timeoutMs: Math.max(this.timeoutMs, 120_000),
      signal,
    });
  }

  /**
   * The text of a node's main configuration (its day-0 configuration, or what `extractConfiguration`
   * copied there), or null when it has none. Reads the node with `exclude_configurations=false`.
   */
  async nodeConfiguration(labId: string, nodeId: string, signal?: AbortSignal): Promise<string | null> {
    const node = await this.call({
      method: 'GET',
      path: `/labs/${enc(labId)}/nodes/${enc(nodeId)}`,
      query: { exclude_configurations: false },
      schema: NodeConfigurationSchema,
      signal,
    });
    return node.configuration;
  }

  /** How each node of the lab is reached from outside (ports from `serial:`/`vnc:`/`pat:` tags). */
  async externalAccess(labId: string, signal?: AbortSignal): Promise<NodeExternalAccess[]> {
    return (await this.listNodes(labId, signal)).map(nodeExternalAccess);
  }

  /** Releases the keep-alive connections (when the client owns its dispatcher). */
  close(): Promise<void> {
    this.closing ??= this.ownsDispatcher ? this.dispatcher.close() : Promise.resolve();
    return this.closing;
  }

  // ---- transport -----------------------------------------------------------------------------

  private async call<T>(spec: CallSpec<T>): Promise<T> {
    return (await this.exchangeWithRetries(spec)).value;
  }

  /** For actions whose success status matters (204 vs 202). */
  private async callStatus(spec: CallSpec<unknown>): Promise<number> {
    return (await this.exchangeWithRetries(spec)).status;
  }

  private async exchangeWithRetries<T>(spec: CallSpec<T>): Promise<{ status: number; value: T }> {
    const retries = spec.retries ?? this.retry.retries;
    const idempotent = spec.idempotent ?? (spec.method !== 'POST' && spec.method !== 'PATCH');
    let reauthenticated = false;
    let attempt = 0;
    for (;;) {
      spec.signal?.throwIfAborted();
      const token = spec.auth === false ? null : await this.currentToken(spec.signal);
      let response: { status: number; body: string };
      try {
        response = await this.exchange(spec, token);
      } catch (e) {
        if (spec.signal?.aborted) throw spec.signal.reason;
        const failure = classifyFailure(e, spec.timeoutMs ?? this.timeoutMs);
        const retryable = failure.phase === 'connect' || (failure.phase === 'transfer' && idempotent);
        if (retryable && attempt < retries) {
          this.logger.debug({ method: spec.method, path: spec.path, reason: failure.reason, attempt }, 'CML request failed; retrying');
          await this.backoff(attempt++, spec.signal);
          continue;
        }
        throw new CmlConnectionError(spec.method, spec.path, failure.reason, e);
      }
      if (response.status === 401 && token !== null && !reauthenticated) {
        reauthenticated = true;
        await this.reauthenticate(token, spec.signal);
        continue;
      }
      if ((response.status === 502 || response.status === 503) && attempt < retries) {
        this.logger.debug({ method: spec.method, path: spec.path, status: response.status, attempt }, 'CML not ready; retrying');
        await this.backoff(attempt++, spec.signal);
        continue;
      }
      if (response.status >= 400) {
        const error = apiError(response.status, response.body, spec.method, spec.path);
        if (response.status === 401 && token !== null) {
          throw new CmlAuthenticationError(error.status, error.code, error.description, error.method, error.path);
        }
        throw error;
      }
      return { status: response.status, value: this.parse(spec, response.body) };
    }
  }

  private async exchange(spec: CallSpec<unknown>, token: string | null): Promise<{ status: number; body: string }> {
    const url = new URL(this.apiUrl + spec.path);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (spec.json !== undefined) {
      body = JSON.stringify(spec.json);
      headers['content-type'] = 'application/json';
    } else if (spec.text) {
      body = spec.text.body;
      if (spec.text.contentType) headers['content-type'] = spec.text.contentType;
    }
    const timeout = AbortSignal.timeout(spec.timeoutMs ?? this.timeoutMs);
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
    const res = await request(url, { method: spec.method, headers, body, dispatcher: this.dispatcher, signal });
    return { status: res.statusCode, body: await res.body.text() };
  }

  private parse<T>(spec: CallSpec<T>, body: string): T {
    if (!spec.schema) return undefined as T;
    let value: unknown = body;
    if (!spec.responseText) {
      try {
        value = JSON.parse(body);
      } catch {
        throw new CmlResponseError(spec.method, spec.path, `not JSON: ${body.slice(0, 120)}`);
      }
    }
    const parsed = spec.schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CmlResponseError(spec.method, spec.path, issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid');
    }
    return parsed.data;
  }

  private backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt);
    return sleep(ceiling / 2 + (Math.random() * ceiling) / 2, signal);
  }

  /** Calls `check` until it returns a value, pausing with growing intervals; `onTimeout` makes the error. */
  private async poll<T>(check: () => Promise<T | undefined>, options: WaitOptions, onTimeout: () => Promise<Error>): Promise<T> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    const maxInterval = options.intervalMs ?? 2_000;
    let interval = Math.min(options.minIntervalMs ?? 25, maxInterval);
    for (;;) {
      const result = await check();
      if (result !== undefined) return result;
      const left = deadline - Date.now();
      if (left <= 0) throw await onTimeout();
      await sleep(Math.min(interval, left), options.signal);
      interval = Math.min(interval * 2, maxInterval);
    }
  }
}

const enc = encodeURIComponent;

/** When to refresh a token: 30 s before `exp` (or a tenth of its lifetime if shorter); never if unknown. */
function refreshTime(jwt: string): number {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown; iat?: unknown };
    if (typeof payload.exp !== 'number') return Number.POSITIVE_INFINITY;
    const expMs = payload.exp * 1000;
    const lifetimeMs = typeof payload.iat === 'number' ? expMs - payload.iat * 1000 : 8 * 3600_000;
    return expMs - Math.min(30_000, Math.max(0, lifetimeMs / 10));
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function classifyFailure(e: unknown, timeoutMs: number): { phase: 'connect' | 'transfer' | null; reason: string } {
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string } } | undefined;
  const code = err?.code ?? err?.cause?.code;
  if (err?.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return { phase: 'transfer', reason: `no answer within ${timeoutMs} ms` };
  }
  if (code && CONNECT_CODES.has(code)) return { phase: 'connect', reason: `cannot connect (${code})` };
  if (code && TRANSFER_CODES.has(code)) return { phase: 'transfer', reason: `connection lost (${code})` };
  return { phase: null, reason: err?.message ?? String(e) };
}

function apiError(status: number, body: string, method: string, path: string): CmlApiError {
  let code = status;
  let description = '';
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === 'string') description = parsed;
    else if (parsed && typeof parsed === 'object') {
      const o = parsed as { code?: unknown; description?: unknown; detail?: unknown };
      if (typeof o.code === 'number') code = o.code;
      if (typeof o.description === 'string') description = o.description;
      else description = JSON.stringify(o.detail ?? o).slice(0, 500);
    }
  } catch {
    const title = /<title>([^<]*)<\/title>/i.exec(body)?.[1]?.trim();
    description = title ?? body.trim().slice(0, 200);
  }
  return new CmlApiError(status, code, description || STATUS_CODES[status] || 'error', method, path);
}

/** `promise`, or the abort reason of `signal` if it aborts first. */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
