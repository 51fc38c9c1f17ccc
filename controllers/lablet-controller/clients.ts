/**
 * The outside systems of the lablet-controller, built from its configuration: one CML client per
 * worker address (kept for keep-alive and the token), the LDS client and the grading-engine client.
 * `overrides` (set by `lcm up` and tests) take precedence over the environment.
 */
import type { CmlClient } from '../../core/clients/cml/index.ts';
import { GradingClient } from '../../core/clients/grading/index.ts';
import { LdsClient } from '../../core/clients/lds/index.ts';
import type { Logger } from '../../core/logging.ts';
import { WorkerCmlClients } from '../kit/cml-clients.ts';
import type { ControllerDeps } from '../kit/role.ts';

export interface LabletClients {
  cml(address: string): CmlClient;
  /** Undefined when no LDS is configured (LCM_LDS_URL). */
  lds: LdsClient | undefined;
  /** Undefined when no grading engine is configured (LCM_GRADING_URL). */
  grading: GradingClient | undefined;
  close(): Promise<void>;
}

export function labletClients(deps: Pick<ControllerDeps, 'config' | 'overrides' | 'logger'>, logger: Logger = deps.logger): LabletClients {
  const ldsUrl = deps.overrides?.ldsUrl ?? deps.config.LCM_LDS_URL;
  const gradingUrl = deps.overrides?.gradingUrl ?? deps.config.LCM_GRADING_URL;
  const cml = new WorkerCmlClients(deps, logger, { timeoutMs: 15_000, retry: { retries: 3, baseDelayMs: 100, maxDelayMs: 2_000 } });
  return {
    cml: (address) => cml.client(address),
    lds: ldsUrl ? new LdsClient({ baseUrl: ldsUrl }) : undefined,
    grading: gradingUrl ? new GradingClient({ baseUrl: gradingUrl }) : undefined,
    close: () => cml.close(),
  };
}
