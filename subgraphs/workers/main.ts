import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { runSubgraph } from '../../core/subgraph/run.ts';
import { startWorkersSubgraph } from './server.ts';

/** `lcm subgraph workers [--port N] [--host H]`. */
export function run(options: RoleOptions): Promise<Stoppable> {
  return runSubgraph('workers', startWorkersSubgraph, options);
}
