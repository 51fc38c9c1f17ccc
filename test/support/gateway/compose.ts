import { composeServices } from '@apollo/composition';
import type { DocumentNode } from 'graphql';

/** One subgraph as composition sees it: its name, routing URL and SDL. */
export interface SubgraphDefinition {
  name: string;
  url: string;
  typeDefs: DocumentNode;
}

/** Composes Federation 2 subgraphs into a supergraph SDL; throws with every composition error listed. */
export function composeSupergraph(subgraphs: SubgraphDefinition[]): string {
  const result = composeServices(subgraphs);
  if (result.errors) {
    throw new Error(`composition failed:\n${result.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}
