/**
 * The HTTP face of the simulated CML controller: the `/api/v0` routes of research/cml-api.md §2 with
 * their status codes and bodies, bearer authentication, the warm-up 502 of nginx, and the simulator's
 * own debug routes under `/_sim` (state, faults, PATty bindings).
 */
import type http from 'node:http';
import { z } from 'zod';
import type { Logger } from '../../core/logging.ts';
import { handleOpsRequest, type OpsOptions } from '../../core/ops/ops-server.ts';
import { NODE_DEFINITIONS, findNodeDefinition, imageDefinitionResponses, nodeDefinitionResponse, simplifiedNodeDefinitionResponse } from './catalog.ts';
import type { TokenIssuer } from './auth.ts';
import { bootProgress, isActive, type CmlEngine, type NewNode, type NodePatch, type SimLab, type SimLink, type SimNode } from './engine.ts';
import { CmlHttpError, badRequest, notFound } from './errors.ts';
import { FaultRequestSchema, type CmlFaults } from './faults.ts';
import type { Licensing } from './licensing.ts';
import {
  Router,
  badGatewayReply,
  errorReply,
  flag,
  json,
  jsonBody,
  noContent,
  readBody,
  replyForError,
  send,
  type Reply,
  type RequestContext,
} from './router.ts';
import { TopologyError, parseTopology, topologyToYaml } from './topology.ts';
import {
  computeHostsView,
  configurationMode,
  interfaceView,
  labElementStateView,
  labTilesView,
  labView,
  linkView,
  nodeView,
  simulationStatsView,
  systemHealthView,
  systemStatsView,
  topologyView,
  usersView,
  type ComputeHost,
  type Owner,
} from './views.ts';

export const API_PREFIX = '/api/v0';
const BODY_LIMIT = 32 * 1024 * 1024;

/** Everything the handlers work on. */
export interface SimContext {
  engine: CmlEngine;
  licensing: Licensing;
  tokens: TokenIssuer;
  faults: CmlFaults;
  credentials: { username: string; password: string };
  owner: Owner;
  /** When the controller (and its only user) came to be. */
  startedAt: Date;
  compute: ComputeHost;
  version: string;
  settings: { sessionTimeoutSeconds: number; bootMs: number };
  pattyRange: { min: number; max: number };
  ops: OpsOptions;
  logger: Logger;
}

const CredentialsSchema = z.object({ username: z.string().min(1).max(32), password: z.string() });
const RegistrationSchema = z.object({ token: z.string(), reregister: z.boolean().default(false) });
const nullableInt = (min: number, max: number) => z.number().int().min(min).max(max).nullable().optional();
const uuid = z.string().regex(/^[\da-f]{8}-[\da-f]{4}-4[\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}$/, 'a UUID4');
const ConfigurationSchema = z.union([
  z.string(),
  z.null(),
  z.array(z.object({ name: z.string().min(1).max(64), content: z.string().nullable().optional() }).strict()),
  z.object({ name: z.string().min(1).max(64), content: z.string().nullable().optional() }).strict(),
]);
/** LabCreate (also the body of PATCH /labs/{id}). */
const LabCreateSchema = z
  .object({
    title: z.string().min(1).max(64).optional(),
    owner: uuid.optional(),
    description: z.string().max(4096).optional(),
    notes: z.string().max(32768).optional(),
    groups: z.array(z.unknown()).optional(),
    associations: z.unknown().optional(),
  })
  .strict();
const NodeCreateSchema = z
  .object({
    x: z.number().int().min(-15000).max(15000),
    y: z.number().int().min(-15000).max(15000),
    label: z.string().min(1).max(128),
    node_definition: z.string().min(1).max(250),
    image_definition: z.string().min(1).max(250).nullable().optional(),
    parameters: z.record(z.string(), z.unknown()).nullable().optional(),
    ram: nullableInt(1, 1048576),
    cpus: nullableInt(1, 128),
    cpu_limit: nullableInt(20, 100),
    boot_disk_size: nullableInt(0, 4096),
    data_volume: nullableInt(0, 4096),
    hide_links: z.boolean().nullable().optional(),
    tags: z.array(z.string().max(64)).optional(),
    configuration: ConfigurationSchema.optional(),
  })
  .strict();
