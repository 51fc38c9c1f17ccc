import type { ActionHandler } from './context.ts';
import { describeImages } from './images.ts';
import {
  describeInstanceStatus,
  describeInstances,
  runInstances,
  startInstances,
  stopInstances,
  terminateInstances,
} from './instances.ts';
import { createTags, deleteTags } from './tags.ts';

export type { ActionContext, ActionHandler } from './context.ts';

/** The EC2 actions the simulator implements, by their Query `Action` name. */
export const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  DescribeInstanceStatus: describeInstanceStatus,
  StartInstances: startInstances,
  StopInstances: stopInstances,
  TerminateInstances: terminateInstances,
  CreateTags: createTags,
  DeleteTags: deleteTags,
  DescribeImages: describeImages,
};
