/**
 * The Helm chart (deploy/helm/lcm), checked without a cluster: `helm lint --strict` and `helm template`
 * with the default values and with every feature on (deploy/helm/lcm/ci/all-features-values.yaml);
 * every rendered object is validated against the Kubernetes API schemas (the `kubernetes-models`
 * packages: the published OpenAPI schemas compiled to validators, prometheus-operator's CRD for the
 * ServiceMonitor), then against what LCM needs: every role a real `lcm` role with arguments it
 * accepts, probes on the role's own port, only variables core/config.ts reads (and they parse there),
 * two replicas per controller, Services and the Ingress pointing at real ports, and no secret in the
 * ConfigMap. A broken chart fails here: the negative cases render invalid values and expect the checks
 * to say so.
 *
 * Needs the helm binary (scripts/install-test-services.sh builds it with Go into
 * $LCM_TOOLS_DIR/bin, default ~/.cache/lcm-tools/bin; LCM_HELM_BIN overrides), hence `.int.`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/main.ts';
import { EnvSchema, parseConfig } from '../../core/config.ts';
import { parseWorkerTemplates } from '../../subgraphs/workers/domain/worker-template.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(ROOT, 'deploy', 'helm', 'lcm');
const ALL_FEATURES = join(CHART, 'ci', 'all-features-values.yaml');
const RELEASE = 'lcm';
const NAMESPACE = 'lcm-test';

function helmBinary(): string {
  const dir = process.env.LCM_TOOLS_DIR ?? join(homedir(), '.cache', 'lcm-tools');
  const bin = [process.env.LCM_HELM_BIN ?? '', join(dir, 'bin', 'helm')].find((c) => c && existsSync(c));
  if (!bin) throw new Error('helm is not installed: run scripts/install-test-services.sh');
  return bin;
}

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(helmBinary(), args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A rendered Kubernetes object (only the fields the checks read are typed). */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean };
  containers: Container[];
  volumes?: { name: string; emptyDir?: object }[];
}
interface Deployment extends K8sObject {
  spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Service extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: number | string }[] };
}

/** The model class of each apiVersion + kind the chart may render; anything else is a failure. */
const MODULES: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'policy/v1': policy,
  'networking.k8s.io/v1': networking,
  'monitoring.coreos.com/v1': monitoring,
};

/** Every problem the Kubernetes API schemas find in `objects` ("Kind/name: message"). */
function schemaProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const obj of objects) {
    const id = `${obj.kind}/${obj.metadata?.name}`;
    const Model = MODULES[obj.apiVersion]?.[obj.kind] as (new (data: unknown) => { validate(): void }) | undefined;
    if (typeof Model !== 'function') {
      problems.push(`${id}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${id}: ${(e as Error).message}`);
    }
  }
  return problems;
}

function render(args: string[] = []): K8sObject[] {
  const r = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...args]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

const ROLES: Record<string, { command: string; name?: string; port: number }> = {
  gateway: { command: 'gateway', port: 4000 },
  definitions: { command: 'subgraph', name: 'definitions', port: 4001 },
  workers: { command: 'subgraph', name: 'workers', port: 4002 },
  sessions: { command: 'subgraph', name: 'sessions', port: 4003 },
  'score-reports': { command: 'subgraph', name: 'score-reports', port: 4004 },
  'resource-scheduler': { command: 'controller', name: 'resource-scheduler', port: 4011 },
  'lablet-controller': { command: 'controller', name: 'lablet-controller', port: 4012 },
  'worker-controller': { command: 'controller', name: 'worker-controller', port: 4013 },
};
/** Variables the AWS SDK reads itself; every other variable must be LCM's own. */
const AWS_SDK_VARIABLES = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
const SECRET_KEYS = new Set([
  'LCM_ADMIN_TOKEN', 'LCM_INTERNAL_SECRET', 'LCM_MONGODB_URI', 'LCM_TOKEN', 'LCM_EVENTS_TOKEN', 'LCM_OIDC_ISSUER', 'LCM_OIDC_AUDIENCE',
  'LCM_OIDC_JWKS_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'LCM_CML_PASSWORD', 'LCM_CML_LICENSE_TOKEN',
]);

