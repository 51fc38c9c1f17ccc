/**
 * What every role of the `lcm` command is (DESIGN.md §2): a module whose `run(options)` starts it and
 * returns a `Stoppable`. The CLI (`cli/main.ts`) only parses arguments and composes roles; the types
 * live here so that no role imports the CLI.
 */
export interface Stoppable {
  /** What the role prints once started (addresses, tokens). */
  banner?: string[];
  stop(): Promise<void>;
}

export interface RoleOptions {
  port?: number;
  [key: string]: unknown;
}
