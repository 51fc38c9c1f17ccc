import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { runSubgraph } from '../../core/subgraph/run.ts';
import { startSessionsSubgraph } from './server.ts';

/** `lcm subgraph sessions [--port N] [--host H]`. */
export function run(options: RoleOptions): Promise<Stoppable> {
  return runSubgraph('sessions', startSessionsSubgraph, options);
}
