import { pageRequest, toConnection } from '../../core/graphql/connections.ts';
import { DateTimeScalar, JSONScalar } from '../../core/graphql/scalars.ts';
import type { Resolvers } from './__generated__/resolvers-types.ts';
import { allocatedCapacity, availableCapacity } from '../../core/domain/capacity.ts';
import type { Worker } from './domain/model.ts';

/** Thin resolvers: arguments → service call → result. */
export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query: {
    worker: async (_, { id }, ctx) => (await ctx.service.get(ctx.identity, id)) ?? null,
    workers: async (_, { first, after, filter }, ctx) =>
      toConnection(await ctx.service.page(ctx.identity, filter ?? {}, pageRequest(first, after))),
    workerTemplates: (_, __, ctx) => ctx.templates.list(ctx.identity),
    workerTemplate: async (_, { name }, ctx) => (await ctx.templates.get(ctx.identity, name)) ?? null,
  },
  Mutation: {
    requestWorker: (_, { input }, ctx) => ctx.service.request(ctx.identity, input),
    transitionWorker: (_, { id, to, reason, expectedRevision }, ctx) => ctx.service.transition(ctx.identity, id, to, reason, expectedRevision),
    setWorkerDesiredStatus: (_, { id, desiredStatus, reason }, ctx) => ctx.service.setDesiredStatus(ctx.identity, id, desiredStatus, reason),
    recordWorkerInstance: (_, { id, input }, ctx) => ctx.service.recordInstance(ctx.identity, id, input),
    recordWorkerObservation: (_, { id, input }, ctx) => ctx.service.recordObservation(ctx.identity, id, input),
    reserveCapacity: (_, { input: { workerId, ...request } }, ctx) => ctx.service.reserve(ctx.identity, workerId, request),
    releaseCapacity: (_, { workerId, sessionId }, ctx) => ctx.service.release(ctx.identity, workerId, sessionId),
    seedWorkerTemplates: (_, { yaml }, ctx) => ctx.templates.seed(ctx.identity, yaml),
  },
  Subscription: {
    workerUpdated: {
      subscribe: (_, { ids, after }, ctx) => ctx.service.updates(ctx.identity, ids, after),
      resolve: (worker: Worker) => worker,
    },
  },
  CmlWorker: {
    __resolveReference: (ref, ctx) => ctx.workerById.load(ref.id),
    allocatedCapacity: (worker) => allocatedCapacity(worker),
    availableCapacity: (worker) => availableCapacity(worker),
  },
  LabletSession: {
    // The gateway sends the session's key and the `@requires` fields: the representation is the parent.
    __resolveReference: (ref) => ref,
    placementPlan: (session, _, ctx) => ctx.service.placementPlan(ctx.identity, session),
  },
  WorkerTemplate: {
    __resolveReference: (ref, ctx) => ctx.templateByName.load(ref.name),
  },
};
