/**
 * One `createSession` traced across the whole system (issue 14, "Done means"): the embedded system in
 * this process with an in-memory span exporter; the trace must read gateway → sessions subgraph →
 * event → resource-scheduler → gateway → workers subgraph as one tree of parent links.
 */
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type RunningSystem } from '../../cli/system.ts';
import { EnvSchema, parseConfig } from '../config.ts';
import { silentLogger } from '../logging.ts';
import { eventually } from '../../test/support/eventually.ts';
import { data } from '../../test/support/gateway-client.ts';
import { createSession, type Endpoints } from '../../test/e2e/fixtures.ts';
import { LAB_YAML } from '../../test/support/subgraph-harness.ts';
import { SpanKind, startTracing, tracing, type RunningTracing } from './tracing.ts';

const ADMIN = 'tracing-admin-token-0123456789abcdef';

describe('a createSession traced through gateway, subgraph, event, scheduler and back', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: RunningTracing | undefined;
  let system: RunningSystem;
  let e: Endpoints;

  beforeAll(async () => {
    telemetry = await startTracing({ serviceName: 'lcm', settings: {}, exporter });
    system = await startSystem({
      gatewayPort: 0,
      adminToken: ADMIN,
      logger: silentLogger,
      ec2BootMs: 50,
      cmlBootMs: 50,
      config: parseConfig(EnvSchema, { LCM_SCALE_UP_BATCH_MS: '20', LCM_CONTROLLER_RESYNC_SECONDS: '60' }),
    });
    e = { publicUrl: `${system.gatewayUrl}/graphql`, internalUrl: `${system.gatewayUrl}/internal/graphql`, token: ADMIN };
    // The scheduler must learn of the session from the watch (which carries the trace), not its first list.
    await eventually('controllers ready', async () => {
      const failing = (await Promise.all(system.controllers.flatMap((c) => c.role.controllers.map((x) => x.readiness())))).flat();
      return failing.length === 0 && system.controllers.every((c) => c.role.controllers.every((x) => x.isLeader())) ? true : undefined;
    }, { timeoutMs: 20_000 });
  });
  afterAll(async () => {
    await system?.stop();
    await telemetry?.stop();
  });

  const definition = async (name: string, resourceRequirements: { cpuCores: number; memoryGb: number; storageGb: number; nodeCount: number }) =>
    (
      await data<{ createDefinition: { id: string } }>(
        e.publicUrl,
        ADMIN,
        `mutation($input: CreateDefinitionInput!) { createDefinition(input: $input) { id } }`,
        { input: { name, version: '1.0.0', labYaml: LAB_YAML, resourceRequirements } },
      )
    ).createDefinition.id;
  const untilPlaced = (id: string, status?: string) =>
    eventually(`session ${id} ${status ?? 'placed by the scheduler'}`, async () => {
      const d = await data<{ session: { status: string } }>(e.publicUrl, ADMIN, `query($id: ID!) { session(id: $id) { status } }`, { id });
      if (d.session.status === 'TERMINATED') throw new Error(`session ${id} terminated`);
      return (status ? d.session.status === status : d.session.status !== 'PENDING') ? true : undefined;
    }, { timeoutMs: 40_000, intervalMs: 50 });

  it('gives one trace: gateway → sessions subgraph → repository and event → resource-scheduler → gateway → workers subgraph', { timeout: 60_000 }, async () => {
    expect(tracing.on).toBe(true);
    // A first, larger session has a worker provisioned (a `medium`) with room left for the traced one,
    // which is then placed at once, in the reconcile its creation triggers (with no worker fitting,
    // that reconcile would only ask for capacity, and the placement would come in another trace).
    const large = await definition('warm-up-lab', { cpuCores: 1, memoryGb: 3, storageGb: 1, nodeCount: 10 });
    // READY: the warm-up's own changes are over, so none coalesces with the traced session's reconcile.
    await untilPlaced(await createSession(e, large, 'warm-up'), 'READY');
    const definitionId = await definition('traced-lab', { cpuCores: 1, memoryGb: 1, storageGb: 1, nodeCount: 2 });
    const created = await data<{ createSession: { id: string } }>(
      e.publicUrl,
      ADMIN,
      `mutation TracedCreateSession($input: CreateSessionInput!) { createSession(input: $input) { id } }`,
      { input: { definitionId, owner: 'student' } },
    );
    await untilPlaced(created.createSession.id);
    await telemetry!.flush();

    const spans = exporter.getFinishedSpans();
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) => (s.parentSpanContext ? byId.get(s.parentSpanContext.spanId) : undefined);
    const ancestors = (s: ReadableSpan): ReadableSpan[] => {
      const out: ReadableSpan[] = [];
      for (let p = parentOf(s); p; p = parentOf(p)) out.push(p);
      return out;
    };
    const scope = (s: ReadableSpan) => s.instrumentationScope.name;
    const describeSpan = (s: ReadableSpan | undefined) => (s ? `${scope(s)}: ${s.name}` : 'none');

    // The root: the gateway's span of the client's operation, with no parent.
    const root = spans.find((s) => scope(s) === 'lcm-gateway' && s.name === 'mutation TracedCreateSession');
    expect(root, 'the gateway operation span').toBeDefined();
    expect(root!.kind).toBe(SpanKind.SERVER);
    expect(root!.parentSpanContext).toBeUndefined();
    const traceId = root!.spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);

    // Its child: the fetch to the sessions subgraph; under that, the subgraph's server span.
    const fetch = inTrace.find((s) => s.name === 'fetch sessions' && parentOf(s) === root);
    expect(fetch, 'fetch sessions under the operation').toBeDefined();
    expect(fetch!.kind).toBe(SpanKind.CLIENT);
    const server = inTrace.find((s) => scope(s) === 'lcm-subgraph-sessions' && s.kind === SpanKind.SERVER && parentOf(s) === fetch);
    expect(server, 'the sessions subgraph server span under the fetch').toBeDefined();
    expect(server!.name).toMatch(/^sessions mutation TracedCreateSession/); // the planner's name for the fetch

    // Under the server span: the resolver, the repository write and the published event.
    const resolver = inTrace.find((s) => s.name === 'resolve Mutation.createSession');
    expect(parentOf(resolver!)).toBe(server);
    const insert = inTrace.find((s) => s.name === 'insert sessions');
    expect(insert, 'the repository span').toBeDefined();
    expect(ancestors(insert!)).toContain(resolver);
    const publish = inTrace.find((s) => s.name === 'publish lcm.session.created.v1');
    expect(publish, 'the publish span').toBeDefined();
    expect(ancestors(publish!)).toContain(resolver);

    // The event hop: a reconcile of the resource-scheduler in the same trace, below the publish span.
    const reconciles = inTrace.filter((s) => scope(s) === 'lcm-resource-scheduler' && s.name === 'reconcile resource-scheduler');
    expect(reconciles.length, `scheduler reconciles in the trace; spans: ${inTrace.map(describeSpan).join(', ')}`).toBeGreaterThan(0);
    const triggered = reconciles.filter((r) => ancestors(r).includes(publish!));
    expect(triggered.length, 'a reconcile whose parent chain leads to the createSession publish').toBeGreaterThan(0);
    for (const r of triggered) expect(ancestors(r).at(-1)).toBe(root);

    // Under the reconcile: the scheduler's own GraphQL calls through the gateway, and the workers subgraph.
    const below = inTrace.filter((s) => ancestors(s).some((a) => triggered.includes(a)));
    const gatewayOps = below.filter((s) => scope(s) === 'lcm-gateway' && s.kind === SpanKind.SERVER);
    expect(gatewayOps.length, `gateway operations under the reconcile; below: ${below.map(describeSpan).join(', ')}`).toBeGreaterThan(0);
    const workers = below.filter((s) => scope(s) === 'lcm-subgraph-workers' && s.kind === SpanKind.SERVER);
    expect(workers.length, 'a workers subgraph server span under the reconcile').toBeGreaterThan(0);
    const mutation = gatewayOps.find((s) => s.attributes['graphql.operation.type'] === 'mutation');
    const tree = inTrace.map((s) => `${describeSpan(s)} <- ${describeSpan(parentOf(s))}`).join('\n');
    expect(mutation, `a mutation of the scheduler; the trace:\n${tree}`).toBeDefined();
    expect(below.some((s) => scope(s) === 'lcm-subgraph-workers' && ancestors(s).includes(mutation!))).toBe(true);
  });
});
