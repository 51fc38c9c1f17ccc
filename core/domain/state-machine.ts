/**
 * A finite state machine given by its transition table. Pure data plus two questions: may we go from
 * A to B, and where may we go from A. The session and worker machines below are instances.
 */
export interface StateMachine<S extends string> {
  readonly name: string;
  readonly states: readonly S[];
  readonly table: Readonly<Record<S, readonly S[]>>;
  canTransition(from: S, to: S): boolean;
  next(from: S): readonly S[];
  isTerminal(state: S): boolean;
}

export function defineStateMachine<S extends string>(
  name: string,
  table: Readonly<Record<S, readonly S[]>>,
): StateMachine<S> {
  const states = Object.keys(table) as S[];
  const sets = new Map<S, ReadonlySet<S>>(states.map((s) => [s, new Set(table[s])]));
  for (const [from, targets] of sets) {
    for (const to of targets) {
      if (!sets.has(to)) throw new Error(`${name}: ${from} -> ${to} targets an unknown state`);
    }
  }
  return {
    name,
    states,
    table,
    canTransition: (from, to) => sets.get(from)?.has(to) ?? false,
    next: (from) => table[from] ?? [],
    isTerminal: (state) => (table[state]?.length ?? 0) === 0,
  };
}
