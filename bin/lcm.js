#!/usr/bin/env node
// The `lcm` command: one binary, every role. Sources are TypeScript, loaded through tsx's
// ESM loader so a fresh checkout runs without a build step (docs/adr/0002-run-typescript-with-tsx.md).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv.slice(2));