const InterfaceCreateSchema = z
  .object({
    node: uuid,
    slot: z.number().int().min(0).max(128).optional(),
    mac_address: z.string().regex(/^[a-fA-F\d]{2}(:[a-fA-F\d]{2}){5}$/).nullable().optional(),
  })
  .strict();
const LinkCreateSchema = z.object({ src_int: uuid, dst_int: uuid }).strict();
const NodePatchSchema = z
  .object({
    x: z.number().int().min(-15000).max(15000).optional(),
    y: z.number().int().min(-15000).max(15000).optional(),
    label: z.string().min(1).max(128).optional(),
    tags: z.array(z.string().max(64)).optional(),
    hide_links: z.boolean().nullable().optional(),
    parameters: z.record(z.string(), z.unknown()).nullable().optional(),
    ram: nullableInt(1, 1048576),
    cpus: nullableInt(1, 128),
    cpu_limit: nullableInt(20, 100),
    boot_disk_size: nullableInt(0, 4096),
    data_volume: nullableInt(0, 4096),
    image_definition: z.string().min(1).max(250).nullable().optional(),
    configuration: ConfigurationSchema.optional(),
    pinned_compute_id: z.string().nullable().optional(),
  })
  .strict();

function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw badRequest(`Invalid request body: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}.`);
  }
  return result.data;
}

function labOr404(ctx: SimContext, id: string | undefined): SimLab {
  const lab = id === undefined ? undefined : ctx.engine.getLab(id);
  if (!lab) throw notFound(`Lab not found: ${id}`);
  return lab;
}

function nodeOf(lab: SimLab, id: string | undefined, status: 400 | 404): SimNode {
  const node = lab.nodes.find((n) => n.id === id);
  if (!node) throw new CmlHttpError(status, `Node not found: ${id}`);
  return node;
}

function linkOr404(lab: SimLab, id: string | undefined): SimLink {
  const link = lab.links.find((l) => l.id === id);
  if (!link) throw notFound(`Link not found: ${id}`);
  return link;
}

