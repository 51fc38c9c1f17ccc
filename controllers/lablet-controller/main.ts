/** `lcm controller lablet-controller`: the lablet-controller alone, on etcd, against the gateway at LCM_URL. */
import type { RoleOptions, Stoppable } from '../../core/role.ts';
import { runControllerRole } from '../kit/role.ts';
import { factory } from './index.ts';

export function run(options: RoleOptions): Promise<Stoppable> {
  return runControllerRole('lablet-controller', factory, options);
}
