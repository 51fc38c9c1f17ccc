import { pageRequest, toConnection } from '../../core/graphql/connections.ts';
import { DateTimeScalar, JSONScalar } from '../../core/graphql/scalars.ts';
import type { Resolvers } from './__generated__/resolvers-types.ts';
import type { Session } from './domain/model.ts';
import { durationSeconds } from './domain/session.ts';

/** Thin resolvers: arguments → service call → result. */
export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query: {
    session: async (_, { id }, ctx) => (await ctx.service.get(ctx.identity, id)) ?? null,
    sessions: async (_, { first, after, filter }, ctx) => toConnection(await ctx.service.page(ctx.identity, filter ?? {}, pageRequest(first, after))),
  },
  Mutation: {
    createSession: (_, { input }, ctx) => ctx.service.create(ctx.identity, input),
    transitionSession: (_, { id, to, reason, expectedRevision }, ctx) =>
      ctx.service.transition(ctx.identity, id, to, reason, expectedRevision),
    advanceSession: (_, { id, to, reason, expectedRevision }, ctx) => ctx.service.advance(ctx.identity, id, to, reason, expectedRevision),
    terminateSession: (_, { id, reason }, ctx) => ctx.service.terminate(ctx.identity, id, reason),
    scheduleSession: (_, { input }, ctx) => ctx.service.schedule(ctx.identity, input),
    recordSessionLab: (_, { id, cmlLabId }, ctx) => ctx.service.recordLab(ctx.identity, id, cmlLabId),
    recordPipelineProgress: (_, { id, pipeline, progress }, ctx) =>
      ctx.service.recordPipelineProgress(ctx.identity, id, pipeline, progress),
    upsertUserSession: (_, { sessionId, input }, ctx) => ctx.service.upsertUserSession(ctx.identity, sessionId, input),
    upsertGradingSession: (_, { sessionId, input }, ctx) => ctx.service.upsertGradingSession(ctx.identity, sessionId, input),
  },
  Subscription: {
    sessionUpdated: {
      subscribe: (_, { ids, statuses, after }, ctx) => ctx.service.updates(ctx.identity, { ids, statuses }, after),
      resolve: (session: Session) => session,
    },
  },
  LabletSession: {
    __resolveReference: (ref, ctx) => ctx.sessionById.load(ref.id),
    definition: (s) => ({ id: s.definitionId }),
    worker: (s) => (s.workerId ? { id: s.workerId } : null),
    durationSeconds: (s) => durationSeconds(s),
  },
  CmlWorker: {
    __resolveReference: (ref) => ({ id: ref.id }),
    sessions: (worker, { statuses }, ctx) => ctx.sessionsOnWorker(statuses).load(worker.id),
  },
};