/** The `/api/v0` routes. */
export function createApiRouter(ctx: SimContext): Router {
  const router = new Router();
  const { engine } = ctx;

  // -- authentication ---------------------------------------------------------------------------
  const login = (rc: RequestContext): string => {
    const body = parseWith(CredentialsSchema, jsonBody(rc));
    if (body.username !== ctx.credentials.username || body.password !== ctx.credentials.password) {
      throw new CmlHttpError(403, 'Authentication failed!');
    }
    const ttlMs = ctx.faults.tokenTtlMs ?? ctx.settings.sessionTimeoutSeconds * 1000;
    return ctx.tokens.issue(ctx.owner.id, ttlMs);
  };
  router.add('POST', '/authenticate', (rc) => json(login(rc)), { public: true });
  router.add(
    'POST',
    '/auth_extended',
    (rc) => json({ username: ctx.owner.username, id: ctx.owner.id, token: login(rc), admin: true, error: null }),
    { public: true },
  );
  router.add('GET', '/authok', () => json('Authentication OK'));
  router.add('DELETE', '/logout', (rc) => {
    if (flag(rc.query, 'clear_all_sessions')) ctx.tokens.revokeUser(ctx.owner.id);
    else ctx.tokens.revoke(rc.req.headers.authorization);
    return json(true);
  });
  router.add('GET', '/web_session_timeout', () => json(ctx.settings.sessionTimeoutSeconds));
  router.add('PATCH', '/web_session_timeout/:seconds', (rc) => {
    const seconds = Number(rc.params.seconds);
    if (!Number.isInteger(seconds) || seconds < 60 || seconds > 604800) {
      throw badRequest('The web session timeout must be an integer between 60 and 604800 seconds.');
    }
    ctx.settings.sessionTimeoutSeconds = seconds;
    return noContent();
  });

  // -- system -----------------------------------------------------------------------------------
  router.add(
    'GET',
    '/system_information',
    () => json({ version: ctx.version, ready: !ctx.faults.isWarmingUp(), allow_ssh_pubkey_auth: false, oui: '52:54:00:00:00:00' }),
    { public: true },
  );
  router.add('GET', '/system_stats', () => json(systemStatsView(engine, ctx.compute)));
  router.add('GET', '/system_health', () => json(systemHealthView(ctx.compute, ctx.licensing)));
  router.add('GET', '/system/compute_hosts', () => json(computeHostsView(ctx.compute)));
  router.add('GET', '/resource_pools', () => json([])); // no resource pools: one user, one compute

  // -- licensing --------------------------------------------------------------------------------
  const runningLicensed = () => engine.allNodes().filter((n) => isActive(n) && findNodeDefinition(n.nodeDefinition)?.licensed).length;
  router.add('GET', '/licensing', () => json(ctx.licensing.status(runningLicensed())));
  router.add('POST', '/licensing/registration', (rc) => {
    const body = parseWith(RegistrationSchema, jsonBody(rc));
    ctx.licensing.register(body.token, body.reregister);
    return noContent();
  });
  router.add('DELETE', '/licensing/deregistration', () => {
    ctx.licensing.deregister();
    return noContent();
  });

  // -- definitions ------------------------------------------------------------------------------
  router.add('GET', '/node_definitions', () => json(NODE_DEFINITIONS.map(nodeDefinitionResponse)));
  router.add('GET', '/simplified_node_definitions', () => json(NODE_DEFINITIONS.map(simplifiedNodeDefinitionResponse)));
  router.add('GET', '/node_definitions/:id', (rc) => {
    const definition = findNodeDefinition(rc.params.id ?? '');
    if (!definition) throw notFound(`Node definition not found: ${rc.params.id}`);
    return json(nodeDefinitionResponse(definition));
  });
  router.add('GET', '/node_definitions/:id/image_definitions', (rc) => {
    if (!findNodeDefinition(rc.params.id ?? '')) throw notFound(`Node definition not found: ${rc.params.id}`);
    return json(imageDefinitionResponses(rc.params.id));
  });
  router.add('GET', '/image_definitions', () => json(imageDefinitionResponses()));

  // -- labs -------------------------------------------------------------------------------------
  router.add('POST', '/import', (rc) => {
    const title = rc.query.get('title') ?? undefined;
    try {
      const { topology, warnings } = parseTopology(rc.body.toString('utf8'), { title, pattyRange: ctx.pattyRange });
      const lab = engine.importLab(topology);
      return json({ id: lab.id, warnings });
    } catch (e) {
      if (e instanceof TopologyError) throw badRequest(e.message);
      throw e;
    }
  });
  router.add('GET', '/labs', () => json(engine.listLabs().map((l) => l.id)));
  router.add('POST', '/labs', (rc) => {
    const body = parseWith(LabCreateSchema, jsonBody(rc));
    return json(labView(engine, engine.createLab(body), ctx.owner));
  });
  router.add('GET', '/populate_lab_tiles', () => json(labTilesView(engine, ctx.owner)));
  router.add('GET', '/users', () => json(usersView(engine, ctx.owner, ctx.startedAt)));
  router.add('GET', '/labs/:labId', (rc) => json(labView(engine, labOr404(ctx, rc.params.labId), ctx.owner)));
  router.add('PATCH', '/labs/:labId', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    engine.updateLab(lab, parseWith(LabCreateSchema, jsonBody(rc)));
    return json(labView(engine, lab, ctx.owner));
  });
  router.add('GET', '/labs/:labId/topology', (rc) =>
    json(topologyView(engine, labOr404(ctx, rc.params.labId), ctx.owner, configurationMode(rc.query.get('exclude_configurations')))),
  );
  router.add('GET', '/labs/:labId/simulation_stats', (rc) => json(simulationStatsView(engine, labOr404(ctx, rc.params.labId), Date.now())));
  router.add('GET', '/labs/:labId/resource_pools', (rc) => {
    labOr404(ctx, rc.params.labId);
    return json([]);
  });
  // The addresses CML learns by snooping DHCP of nodes bridged to an external connector: the simulator
  // runs no network, so it has learnt none.
  router.add('GET', '/labs/:labId/layer3_addresses', (rc) => {
    labOr404(ctx, rc.params.labId);
    return json({});
  });
  router.add('DELETE', '/labs/:labId', (rc) => {
    engine.deleteLab(labOr404(ctx, rc.params.labId));
    return noContent();
  });
  router.add('GET', '/labs/:labId/state', (rc) => json(engine.labState(labOr404(ctx, rc.params.labId))));
  router.add('PUT', '/labs/:labId/start', (rc) => {
    engine.startLab(labOr404(ctx, rc.params.labId));
    return noContent();
  });
  router.add('PUT', '/labs/:labId/stop', (rc) => {
    engine.stopLab(labOr404(ctx, rc.params.labId));
    return noContent();
  });
  router.add('PUT', '/labs/:labId/wipe', (rc) => {
    engine.wipeLab(labOr404(ctx, rc.params.labId));
    return noContent();
  });
  router.add('GET', '/labs/:labId/check_if_converged', (rc) => json(engine.isConverged(labOr404(ctx, rc.params.labId))));
  router.add('GET', '/labs/:labId/lab_element_state', (rc) => json(labElementStateView(engine, labOr404(ctx, rc.params.labId))));
  router.add('GET', '/labs/:labId/download', (rc) => ({
    status: 200,
    contentType: 'text/plain; charset=utf-8',
    text: topologyToYaml(engine.topologyOf(labOr404(ctx, rc.params.labId))),
  }));
  router.add('GET', '/labs/:labId/links', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    return json(flag(rc.query, 'data') ? lab.links.map((l) => linkView(engine, lab, l)) : lab.links.map((l) => l.id));
  });
  router.add('POST', '/labs/:labId/links', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    const body = parseWith(LinkCreateSchema, jsonBody(rc));
    return json({ id: engine.addLink(lab, body.src_int, body.dst_int).id });
  });
  router.add('GET', '/labs/:labId/links/:linkId', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    return json(linkView(engine, lab, linkOr404(lab, rc.params.linkId)));
  });
  router.add('DELETE', '/labs/:labId/links/:linkId', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    engine.removeLink(lab, linkOr404(lab, rc.params.linkId));
    return noContent();
  });

  // -- interfaces -------------------------------------------------------------------------------
  router.add('POST', '/labs/:labId/interfaces', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    const body = parseWith(InterfaceCreateSchema, jsonBody(rc));
    const node = nodeOf(lab, body.node, 404);
    const created = engine.addInterfaces(lab, node, body.slot, body.mac_address);
    const view = (i: (typeof node.interfaces)[number]) => interfaceView(engine, lab, node, i, { operational: false });
    return json(Array.isArray(created) ? created.map(view) : view(created));
  });
  const interfaceOr404 = (lab: SimLab, id: string | undefined, status: 400 | 404 = 404) => {
    const found = id === undefined ? undefined : engine.findInterface(lab, id);
    if (!found) throw new CmlHttpError(status, `Interface not found: ${id}`);
    return found;
  };
  router.add('GET', '/labs/:labId/interfaces/:interfaceId', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    const { node, iface } = interfaceOr404(lab, rc.params.interfaceId);
    return json(interfaceView(engine, lab, node, iface, { operational: flag(rc.query, 'operational') }));
  });
  router.add('GET', '/labs/:labId/interfaces/:interfaceId/state', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    const { node, iface } = interfaceOr404(lab, rc.params.interfaceId, 400);
    return json({ label: iface.label, state: engine.interfaceState(node) });
  });
  router.add('GET', '/labs/:labId/nodes/:nodeId/interfaces', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    const node = nodeOf(lab, rc.params.nodeId, 404);
    if (!flag(rc.query, 'data')) return json(node.interfaces.map((i) => i.id));
    return json(node.interfaces.map((i) => interfaceView(engine, lab, node, i, { operational: flag(rc.query, 'operational') })));
  });

  // -- nodes ------------------------------------------------------------------------------------
  const viewOptions = (rc: RequestContext) => ({
    operational: flag(rc.query, 'operational'),
    configurations: configurationMode(rc.query.get('exclude_configurations')),
  });
  router.add('GET', '/labs/:labId/nodes', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    return json(flag(rc.query, 'data') ? lab.nodes.map((n) => nodeView(n, viewOptions(rc))) : lab.nodes.map((n) => n.id));
  });
  router.add('POST', '/labs/:labId/nodes', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    const body = parseWith(NodeCreateSchema, jsonBody(rc)) as NewNode;
    return json({ id: engine.addNode(lab, body, flag(rc.query, 'populate_interfaces')).id });
  });
  router.add('DELETE', '/labs/:labId/nodes/:nodeId', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    engine.removeNode(lab, nodeOf(lab, rc.params.nodeId, 404));
    return noContent();
  });
  router.add('PUT', '/labs/:labId/nodes/:nodeId/extract_configuration', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    engine.extractConfiguration(lab, nodeOf(lab, rc.params.nodeId, 404));
    return json({});
  });
  router.add('GET', '/labs/:labId/nodes/:nodeId', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    return json(nodeView(nodeOf(lab, rc.params.nodeId, 400), viewOptions(rc)));
  });
  router.add('PATCH', '/labs/:labId/nodes/:nodeId', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    const node = nodeOf(lab, rc.params.nodeId, 404);
    const patch = parseWith(NodePatchSchema, jsonBody(rc)) as NodePatch;
    engine.updateNode(lab, node, patch);
    return json(node.id);
  });
  router.add('GET', '/labs/:labId/nodes/:nodeId/layer3_addresses', (rc) => {
    const node = nodeOf(labOr404(ctx, rc.params.labId), rc.params.nodeId, 404);
    return json({ name: node.label, interfaces: {} });
  });
  router.add('GET', '/labs/:labId/nodes/:nodeId/state', (rc) => {
    const node = nodeOf(labOr404(ctx, rc.params.labId), rc.params.nodeId, 404);
    return json({ state: node.state, progress: bootProgress(node) });
  });
  router.add('PUT', '/labs/:labId/nodes/:nodeId/state/start', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    engine.startNode(lab, nodeOf(lab, rc.params.nodeId, 404));
    return noContent();
  });
  router.add('PUT', '/labs/:labId/nodes/:nodeId/state/stop', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    engine.stopNode(lab, nodeOf(lab, rc.params.nodeId, 404));
    return noContent();
  });
  router.add('PUT', '/labs/:labId/nodes/:nodeId/wipe_disks', (rc) => {
    const lab = labOr404(ctx, rc.params.labId);
    engine.wipeNode(lab, nodeOf(lab, rc.params.nodeId, 404));
    return noContent();
  });
  router.add('GET', '/labs/:labId/nodes/:nodeId/check_if_converged', (rc) => {
    const node = nodeOf(labOr404(ctx, rc.params.labId), rc.params.nodeId, 404);
    return json(node.pending === null && ['BOOTED', 'STOPPED', 'DEFINED_ON_CORE'].includes(node.state));
  });
  router.add('GET', '/labs/:labId/nodes/:nodeId/keys/console', (rc) => {
    const node = nodeOf(labOr404(ctx, rc.params.labId), rc.params.nodeId, 404);
    const line = Number(rc.query.get('line') ?? '0');
    const key = Number.isInteger(line) ? node.consoleKeys[line] : undefined;
    if (!key) throw notFound(`No console key for line ${rc.query.get('line') ?? '0'} of node ${node.id} (the node is not running).`);
    return json(key);
  });
  router.add('GET', '/labs/:labId/nodes/:nodeId/keys/vnc', (rc) => {
    const node = nodeOf(labOr404(ctx, rc.params.labId), rc.params.nodeId, 404);
    if (!node.vncKey) throw notFound(`No VNC key for node ${node.id}.`);
    return json(node.vncKey);
  });
  return router;
}

