import { pageRequest, toConnection } from '../../core/graphql/connections.ts';
import { DateTimeScalar } from '../../core/graphql/scalars.ts';
import type { Resolvers } from './__generated__/resolvers-types.ts';

/** Thin resolvers: arguments → service call → result. */
export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    definition: async (_, { id }, ctx) => (await ctx.service.get(ctx.identity, id)) ?? null,
    definitions: async (_, { first, after, filter }, ctx) => toConnection(await ctx.service.page(ctx.identity, filter ?? {}, pageRequest(first, after))),
    definitionByNameAndVersion: async (_, { name, version }, ctx) => (await ctx.service.findByNameAndVersion(ctx.identity, name, version)) ?? null,
  },
  Mutation: {
    createDefinition: (_, { input }, ctx) => ctx.service.create(ctx.identity, input),
    deprecateDefinition: (_, { id, reason }, ctx) => ctx.service.deprecate(ctx.identity, id, reason ?? null),
  },
  LabletDefinition: {
    __resolveReference: (ref, ctx) => ctx.definitionById.load(ref.id),
  },
};