const byKind = <T extends K8sObject>(objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind) as T[];
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const decode = (data: Record<string, string> = {}) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

/** What LCM needs of the rendered objects; every problem found, as sentences. */
function lcmProblems(objects: K8sObject[], opts: { controllerReplicas?: number } = {}): string[] {
  const problems: string[] = [];
  const check = (ok: unknown, problem: string) => {
    if (!ok) problems.push(problem);
  };
  const program = buildProgram();
  const known = new Set(Object.keys(EnvSchema.shape));
  const deployments = byKind<Deployment>(objects, 'Deployment');
  const services = byKind<Service>(objects, 'Service');
  const configMaps = byKind<K8sObject & { data?: Record<string, string> }>(objects, 'ConfigMap');
  const secrets = byKind<K8sObject & { data?: Record<string, string> }>(objects, 'Secret');
  // The ConfigMap every role reads (envFrom); the worker templates' is mounted as a file instead.
  const envConfigMaps = new Set(deployments.flatMap((d) => (d.spec.template.spec.containers[0]?.envFrom ?? []).map((e) => e.configMapRef?.name)));
  check(envConfigMaps.size === 1, `every role should read the one settings ConfigMap, got ${[...envConfigMaps].join(', ')}`);
  const settings = configMaps.find((c) => envConfigMaps.has(c.metadata.name));
  check(settings, `the ConfigMap the roles read (${[...envConfigMaps].join(', ')}) is not rendered`);
  const config = settings?.data ?? {};
  const secretValues = Object.values(decode(secrets[0]?.data)).filter((v) => v.length >= 8);

  // Recommended labels on every object.
  for (const o of objects) {
    for (const label of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
      check(o.metadata.labels?.[label], `${o.kind}/${o.metadata.name}: no ${label} label`);
    }
  }

  // The ConfigMap: LCM's variables only, valid for core/config.ts, and no secret.
  for (const key of Object.keys(config)) {
    check(known.has(key), `ConfigMap: ${key} is not a variable LCM reads (core/config.ts)`);
    check(!SECRET_KEYS.has(key), `ConfigMap: ${key} is a secret`);
  }
  for (const [key, value] of Object.entries(config)) {
    for (const secret of secretValues) check(!value.includes(secret), `ConfigMap: ${key} contains a value of the Secret`);
  }
  try {
    parseConfig(EnvSchema, { ...Object.fromEntries(Object.entries(config).filter(([k]) => known.has(k))), ...Object.fromEntries(Object.entries(decode(secrets[0]?.data)).filter(([k]) => known.has(k))) });
  } catch (e) {
    problems.push(`ConfigMap and Secret do not parse with core/config.ts: ${(e as Error).message}`);
  }
  for (const key of Object.keys(secrets[0]?.data ?? {})) check(SECRET_KEYS.has(key), `Secret: ${key} is not one of the chart's secret keys`);
  for (const key of SECRET_KEYS) check(known.has(key) || AWS_SDK_VARIABLES.has(key), `secret key ${key} is not a variable LCM (or the AWS SDK) reads`);

  // One Deployment per role, each a real `lcm` role with arguments it accepts.
  const roles = new Map<string, Deployment>();
  for (const d of deployments) {
    const role = d.metadata.labels?.['app.kubernetes.io/component'] ?? '';
    roles.set(role, d);
    const id = `Deployment/${d.metadata.name}`;
    const expected = ROLES[role];
    if (!expected) {
      problems.push(`${id}: unknown role "${role}"`);
      continue;
    }
    check(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${id}: the selector does not select its own pods`);
    const [container, ...others] = d.spec.template.spec.containers;
    check(container && others.length === 0, `${id}: one container expected`);
    if (!container) continue;
    const args = container.args ?? [];
    const [command, ...rest] = args;
    const cmd = program.commands.find((c: Command) => c.name() === command);
    check(cmd, `${id}: "${command}" is not an lcm command`);
    const positional = rest.filter((a, i) => !a.startsWith('--') && !(rest[i - 1] ?? '').startsWith('--'));
    for (const [i, arg] of cmd?.registeredArguments.entries() ?? []) {
      try {
        arg.parseArg?.(positional[i] as string, undefined);
      } catch (e) {
        problems.push(`${id}: lcm ${command} ${positional[i]}: ${(e as Error).message}`);
      }
    }
    const flags = new Set(cmd?.options.map((o) => o.long));
    for (const flag of rest.filter((a) => a.startsWith('--'))) check(flags.has(flag), `${id}: lcm ${command} has no ${flag}`);
    check(command === expected.command && positional[0] === expected.name, `${id}: runs "${args.join(' ')}", not the ${role} role`);
    const port = Number(rest[rest.indexOf('--port') + 1]);
    check(rest.includes('--port') && port === expected.port, `${id}: --port ${port}, expected ${expected.port}`);
    check(rest[rest.indexOf('--host') + 1] === '0.0.0.0', `${id}: must listen on 0.0.0.0 (--host), or no probe or Service reaches it`);
    const portNames = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
    check((container.ports ?? []).some((p) => p.containerPort === port), `${id}: no containerPort ${port}`);
    const probePort = (p: Probe | undefined) => (typeof p?.httpGet?.port === 'string' ? portNames.get(p.httpGet.port) : p?.httpGet?.port);
    check(container.livenessProbe?.httpGet?.path === '/healthz' && probePort(container.livenessProbe) === port, `${id}: the liveness probe is not /healthz on port ${port}`);
    check(container.readinessProbe?.httpGet?.path === '/readyz' && probePort(container.readinessProbe) === port, `${id}: the readiness probe is not /readyz on port ${port}`);
    if (container.startupProbe) check(probePort(container.startupProbe) === port, `${id}: the startup probe is not on port ${port}`);

    // Its environment: the ConfigMap and the Secret's keys, every name one LCM (or the AWS SDK) reads.
    check(container.envFrom?.some((e) => e.configMapRef?.name === settings?.metadata.name), `${id}: does not read the ConfigMap`);
    for (const e of container.env ?? []) {
      check(known.has(e.name) || AWS_SDK_VARIABLES.has(e.name), `${id}: sets ${e.name}, which LCM does not read`);
      check(e.value === undefined, `${id}: ${e.name} has a literal value (settings go in the ConfigMap, secrets in the Secret)`);
      const ref = e.valueFrom?.secretKeyRef;
      check(ref && SECRET_KEYS.has(ref.key) && ref.key === e.name, `${id}: ${e.name} is not taken from the Secret key of the same name`);
      if (ref && secrets[0]) check(ref.name === secrets[0].metadata.name, `${id}: ${e.name} refers to Secret ${ref.name}, not the chart's`);
      if (ref && secrets[0] && !ref.optional) check(ref.key in (secrets[0].data ?? {}), `${id}: required Secret key ${ref.key} is not in the chart's Secret`);
    }
    const names = new Set((container.env ?? []).map((e) => e.name));
    if (role !== 'worker-controller') for (const aws of AWS_SDK_VARIABLES) check(!names.has(aws), `${id}: gets ${aws} (only the worker-controller calls AWS)`);
    if (ROLES[role]?.command !== 'controller') check(names.has('LCM_INTERNAL_SECRET'), `${id}: no LCM_INTERNAL_SECRET (the gateway signs identities with it, subgraphs check them)`);
    if (ROLES[role]?.command !== 'controller') check(names.has('LCM_MONGODB_URI'), `${id}: no LCM_MONGODB_URI`);

    // Hardening.
    const pod = d.spec.template.spec;
    check(pod.securityContext?.runAsNonRoot === true, `${id}: runAsNonRoot is not set`);
    check(container.securityContext?.readOnlyRootFilesystem === true, `${id}: the root filesystem is writable`);
    check(container.securityContext?.allowPrivilegeEscalation === false, `${id}: allowPrivilegeEscalation is not false`);
    check(container.securityContext?.capabilities?.drop?.includes('ALL'), `${id}: capabilities are not dropped`);
    for (const path of ['/app/.lcm', '/tmp']) {
      const mount = container.volumeMounts?.find((m) => m.mountPath === path);
      check(mount && pod.volumes?.find((v) => v.name === mount.name)?.emptyDir, `${id}: ${path} is not a writable emptyDir`);
    }
    if (command === 'controller') check(d.spec.replicas === (opts.controllerReplicas ?? 2), `${id}: ${d.spec.replicas} replicas, expected ${opts.controllerReplicas ?? 2} (one leads, one waits)`);
    else check(Number.isInteger(d.spec.replicas) && d.spec.replicas >= 1, `${id}: replicas ${String(d.spec.replicas)}`);
  }
  for (const role of Object.keys(ROLES)) check(roles.has(role), `no Deployment for the ${role} role`);

  // Worker templates given in the values: a file in the workers subgraph that its parser accepts.
  if (config.LCM_WORKER_TEMPLATES_FILE) {
    const pod = roles.get('workers')?.spec.template.spec;
    const mount = pod?.containers[0]?.volumeMounts?.find((m) => m.mountPath === config.LCM_WORKER_TEMPLATES_FILE) as { name: string; subPath?: string } | undefined;
    const volume = pod?.volumes?.find((v) => v.name === mount?.name) as { configMap?: { name: string } } | undefined;
    const text = configMaps.find((c) => c.metadata.name === volume?.configMap?.name)?.data?.[mount?.subPath ?? ''];
    check(text !== undefined, `LCM_WORKER_TEMPLATES_FILE ${config.LCM_WORKER_TEMPLATES_FILE} is not a ConfigMap file mounted in the workers subgraph`);
    try {
      check(parseWorkerTemplates(text ?? '').length > 0, 'the worker templates are empty');
    } catch (e) {
      problems.push(`the worker templates do not parse: ${(e as Error).message}`);
    }
  }

  // Every Service selects exactly one role's pods and targets its port.
  const serviceByName = new Map(services.map((s) => [s.metadata.name, s]));
  const targetOf = (svc: Service, portName: string | number) => {
    const port = svc.spec.ports.find((p) => p.name === portName || p.port === portName);
    const selected = deployments.filter((d) => matches(svc.spec.selector, d.spec.template.metadata.labels));
    const container = selected[0]?.spec.template.spec.containers[0];
    const target = typeof port?.targetPort === 'string' ? container?.ports?.find((p) => p.name === port.targetPort)?.containerPort : port?.targetPort;
    return { port, selected, target };
  };
  for (const svc of services) {
    const { selected, target } = targetOf(svc, 'http');
    check(selected.length === 1, `Service/${svc.metadata.name} selects ${selected.length} Deployments`);
    check(target !== undefined && (selected[0]?.spec.template.spec.containers[0]?.ports ?? []).some((p) => p.containerPort === target), `Service/${svc.metadata.name}: its targetPort is no container port`);
  }
  // The gateway finds the subgraphs, the controllers the gateway, through those Services.
  const urls = Object.fromEntries((config.LCM_SUBGRAPH_URLS ?? '').split(',').map((p) => p.split('=') as [string, string]));
  for (const name of ['definitions', 'workers', 'sessions', 'score-reports']) {
    const url = urls[name] ? new URL(urls[name]) : undefined;
    const svc = url && serviceByName.get(url.hostname);
    check(svc && url?.pathname === '/graphql', `LCM_SUBGRAPH_URLS: ${name} is not /graphql on a rendered Service (${urls[name]})`);
    if (svc && url) {
      const { port, selected } = targetOf(svc, Number(url.port));
      check(port && selected[0]?.metadata.labels?.['app.kubernetes.io/component'] === name, `LCM_SUBGRAPH_URLS: ${name} → Service/${svc.metadata.name}:${url.port} does not reach the ${name} subgraph`);
    }
  }
  const lcmUrl = config.LCM_URL ? new URL(config.LCM_URL) : undefined;
  const gatewaySvc = lcmUrl && serviceByName.get(lcmUrl.hostname);
  check(gatewaySvc && targetOf(gatewaySvc, Number(lcmUrl?.port || 80)).selected[0]?.metadata.labels?.['app.kubernetes.io/component'] === 'gateway', `LCM_URL ${config.LCM_URL} does not reach the gateway`);

  // PodDisruptionBudgets: one per role with more than one replica, selecting it.
  for (const d of deployments.filter((x) => x.spec.replicas > 1)) {
    const pdbs = byKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(objects, 'PodDisruptionBudget').filter((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
    check(pdbs.length === 1, `Deployment/${d.metadata.name}: ${pdbs.length} PodDisruptionBudgets select it`);
  }

  // The Ingress reaches the gateway's Service port.
  for (const ing of byKind<K8sObject & { spec: { rules: { http: { paths: { backend: { service: { name: string; port: { name?: string; number?: number } } } }[] } }[] } }>(objects, 'Ingress')) {
    for (const rule of ing.spec.rules) {
      for (const p of rule.http.paths) {
        const svc = serviceByName.get(p.backend.service.name);
        const target = svc && targetOf(svc, p.backend.service.port.name ?? p.backend.service.port.number ?? 0);
        check(target?.port && target.selected[0]?.metadata.labels?.['app.kubernetes.io/component'] === 'gateway', `Ingress/${ing.metadata.name}: a path does not reach the gateway`);
      }
    }
  }
  // The ServiceMonitor scrapes every role's Service by a port name they all have.
  for (const sm of byKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } }>(objects, 'ServiceMonitor')) {
    const selected = services.filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels ?? {}));
    check(selected.length === Object.keys(ROLES).length, `ServiceMonitor/${sm.metadata.name} selects ${selected.length} Services, expected one per role`);
    for (const ep of sm.spec.endpoints) {
      check(ep.path === '/metrics', `ServiceMonitor/${sm.metadata.name}: path ${ep.path}`);
      for (const s of selected) check(s.spec.ports.some((p) => p.name === ep.port), `ServiceMonitor/${sm.metadata.name}: Service/${s.metadata.name} has no port ${ep.port}`);
    }
  }
  return problems;
}

