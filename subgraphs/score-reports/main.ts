import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { runSubgraph } from '../../core/subgraph/run.ts';
import { startScoreReportsSubgraph } from './server.ts';

/** `lcm subgraph score-reports [--port N] [--host H]`. */
export function run(options: RoleOptions): Promise<Stoppable> {
  return runSubgraph('score-reports', startScoreReportsSubgraph, options);
}
