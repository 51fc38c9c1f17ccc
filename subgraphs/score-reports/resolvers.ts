import { pageRequest, toConnection } from '../../core/graphql/connections.ts';
import { DateTimeScalar } from '../../core/graphql/scalars.ts';
import type { Resolvers } from './__generated__/resolvers-types.ts';
import type { ScoreReport } from './domain/model.ts';

/** Thin resolvers: arguments → service call → result. */
export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    scoreReport: async (_, { id }, ctx) => (await ctx.service.get(ctx.identity, id)) ?? null,
    scoreReports: async (_, { first, after, filter }, ctx) => toConnection(await ctx.service.page(ctx.identity, filter ?? {}, pageRequest(first, after))),
  },
  Mutation: {
    publishScoreReport: (_, { input }, ctx) => ctx.service.publish(ctx.identity, input),
  },
  Subscription: {
    scoreReportPublished: {
      subscribe: (_, { after }, ctx) => ctx.service.published(ctx.identity, after),
      resolve: (report: ScoreReport) => report,
    },
  },
  ScoreReport: {
    __resolveReference: (ref, ctx) => ctx.reportById.load(ref.id),
    session: (report) => ({ id: report.sessionId }),
  },
  LabletSession: {
    __resolveReference: (ref) => ({ id: ref.id }),
    scoreReport: (session, _, ctx) => ctx.reportBySession.load(session.id),
  },
};
