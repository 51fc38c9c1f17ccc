import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { runSubgraph } from '../../core/subgraph/run.ts';
import { startDefinitionsSubgraph } from './server.ts';

/** `lcm subgraph definitions [--port N] [--host H]`. */
export function run(options: RoleOptions): Promise<Stoppable> {
  return runSubgraph('definitions', startDefinitionsSubgraph, options);
}
