/**
 * docker-compose.yml and the Dockerfile, checked without a container engine: the compose file is
 * valid against the Compose Specification's JSON schema (through DCLint, which also flags unsafe
 * settings), every service runs a real `lcm` role with options that role accepts, every variable it
 * sets is one LCM reads (core/config.ts's EnvSchema) and parses there, health checks and
 * dependencies line up, and the image ships no test code.
 */
import { existsSync, readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DCLinter } from 'dclint';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/main.ts';
import { EnvSchema, parseConfig } from '../../core/config.ts';

/** A DCLint message (its types do not resolve under NodeNext). */
interface LintMessage {
  type: string;
  rule: string;
  message: string;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE = join(ROOT, 'docker-compose.yml');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  network_mode?: string;
  networks?: Record<string, { aliases?: string[] }>;
  ports?: string[];
}
const compose = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const lcmServices = services.filter(([, s]) => s.image === 'lcm:local');

/** Compose interpolation with an empty environment: `${X:-default}`, `${X-default}` (nested), `${X}`, `$$`. */
function interpolate(value: string, vars: Record<string, string> = {}): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '$' && value[i + 1] === '$') {
      out += '$';
      i++;
    } else if (value[i] === '$' && value[i + 1] === '{') {
      let depth = 1;
      let j = i + 2;
      while (j < value.length && depth > 0) {
        if (value[j] === '{') depth++;
        if (value[j] === '}') depth--;
        j++;
      }
      const inner = value.slice(i + 2, j - 1);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?$/s.exec(inner);
      if (!m) throw new Error(`cannot interpolate \${${inner}}`);
      const [, name, op, fallback] = m as unknown as [string, string, string | undefined, string | undefined];
      const set = vars[name];
      if (op === ':-') out += set ? set : interpolate(fallback ?? '', vars);
      else if (op === '-') out += set !== undefined ? set : interpolate(fallback ?? '', vars);
      else out += set ?? '';
      i = j - 1;
    } else out += value[i];
  }
  return out;
}

function envOf(s: Service, vars: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]));
}

/** The `--port` a service's command gives its role. */
function portOf(s: Service): number {
  const cmd = s.command ?? [];
  return Number(cmd[cmd.indexOf('--port') + 1]);
}

/** Variables the AWS SDK reads itself (credentials); every other variable must be LCM's own. */
const AWS_SDK_VARIABLES = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
const ROLE_MODULES: Record<string, (name: string) => string> = {
  gateway: () => 'gateway/main.ts',
  subgraph: (n) => `subgraphs/${n}/main.ts`,
  controller: (n) => `controllers/${n}/main.ts`,
  sim: (n) => `simulators/${n}/main.ts`,
};

