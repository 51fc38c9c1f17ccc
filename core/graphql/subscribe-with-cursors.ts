import { createSourceEventStream, execute, GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { ErrorCode, LcmError } from '../errors.ts';
import { eventCursorOf } from '../ports/event-bus.ts';

/**
 * graphql-js `subscribe`, plus each result's `extensions.cursor`: the position of the bus event it was
 * made from (`eventCursorOf`), which a subscriber passes back as `after` to resume (ADR 0003). The
 * graphql-ws server of every subgraph uses it as its `subscribe`.
 *
 * A source stream that fails (a refused cursor: `SUBSCRIPTION_CURSOR_EXPIRED`) ends the operation with
 * a graphql-ws `error` message carrying the error's code; other operations on the socket go on.
 */
export async function subscribeWithCursors(args: ExecutionArgs): Promise<AsyncGenerator<ExecutionResult, void, void> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!isAsyncIterable(source)) return source;
  const iterator = source[Symbol.asyncIterator]();
  const close = async (): Promise<IteratorResult<ExecutionResult, void>> => {
    await iterator.return?.();
    return { value: undefined, done: true };
  };
  // Hand-written rather than an async generator: `return()` must reach the source at once, even
  // while a `next()` waits for the next event (a generator would queue it behind that wait).
  const results: AsyncGenerator<ExecutionResult, void, void> = {
    async next() {
      let step: IteratorResult<unknown>;
      try {
        step = await iterator.next();
      } catch (error) {
        throw toGraphQLError(error);
      }
      if (step.done) return { value: undefined, done: true };
      const result = await execute({ ...args, rootValue: step.value });
      const cursor = eventCursorOf(step.value);
      return { value: cursor === undefined ? result : { ...result, extensions: { ...result.extensions, cursor } }, done: false };
    },
    return: close,
    async throw(error: unknown) {
      await close();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return results;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof Object(value)[Symbol.asyncIterator] === 'function';
}

/** graphql-ws keeps a thrown GraphQLError's `extensions`: the code reaches the gateway. */
function toGraphQLError(error: unknown): GraphQLError {
  if (error instanceof LcmError) return new GraphQLError(error.message, { extensions: { ...error.details, code: error.code } });
  return new GraphQLError('internal server error', { extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } });
}