/** The simulator's debug state (`GET /_sim/state`). */
export function simState(ctx: SimContext): Record<string, unknown> {
  return {
    bootMs: ctx.settings.bootMs,
    sessionTimeoutSeconds: ctx.settings.sessionTimeoutSeconds,
    faults: ctx.faults.snapshot(),
    activeTokens: ctx.tokens.activeCount(),
    licensing: { registration: ctx.licensing.registrationStatus, nodeLimit: ctx.licensing.nodeLimit() },
    labs: ctx.engine.listLabs().map((lab) => ({
      id: lab.id,
      title: lab.title,
      state: ctx.engine.labState(lab),
      converged: ctx.engine.isConverged(lab),
      nodes: lab.nodes.map((n) => ({ id: n.id, label: n.label, node_definition: n.nodeDefinition, state: n.state, tags: n.tags })),
    })),
    patty: pattyState(ctx),
  };
}

function pattyState(ctx: SimContext) {
  return { range: ctx.pattyRange, bindings: ctx.engine.pattyBindings(), skipped: ctx.engine.pattySkipped() };
}

async function handleSimRoute(ctx: SimContext, req: http.IncomingMessage, path: string): Promise<Reply> {
  if (req.method === 'GET' && path === '/_sim/state') return json(simState(ctx));
  if (req.method === 'GET' && path === '/_sim/pat') return json(pattyState(ctx));
  if (req.method === 'POST' && path === '/_sim/faults') {
    const body = await readBody(req, BODY_LIMIT);
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      return errorReply(400, 'The request body is not valid JSON.');
    }
    const parsed = FaultRequestSchema.safeParse(value);
    if (!parsed.success) {
      return errorReply(400, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    }
    ctx.faults.apply(parsed.data);
    return json(ctx.faults.snapshot());
  }
  return errorReply(404, `Not found: ${path}`);
}

