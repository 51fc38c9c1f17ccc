/**
 * The system under measurement: `startSystem` (cli/system.ts) in this process — gateway, four
 * subgraphs, simulators and the three controllers — on the embedded default or on etcd + FerretDB
 * (started once per run with the test suite's helpers, each system in its own etcd namespace and
 * database), plus the few GraphQL calls the benchmark makes through the gateway, as a client would.
 */
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { EnvSchema, parseConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/logging.ts';
import { DEFAULT_PORT_RANGE } from '../../core/domain/tcp-ports.ts';
import { freePort, startEtcd, startFerretDb, type TestService } from '../../test/support/services.ts';
import type { SessionNeed, WorkerOffer } from './lower-bound.ts';

export type StoreKind = 'embedded' | 'etcd+ferretdb';

export const ADMIN_TOKEN = 'bench-control-loop-admin-token-0123456789';

/** The template every bench system provisions from (the others are disabled), and its capacity. */
export const TEMPLATE = 'metal';

/** The stores a run uses: nothing for the embedded default; one etcd and one FerretDB otherwise. */
export interface Backing {
  kind: StoreKind;
  systemOptions(label: string): { etcdEndpoints?: string[]; etcdNamespace?: string; mongoUri?: string; mongoDb?: string };
  stop(): Promise<void>;
}

let serial = 0;

export async function startBacking(kind: StoreKind): Promise<Backing> {
  if (kind === 'embedded') return { kind, systemOptions: () => ({}), stop: async () => {} };
  const services: TestService[] = [];
  try {
    services.push(await startEtcd());
    services.push(await startFerretDb());
  } catch (e) {
    await Promise.allSettled(services.map((s) => s.stop()));
    throw e;
  }
  const [etcd, ferret] = services as [TestService, TestService];
  return {
    kind,
    systemOptions: (label) => {
      const id = `${label.replace(/[^a-z0-9]/gi, '_')}_${process.pid}_${++serial}`;
      return { etcdEndpoints: [etcd.url], etcdNamespace: `/bench/${id}`, mongoUri: ferret.url, mongoDb: `bench_${id}` };
    },
    async stop() {
      await Promise.allSettled(services.map((s) => s.stop()));
    },
  };
}

export interface BenchSystem {
  system: RunningSystem;
  api: Api;
  stop(): Promise<void>;
}

/**
 * A whole system with zero-delay simulators (EC2 boot, CML boot; LDS and grading answer at once by
 * default). `watch: false` is LCM_CONTROLLER_WATCH=false: the controllers are woken only by their
 * re-lists every LCM_CONTROLLER_RESYNC_SECONDS and their own timers.
 */
export async function startBenchSystem(backing: Backing, label: string, options: { watch: boolean; resyncSeconds: number }): Promise<BenchSystem> {
  const config = parseConfig(EnvSchema, {
    // Its own CML port, so that systems can run side by side (the polling runs).
    LCM_SIM_CML_PORT: String(await freePort()),
    LCM_SIM_EC2_BOOT_MS: '0',
    LCM_SIM_CML_BOOT_MS: '0',
    LCM_CONTROLLER_WATCH: String(options.watch),
    LCM_CONTROLLER_RESYNC_SECONDS: String(options.resyncSeconds),
    LCM_LOG_LEVEL: 'silent',
  });
  const system = await startSystem({
    gatewayPort: 0,
    adminToken: ADMIN_TOKEN,
    logger: silentLogger,
    ec2BootMs: 0,
    cmlBootMs: 0,
    config,
    ...backing.systemOptions(label),
  });
  const api = new Api(system.gatewayUrl, ADMIN_TOKEN);
  try {
    await api.onlyTemplate(TEMPLATE);
  } catch (e) {
    await system.stop();
    throw e;
  }
  return { system, api, stop: () => system.stop() };
}

const here = new URL('.', import.meta.url);
const DEFINITION = parse(readFileSync(new URL('../../examples/two-routers.yaml', here), 'utf8')) as {
  name: string;
  version: string;
  resourceRequirements: { cpuCores: number; memoryGb: number; storageGb: number; nodeCount: number };
  portTemplate: Array<{ name: string; protocol: string }>;
  labYamlFile: string;
};
const LAB_YAML = readFileSync(new URL(`../../examples/${DEFINITION.labYamlFile}`, here), 'utf8');
const TEMPLATES = parse(readFileSync(new URL('../../subgraphs/workers/worker-templates.yaml', here), 'utf8')) as {
  templates: Array<{ name: string; capacity: { cpuCores: number; memoryGb: number; storageGb: number; maxNodes: number }; licenseType: string; enabled: boolean }>;
};

/** What one session of the bench definition (examples/two-routers.yaml) asks of a worker. */
export const SESSION_NEED: SessionNeed = { ...DEFINITION.resourceRequirements, ports: DEFINITION.portTemplate.length };

/** What one worker of TEMPLATE offers. */
export const WORKER_OFFER: WorkerOffer = (() => {
  const t = TEMPLATES.templates.find((x) => x.name === TEMPLATE);
  if (!t) throw new Error(`no template ${TEMPLATE} in worker-templates.yaml`);
  return { ...t.capacity, licenseType: t.licenseType, ports: DEFAULT_PORT_RANGE.max - DEFAULT_PORT_RANGE.min + 1 };
})();

interface GraphQLAnswer<T> {
  data?: T;
  errors?: Array<{ message: string }>;
}

export interface ReadySession {
  id: string;
  /** When it became READY (its status history), epoch ms. */
  readyAt: number;
}

/** The GraphQL calls of the benchmark, through the gateway with the admin token. */
export class Api {
  constructor(
    private readonly gatewayUrl: string,
    private readonly token: string,
  ) {}

  async request<T>(query: string, variables: Record<string, unknown> = {}, internal = false): Promise<T> {
    const res = await fetch(`${this.gatewayUrl}/${internal ? 'internal/graphql' : 'graphql'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ query, variables }),
    });
    const answer = (await res.json()) as GraphQLAnswer<T>;
    if (answer.errors?.length || !answer.data) throw new Error(`GraphQL errors: ${JSON.stringify(answer.errors ?? answer)}`);
    return answer.data;
  }

  /** Keep `name` as the only enabled template (upserting the seeded file), so the lower bound has one capacity. */
  async onlyTemplate(name: string): Promise<void> {
    const yaml = stringify({ templates: TEMPLATES.templates.map((t) => ({ ...t, enabled: t.name === name })) });
    await this.request(`mutation($yaml: String!) { seedWorkerTemplates(yaml: $yaml) { name } }`, { yaml }, true);
  }

  async createDefinition(name: string): Promise<string> {
    const d = await this.request<{ createDefinition: { id: string } }>(
      `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`,
      {
        input: {
          name,
          version: DEFINITION.version,
          labYaml: LAB_YAML,
          resourceRequirements: DEFINITION.resourceRequirements,
          portTemplate: DEFINITION.portTemplate,
          bootLeadTimeMinutes: 0,
        },
      },
    );
    return d.createDefinition.id;
  }

  async createSession(definitionId: string, owner: string): Promise<string> {
    const d = await this.request<{ createSession: { id: string } }>(`mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }`, {
      input: { definitionId, owner },
    });
    return d.createSession.id;
  }

  async requestWorker(name: string): Promise<string> {
    const d = await this.request<{ requestWorker: { id: string } }>(
      `mutation($input: RequestWorkerInput!) { requestWorker(input: $input) { id } }`,
      { input: { templateName: TEMPLATE, name, requestKey: `bench:${name}` } },
      true,
    );
    return d.requestWorker.id;
  }

  /** Every worker: status and whether its CML has been observed (placement waits for that). */
  async workers(): Promise<Array<{ id: string; status: string; cmlVersion: string | null }>> {
    const out: Array<{ id: string; status: string; cmlVersion: string | null }> = [];
    let after: string | undefined;
    for (;;) {
      const d = await this.request<{ workers: { edges: Array<{ node: { id: string; status: string; cmlVersion: string | null } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
        `query($after: String) { workers(first: 500, after: $after) { edges { node { id status cmlVersion } } pageInfo { hasNextPage endCursor } } }`,
        after ? { after } : {},
      );
      out.push(...d.workers.edges.map((e) => e.node));
      if (!d.workers.pageInfo.hasNextPage || !d.workers.pageInfo.endCursor) return out;
      after = d.workers.pageInfo.endCursor;
    }
  }

  async countSessions(statuses: string[]): Promise<number> {
    const d = await this.request<{ sessions: { totalCount: number } }>(`query($s: [LabletSessionStatus!]) { sessions(first: 1, filter: { statuses: $s }) { totalCount } }`, { s: statuses });
    return d.sessions.totalCount;
  }

  async sessionStatus(id: string): Promise<string> {
    const d = await this.request<{ session: { status: string } | null }>(`query($id: ID!) { session(id: $id) { status } }`, { id });
    return d.session?.status ?? 'GONE';
  }

  /** Every READY session with the time it became READY, read from its status history. */
  async readySessions(): Promise<ReadySession[]> {
    const out: ReadySession[] = [];
    let after: string | undefined;
    for (;;) {
      const d = await this.request<{
        sessions: { edges: Array<{ node: { id: string; statusHistory: Array<{ to: string; at: string }> } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
      }>(
        `query($after: String) { sessions(first: 500, after: $after, filter: { statuses: [READY] }) { edges { node { id statusHistory { to at } } } pageInfo { hasNextPage endCursor } } }`,
        after ? { after } : {},
      );
      for (const { node } of d.sessions.edges) {
        const ready = node.statusHistory.find((t) => t.to === 'READY');
        if (ready) out.push({ id: node.id, readyAt: Date.parse(ready.at) });
      }
      if (!d.sessions.pageInfo.hasNextPage || !d.sessions.pageInfo.endCursor) return out;
      after = d.sessions.pageInfo.endCursor;
    }
  }

  /** Why the first TERMINATED session ended (for an error message), if any. */
  async firstTerminationReason(): Promise<string | undefined> {
    const d = await this.request<{ sessions: { edges: Array<{ node: { statusHistory: Array<{ to: string; reason: string | null }> } }> } }>(
      `{ sessions(first: 1, filter: { statuses: [TERMINATED] }) { edges { node { statusHistory { to reason } } } } }`,
    );
    return d.sessions.edges[0]?.node.statusHistory.at(-1)?.reason ?? undefined;
  }
}
