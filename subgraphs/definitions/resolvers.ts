import { requireScope, Scope } from '../../core/auth/identity.ts';
import { pageRequest, toConnection } from '../../core/graphql/connections.ts';
import { DateTimeScalar } from '../../core/graphql/scalars.ts';
import type { Resolvers } from './__generated__/resolvers-types.ts';

/** Thin resolvers: arguments → service call → result. */
export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    definition: (_, { id }, ctx) => {
      requireScope(ctx.identity, Scope.READ);
      return ctx.definitionById.load(id);
    },
    definitions: async (_, { first, after, filter }, ctx) => {
      requireScope(ctx.identity, Scope.READ);
      return toConnection(await ctx.service.page(filter ?? {}, pageRequest(first, after)));
    },
    definitionByNameAndVersion: async (_, { name, version }, ctx) => {
      requireScope(ctx.identity, Scope.READ);
      return (await ctx.service.findByNameAndVersion(name, version)) ?? null;
    },
  },
  Mutation: {
    createDefinition: (_, { input }, ctx) => ctx.service.create(ctx.identity, input),
    deprecateDefinition: (_, { id, reason }, ctx) => ctx.service.deprecate(ctx.identity, id, reason ?? null),
  },
  LabletDefinition: {
    __resolveReference: (ref, ctx) => ctx.definitionById.load(ref.id),
  },
};
