/**
 * A running system (gateway, subgraphs, simulators) without controllers, plus what a controller
 * needs to run against it in-process: an internal-scope client on /internal/graphql, the shared
 * coordination store, a metrics registry and configuration. Controller tests start exactly the
 * controllers they test with `startController`.
 */
import { Registry } from 'prom-client';
import { startSystem, type RunningSystem, type SystemOptions } from '../../cli/system.ts';
import { Scope } from '../../core/auth/identity.ts';
import { EnvSchema, parseConfig, type Env } from '../../core/config.ts';
import { GraphQLClient } from '../../core/graphql/client.ts';
import { silentLogger } from '../../core/logging.ts';
import type { ControllerDeps } from '../../controllers/kit/role.ts';

export const ADMIN_TOKEN = 'controller-harness-admin-token-0123456789';

export interface Harness {
  system: RunningSystem;
  publicUrl: string;
  internalUrl: string;
  token: string;
  /** Dependencies for one controller (its own API key named after it, so actors read `controller:<name>`). */
  deps(name: string, env?: Record<string, string>): Promise<ControllerDeps>;
  stop(): Promise<void>;
}

export async function startHarness(options: Partial<SystemOptions> = {}): Promise<Harness> {
  const system = await startSystem({ gatewayPort: 0, adminToken: ADMIN_TOKEN, logger: silentLogger, ec2BootMs: 0, cmlBootMs: 0, controllers: false, ...options });
  const clients: GraphQLClient[] = [];
  const internalUrl = `${system.gatewayUrl}/internal/graphql`;
  return {
    system,
    publicUrl: `${system.gatewayUrl}/graphql`,
    internalUrl,
    token: ADMIN_TOKEN,
    async deps(name, env = {}) {
      const { key } = await system.gateway.apiKeys.create(name, [Scope.INTERNAL]);
      const client = new GraphQLClient({ url: internalUrl, token: key });
      clients.push(client);
      const config: Env = parseConfig(EnvSchema, { LCM_CONTROLLER_RESYNC_SECONDS: '5', ...env });
      return {
        client,
        store: system.coordination,
        registry: new Registry(),
        logger: silentLogger,
        config,
        clock: () => new Date(),
        leaderElection: { ttlSeconds: 2, renewDeadlineMs: 1500, renewIntervalMs: 200, retryIntervalMs: 200 },
        overrides: system.simulators
          ? {
              ec2Endpoint: system.simulators.ec2.url,
              ec2Credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
              ldsUrl: system.simulators.lds.url,
              gradingUrl: system.simulators.grading.url,
              cmlScheme: 'http',
              cmlPort: system.simulators.cmlPort,
            }
          : {},
      };
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await system.stop();
    },
  };
}
