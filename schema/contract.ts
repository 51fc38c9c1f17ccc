/**
 * Schema contracts: the public schema is the full schema with every element tagged
 * `@tag(name: "internal")` removed, the way Apollo's schema contracts filter by tag. We remove the tagged
 * elements from each subgraph's SDL before composing, so the public supergraph cannot plan an internal
 * field at all (rather than hiding it after planning).
 */
import { Kind, parse, print, visit, type ConstDirectiveNode, type DocumentNode } from 'graphql';
import { INTERNAL_TAG } from './subgraphs.ts';

const isInternalTag = (d: ConstDirectiveNode): boolean =>
  d.name.value === 'tag' &&
  (d.arguments ?? []).some(
    (a) => a.name.value === 'name' && a.value.kind === Kind.STRING && a.value.value === INTERNAL_TAG,
  );

const tagged = (node: { directives?: readonly ConstDirectiveNode[] }): boolean =>
  (node.directives ?? []).some(isInternalTag);

/** Remove internal-tagged types, fields, arguments, input fields and enum values from a subgraph SDL. */
export function stripInternal(sdl: string): string {
  const doc: DocumentNode = visit(parse(sdl), {
    ObjectTypeDefinition: (n) => (tagged(n) ? null : undefined),
    ObjectTypeExtension: (n) => (tagged(n) ? null : undefined),
    InputObjectTypeDefinition: (n) => (tagged(n) ? null : undefined),
    ScalarTypeDefinition: (n) => (tagged(n) ? null : undefined),
    EnumTypeDefinition: (n) => (tagged(n) ? null : undefined),
    InterfaceTypeDefinition: (n) => (tagged(n) ? null : undefined),
    UnionTypeDefinition: (n) => (tagged(n) ? null : undefined),
    FieldDefinition: (n) => (tagged(n) ? null : undefined),
    InputValueDefinition: (n) => (tagged(n) ? null : undefined),
    EnumValueDefinition: (n) => (tagged(n) ? null : undefined),
  });
  // A root type left without fields (e.g. a Mutation of internal fields only) is removed as well.
  const cleaned: DocumentNode = {
    ...doc,
    definitions: doc.definitions.filter(
      (d) =>
        !(
          (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION) &&
          (d.fields?.length ?? 0) === 0
        ),
    ),
  };
  return print(cleaned);
}