describe('Helm chart deploy/helm/lcm', () => {
  it('passes helm lint --strict with the default values and with every feature on', () => {
    for (const args of [[], ['--values', ALL_FEATURES]]) {
      const r = helm(['lint', CHART, '--strict', ...args]);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    }
  });

  describe.each([
    ['the default values', [] as string[]],
    ['every feature on', ['--values', ALL_FEATURES]],
  ])('rendered with %s', (_label, args) => {
    const objects = render(args);

    it('renders only objects valid against the Kubernetes API schemas', () => {
      expect(objects.length).toBeGreaterThan(20);
      expect(schemaProblems(objects)).toEqual([]);
    });

    it('runs every role as LCM needs it (roles, ports, probes, variables, secrets, replicas, Services)', () => {
      expect(lcmProblems(objects)).toEqual([]);
    });
  });

  it('with the defaults: the chart makes the Secret (generated tokens), no Ingress, no ServiceMonitor', () => {
    const objects = render();
    const kinds = objects.map((o) => o.kind);
    expect(kinds).not.toContain('Ingress');
    expect(kinds).not.toContain('ServiceMonitor');
    const [secret] = byKind<K8sObject & { data: Record<string, string> }>(objects, 'Secret');
    const values = decode(secret?.data);
    expect(values.LCM_ADMIN_TOKEN?.length).toBeGreaterThanOrEqual(16);
    expect(values.LCM_INTERNAL_SECRET?.length).toBeGreaterThanOrEqual(16);
    expect(values.LCM_ADMIN_TOKEN).not.toBe(values.LCM_INTERNAL_SECRET);
    for (const d of byKind<Deployment>(objects, 'Deployment')) expect(d.spec.replicas, d.metadata.name).toBe(2);
  });

  it('with every feature on: Ingress with WebSocket timeouts, ServiceMonitor, the existing Secret, IRSA on the worker-controller only', () => {
    const objects = render(['--values', ALL_FEATURES]);
    expect(byKind(objects, 'Secret')).toEqual([]);
    const [ingress] = byKind(objects, 'Ingress');
    expect(ingress?.metadata.annotations).toMatchObject({ 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600' });
    const [monitor] = byKind(objects, 'ServiceMonitor');
    expect(monitor?.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    const deployments = byKind<Deployment>(objects, 'Deployment');
    for (const d of deployments) {
      for (const e of d.spec.template.spec.containers[0]?.env ?? []) expect(e.valueFrom?.secretKeyRef?.name, `${d.metadata.name} ${e.name}`).toBe('lcm-secrets');
    }
    const accounts = byKind<K8sObject>(objects, 'ServiceAccount');
    const irsa = accounts.filter((a) => a.metadata.annotations?.['eks.amazonaws.com/role-arn']);
    expect(irsa.map((a) => a.metadata.name)).toEqual(['lcm-worker-controller']);
    for (const d of deployments) {
      const role = d.metadata.labels?.['app.kubernetes.io/component'];
      expect(d.spec.template.spec.serviceAccountName === 'lcm-worker-controller', String(role)).toBe(role === 'worker-controller');
    }
    const sessions = deployments.find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'sessions');
    expect(sessions?.spec.replicas).toBe(4);
    const config = byKind<K8sObject & { data: Record<string, string> }>(objects, 'ConfigMap').find((c) => c.metadata.name === 'lcm');
    expect(config?.data).toMatchObject({ LCM_LOG_LEVEL: 'debug', LCM_LDS_URL: 'https://lds.example.com', LCM_CORS_ORIGINS: 'https://app.example.com', LCM_WORKER_TEMPLATES_FILE: '/etc/lcm/worker-templates.yaml' });
  });

  describe('a broken chart fails', () => {
    it('values.schema.json refuses replicas: "two" (helm lint and helm template)', () => {
      const lint = helm(['lint', CHART, '--strict', '--set-string', 'controllers.replicaCount=two']);
      expect(lint.status).not.toBe(0);
      expect(`${lint.stdout}${lint.stderr}`).toMatch(/replicaCount/);
      const template = helm(['template', RELEASE, CHART, '--set-string', 'gateway.replicaCount=two']);
      expect(template.status).not.toBe(0);
    });

    it('past the values schema, the Kubernetes schemas catch replicas: "two" and the LCM checks a controller with one replica', () => {
      const objects = render(['--skip-schema-validation', '--set-string', 'controllers.replicaCount=two']);
      expect(schemaProblems(objects)).toEqual(expect.arrayContaining([expect.stringMatching(/^Deployment\/lcm-worker-controller: .*replicas must be integer/)]));
      const one = render(['--set', 'controllers.replicaCount=1']);
      expect(lcmProblems(one)).toEqual(expect.arrayContaining([expect.stringMatching(/lcm-lablet-controller: 1 replicas, expected 2/)]));
    });

    it('the LCM checks catch a variable LCM does not read, an invalid value, and a wrong port', () => {
      const unknown = render(['--set-string', 'extraConfig.LCM_NOT_A_SETTING=1', '--set-string', 'extraConfig.LCM_SCALE_DOWN_ACTION=explode']);
      const problems = lcmProblems(unknown);
      expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/LCM_NOT_A_SETTING is not a variable LCM reads/), expect.stringMatching(/LCM_SCALE_DOWN_ACTION/)]));
      const objects = render();
      const gateway = byKind<Deployment>(objects, 'Deployment').find((d) => d.metadata.name === 'lcm-gateway');
      const container = gateway?.spec.template.spec.containers[0];
      if (container?.ports?.[0]) container.ports[0].containerPort = 4999;
      expect(lcmProblems(objects)).toEqual(expect.arrayContaining([expect.stringMatching(/lcm-gateway: no containerPort 4000/), expect.stringMatching(/lcm-gateway: the liveness probe/)]));
      const badTemplates = render(['--set-string', 'subgraphs.workerTemplates=templates: [{ name: x }]']);
      expect(lcmProblems(badTemplates)).toEqual(expect.arrayContaining([expect.stringMatching(/the worker templates do not parse/)]));
    });

    it('the chart refuses a secret in extraConfig (it would land in the ConfigMap)', () => {
      const r = helm(['template', RELEASE, CHART, '--set-string', 'extraConfig.LCM_ADMIN_TOKEN=0123456789abcdef0123']);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/extraConfig\.LCM_ADMIN_TOKEN is a secret/);
    });

    it('the schema check refuses an object it has no schema for, and a Service with a wrong type', () => {
      const problems = schemaProblems([
        { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 'http' }] } },
      ]);
      expect(problems).toEqual([expect.stringMatching(/Widget\/w: no schema/), expect.stringMatching(/Service\/s: .*port must be integer/)]);
    });
  });
});
