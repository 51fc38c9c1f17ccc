import { createRequire } from 'node:module';
import * as graphql from 'graphql';
import { expect, it } from 'vitest';

it('loads one copy of graphql (the one Node and CommonJS dependencies load)', () => {
  const require = createRequire(import.meta.url);
  const cjs = require('graphql') as typeof graphql;
  expect(graphql.GraphQLSchema).toBe(cjs.GraphQLSchema);
});
