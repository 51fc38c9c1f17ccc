import {
  getNamedType,
  isNonNullType,
  Kind,
  parse,
  print,
  valueFromASTUntyped,
  visit,
  type ArgumentNode,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type VariableDefinitionNode,
} from 'graphql';

/** The variable the gateway resumes an upstream subscription with (ADR 0003, "Resuming"). */
export const RESUME_VARIABLE = 'lcmResumeAfter';

export interface ResumableFetch {
  /** The primary fetch with its root field's `after` argument bound to `$lcmResumeAfter`. */
  query: string;
  /** The fetch's variables, `lcmResumeAfter` set to the client's own `after` (if any). */
  variables: Record<string, unknown>;
  variable: string;
}

/**
 * Makes a subscription's primary fetch resumable, when its root field takes `after: String` (the
 * project's subgraphs do: `sessionUpdated(after:)`, …): whatever the client wrote for `after` (a
 * literal, a variable or nothing) becomes the variable `$lcmResumeAfter`, which the upstream hub sets
 * to the last cursor it received before it re-subscribes on a new socket. Other subgraphs' fields
 * (any Federation 2 supergraph) are left as they are: `undefined`.
 */
export function resumableFetch(
  schema: GraphQLSchema,
  query: string,
  variables: Record<string, unknown>,
): ResumableFetch | undefined {
  const document = parse(query);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (!operation || operation.operation !== 'subscription') return undefined;
  const fields = operation.selectionSet.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD && s.name.value !== '__typename');
  if (fields.length !== 1) return undefined;
  const root = fields[0]!;
  const definition = schema.getSubscriptionType()?.getFields()[root.name.value];
  const afterArg = definition?.args.find((a) => a.name === 'after');
  if (!afterArg || isNonNullType(afterArg.type) || getNamedType(afterArg.type).name !== 'String') return undefined;
  if (operation.variableDefinitions?.some((v) => v.variable.name.value === RESUME_VARIABLE)) return undefined;

  const given = root.arguments?.find((a) => a.name.value === 'after');
  const initial = given ? valueFromASTUntyped(given.value, variables) : undefined;
  const argument: ArgumentNode = {
    kind: Kind.ARGUMENT,
    name: { kind: Kind.NAME, value: 'after' },
    value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: RESUME_VARIABLE } },
  };
  const definitionNode: VariableDefinitionNode = {
    kind: Kind.VARIABLE_DEFINITION,
    variable: argument.value as VariableDefinitionNode['variable'],
    type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'String' } },
  };
  const rewrittenRoot: FieldNode = { ...root, arguments: [...(root.arguments ?? []).filter((a) => a !== given), argument] };
  const selectionSet = {
    ...operation.selectionSet,
    selections: operation.selectionSet.selections.map((s) => (s === root ? rewrittenRoot : s)),
  };
  // The client's `$after` (if that is what it wrote) may now be unused: an unused variable is invalid.
  const used = new Set<string>();
  visit(selectionSet, { Variable: (node) => void used.add(node.name.value) });
  const kept = (operation.variableDefinitions ?? []).filter((v) => used.has(v.variable.name.value));
  const rewritten: OperationDefinitionNode = { ...operation, variableDefinitions: [...kept, definitionNode], selectionSet };
  const out: Record<string, unknown> = {};
  for (const v of kept) if (Object.prototype.hasOwnProperty.call(variables, v.variable.name.value)) out[v.variable.name.value] = variables[v.variable.name.value];
  if (typeof initial === 'string') out[RESUME_VARIABLE] = initial;
  return {
    query: print({ ...document, definitions: document.definitions.map((d) => (d === operation ? rewritten : d)) }),
    variables: out,
    variable: RESUME_VARIABLE,
  };
}