/** The request listener of the simulator's HTTP server. */
export function createRequestListener(ctx: SimContext): http.RequestListener {
  const router = createApiRouter(ctx);
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://cml.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/_sim/')) return send(res, await handleSimRoute(ctx, req, url.pathname));
    if (await handleOpsRequest(req, res, ctx.ops)) return;
    if (url.pathname !== API_PREFIX && !url.pathname.startsWith(`${API_PREFIX}/`)) {
      return send(res, errorReply(404, `Not found: ${url.pathname}`));
    }
    const path = url.pathname.slice(API_PREFIX.length) || '/';
    if (path !== '/system_information' && ctx.faults.takeWarmUpRequest()) return send(res, badGatewayReply());

    const match = router.match(method, path);
    if (match === null) return send(res, errorReply(404, `The requested URL ${url.pathname} was not found on this server.`));
    if ('methodNotAllowed' in match) return send(res, errorReply(405, `Method ${method} is not allowed for ${url.pathname}.`));

    let userId: string | null = null;
    if (!match.route.public) {
      const check = ctx.tokens.check(req.headers.authorization);
      if (!check.ok) {
        const description =
          check.reason === 'missing'
            ? 'No authorization token provided.'
            : check.reason === 'expired'
              ? 'Authorization token has expired or was revoked.'
              : 'Invalid authorization token.';
        return send(res, errorReply(401, description));
      }
      userId = check.userId;
    }
    const body = method === 'GET' || method === 'DELETE' ? Buffer.alloc(0) : await readBody(req, BODY_LIMIT);
    const reply = await match.route.handler({ req, method, path, params: match.params, query: url.searchParams, body, userId });
    send(res, reply);
  };
  return (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof CmlHttpError) return send(res, replyForError(e));
      ctx.logger.error({ err: e, url: req.url }, 'CML simulator: unexpected error');
      send(
        res,
        errorReply(500, `The API at ${req.url?.split('?')[0]} encountered an unexpected error. Please report this problem to support.`),
      );
    });
  };
}