describe('docker-compose.yml', () => {
  const linterConfig = {
    // Order and formatting rules are style; the file is ordered for reading (stores, subgraphs,
    // gateway, controllers, simulators). Every correctness rule stays an error.
    rules: {
      'services-alphabetical-order': 0,
      'service-keys-order': 0,
      'service-dependencies-alphabetical-order': 0,
      'top-level-properties-order': 0,
      'service-ports-alphabetical-order': 0,
      'require-quotes-in-ports': 0,
      'no-quotes-in-volumes': 0,
    },
    quiet: true,
    debug: false,
    exclude: [],
  } as ConstructorParameters<typeof DCLinter>[0];

  it('is valid against the Compose Specification schema and passes DCLint', () => {
    const [result] = new DCLinter(linterConfig).lintFiles([COMPOSE], false);
    expect(result?.messages.filter((m: LintMessage) => m.type === 'error')).toEqual([]);
    expect(result?.errorCount).toBe(0);
  });

  it('the validator rejects an invalid file (so the check above means something)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lcm-compose-'));
    try {
      const bad = join(dir, 'docker-compose.yml');
      writeFileSync(bad, 'name: x\nservices:\n  a:\n    image: busybox:1\n    depends_on:\n      b: {condition: when_it_feels_like_it}\n    restart: sometimes\n');
      const [result] = new DCLinter(linterConfig).lintFiles([bad], false);
      expect(result?.errorCount).toBeGreaterThan(0);
      expect(result?.messages.map((m: LintMessage) => m.rule)).toContain('invalid-schema');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has mongo, etcd, and one container per role: gateway, four subgraphs, three controllers, simulators in the dev profile', () => {
    const roles = lcmServices.map(([, s]) => (s.command ?? []).slice(0, 2).join(' '));
    expect(roles.sort()).toEqual(
      [
        'gateway --port',
        'subgraph definitions',
        'subgraph workers',
        'subgraph sessions',
        'subgraph score-reports',
        'controller resource-scheduler',
        'controller lablet-controller',
        'controller worker-controller',
        'sim ec2',
        'sim lds',
        'sim grading',
      ].sort(),
    );
    expect(compose.services.mongo?.image).toMatch(/^mongo:\d/);
    expect(compose.services.etcd?.image).toMatch(/^(quay\.io\/coreos|gcr\.io\/etcd-development)\/etcd:v3\.\d+\.\d+$/);
    for (const [name, s] of lcmServices) {
      expect(s.profiles ?? [], name).toEqual((s.command ?? [])[0] === 'sim' ? ['dev'] : []);
    }
  });

  it('runs real lcm roles with options each role accepts', () => {
    const program = buildProgram();
    for (const [name, s] of lcmServices) {
      const [role, ...rest] = s.command ?? [];
      const cmd = program.commands.find((c: Command) => c.name() === role);
      expect(cmd, `${name}: "${role}" is not an lcm command`).toBeDefined();
      const args = rest.filter((a, i) => !a.startsWith('--') && !(rest[i - 1] ?? '').startsWith('--'));
      for (const [i, arg] of cmd?.registeredArguments.entries() ?? []) {
        expect(() => arg.parseArg?.(args[i] as string, undefined), `${name}: ${role} ${args[i]}`).not.toThrow();
      }
      const known = new Set(cmd?.options.map((o) => o.long));
      for (const flag of rest.filter((a) => a.startsWith('--'))) expect(known.has(flag), `${name}: ${role} ${flag}`).toBe(true);
      const module = ROLE_MODULES[role as string]?.(args[0] ?? '');
      expect(module && existsSync(join(ROOT, module)), `${name}: ${module}`).toBe(true);
      expect(rest).toEqual(expect.arrayContaining(['--host', '0.0.0.0']));
    }
  });

  it('sets only variables LCM reads, each valid for core/config.ts, and shares the secrets', () => {
    const known = new Set(Object.keys(EnvSchema.shape));
    const secrets = new Set<string>();
    const tokens = new Set<string>();
    for (const [name, s] of lcmServices) {
      const env = envOf(s);
      for (const key of Object.keys(env)) expect(known.has(key) || AWS_SDK_VARIABLES.has(key), `${name}: ${key}`).toBe(true);
      const lcmOnly = Object.fromEntries(Object.entries(env).filter(([k]) => known.has(k)));
      expect(() => parseConfig(EnvSchema, lcmOnly), name).not.toThrow();
      if (env.LCM_INTERNAL_SECRET) secrets.add(env.LCM_INTERNAL_SECRET);
      if (env.LCM_ADMIN_TOKEN) tokens.add(env.LCM_ADMIN_TOKEN);
      // Values given in the environment win over the defaults.
      expect(() => parseConfig(EnvSchema, Object.fromEntries(Object.entries(envOf(s, { LCM_LOG_LEVEL: 'debug' })).filter(([k]) => known.has(k))))).not.toThrow();
    }
    expect(secrets.size).toBe(1);
    expect(tokens.size).toBe(1);
    for (const name of ['gateway', 'definitions', 'workers', 'sessions', 'score-reports']) {
      const env = envOf(compose.services[name] as Service);
      expect(env, name).toMatchObject({ LCM_MONGODB_URI: 'mongodb://mongo:27017', LCM_ETCD_ENDPOINTS: 'http://etcd:2379' });
      expect(env.LCM_INTERNAL_SECRET, name).toBeTruthy();
    }
  });

  it('wires the gateway to the subgraphs, the controllers to the gateway and the simulators', () => {
    const gatewayEnv = envOf(compose.services.gateway as Service);
    const urls = Object.fromEntries((gatewayEnv.LCM_SUBGRAPH_URLS ?? '').split(',').map((p) => p.split('=') as [string, string]));
    for (const name of ['definitions', 'workers', 'sessions', 'score-reports']) {
      expect(urls[name]).toBe(`http://${name}:${portOf(compose.services[name] as Service)}/graphql`);
    }
    const ec2 = compose.services['sim-ec2'] as Service;
    for (const name of ['resource-scheduler', 'lablet-controller', 'worker-controller']) {
      const env = envOf(compose.services[name] as Service);
      expect(env.LCM_URL).toBe(`http://gateway:${portOf(compose.services.gateway as Service)}`);
      expect(env.LCM_TOKEN).toBe(env.LCM_ADMIN_TOKEN);
      expect(env).toMatchObject({
        LCM_EC2_ENDPOINT: `http://127.0.0.1:${portOf(ec2)}`, // the EC2 simulator shares the worker-controller's network namespace
        LCM_LDS_URL: `http://sim-lds:${portOf(compose.services['sim-lds'] as Service)}`,
        LCM_GRADING_URL: `http://sim-grading:${portOf(compose.services['sim-grading'] as Service)}`,
        LCM_CML_SCHEME: 'http',
        LCM_CML_PORT: '8443',
      });
    }
    // The CML simulators listen on loopback addresses inside the EC2 simulator's network namespace:
    // both controllers that talk to CML share it.
    expect(ec2.network_mode).toBe('service:worker-controller');
    expect(compose.services['lablet-controller']?.network_mode).toBe('service:worker-controller');
    expect(envOf(ec2).LCM_SIM_CML_PORT).toBe(envOf(compose.services['worker-controller'] as Service).LCM_CML_PORT);
    expect(compose.services['worker-controller']?.networks?.default?.aliases).toEqual(expect.arrayContaining(['lablet-controller', 'sim-ec2']));
    const sink = `http://lablet-controller:${portOf(compose.services['lablet-controller'] as Service)}/events`;
    for (const name of ['sim-lds', 'sim-grading']) expect(compose.services[name]?.command).toEqual(expect.arrayContaining(['--sink', sink]));
  });

  it('gives every service a health check on its own /healthz or /readyz, and waits for what it depends on', () => {
    for (const [name, s] of lcmServices) {
      const test = (s.healthcheck?.test ?? []).join(' ');
      expect(test, name).toMatch(new RegExp(`http://127\\.0\\.0\\.1:${portOf(s)}/(healthz|readyz)`));
    }
    for (const name of ['mongo', 'etcd']) expect(compose.services[name]?.healthcheck?.test.length, name).toBeGreaterThan(0);
    for (const [name, s] of services) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(['service_healthy', 'service_started'], `${name} → ${dep}`).toContain(condition);
        if (compose.services[dep]?.healthcheck && !`service:${dep}`.startsWith(s.network_mode ?? '-')) {
          expect(condition, `${name} → ${dep}`).toBe('service_healthy');
        }
      }
    }
    expect(Object.keys(compose.services.gateway?.depends_on ?? {}).sort()).toEqual(['definitions', 'mongo', 'score-reports', 'sessions', 'workers']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('builds one image whose entrypoint is lcm, from production code only', () => {
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/lcm\.js"\]$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const copied = [...dockerfile.matchAll(/^COPY (\S+)/gm)].map((m) => m[1]);
    for (const path of copied) expect(['test', 'bench', 'docs', '.', 'scripts']).not.toContain(path);
    expect(dockerfile).toMatch(/-name '\*\.test\.ts'/);
    expect(dockerfile).toMatch(/^USER node$/m);
  });
});
