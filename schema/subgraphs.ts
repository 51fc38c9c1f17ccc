/**
 * The one list of the project's subgraphs: name, SDL file and default port. Composition, the gateway,
 * codegen and the tests all read it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SUBGRAPH_NAMES = ['definitions', 'workers', 'sessions', 'score-reports'] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];

/** Default ports when a subgraph runs alone (`lcm subgraph <name>` without `--port`). */
export const DEFAULT_SUBGRAPH_PORTS: Record<SubgraphName, number> = {
  definitions: 4001,
  workers: 4002,
  sessions: 4003,
  'score-reports': 4004,
};

export const subgraphSdlPath = (name: SubgraphName): string =>
  fileURLToPath(new URL(`./${name}.graphql`, import.meta.url));

const cache = new Map<SubgraphName, string>();
export function subgraphSdl(name: SubgraphName): string {
  let sdl = cache.get(name);
  if (sdl === undefined) {
    sdl = readFileSync(subgraphSdlPath(name), 'utf8');
    cache.set(name, sdl);
  }
  return sdl;
}

export const defaultSubgraphUrl = (name: SubgraphName): string =>
  `http://127.0.0.1:${DEFAULT_SUBGRAPH_PORTS[name]}/graphql`;

/** The tag that marks internal schema elements, removed from the public contract. */
export const INTERNAL_TAG = 'internal';
