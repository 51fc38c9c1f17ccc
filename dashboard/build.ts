/**
 * Builds the dashboard and GraphiQL into dashboard/dist/ with esbuild (docs/adr/0013-dashboard.md).
 * Run by `npm install` (the `prepare` script), by `npm run build:dashboard`, and by the gateway at
 * start when dist/ is missing or older than its sources (`ensureDashboardBuilt`).
 *
 *   dist/dashboard.js, dist/dashboard.css   the live dashboard (plain TypeScript + DOM)
 *   dist/graphiql.js,  dist/graphiql.css    GraphiQL (graphiql + React) for /graphql and /internal/graphql
 *   dist/index.html, dist/graphiql.html     the two pages (copied from src/)
 *   dist/build-info.json                    hash of the sources it was built from
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_DIR = dirname(fileURLToPath(import.meta.url));
export const DIST_DIR = join(DASHBOARD_DIR, 'dist');
const ROOT = join(DASHBOARD_DIR, '..');

/** Every file the bundles depend on besides node_modules: the sources, the pages, this script. */
function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(join(DASHBOARD_DIR, 'src'));
  walk(join(DASHBOARD_DIR, '__generated__'));
  files.push(fileURLToPath(import.meta.url));
  return files;
}

/** A hash of the sources and of the bundled packages' versions. */
export function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of sourceFiles()) {
    hash.update(relative(DASHBOARD_DIR, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  for (const pkg of ['graphiql', 'react', 'react-dom', 'graphql-ws', 'yaml', 'esbuild']) {
    try {
      hash.update(pkg).update(JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version as string);
    } catch {
      hash.update(pkg).update('missing');
    }
  }
  return hash.digest('hex');
}

/** Whether dist/ holds a build of the current sources. */
export function isDashboardBuilt(dir = DIST_DIR): boolean {
  try {
    const info = JSON.parse(readFileSync(join(dir, 'build-info.json'), 'utf8')) as { hash?: string };
    return info.hash === sourceHash();
  } catch {
    return false;
  }
}

export interface BuildResult {
  outdir: string;
  files: Array<{ name: string; bytes: number }>;
  ms: number;
}

/** Bundles into a scratch folder, then swaps it in, so a reader never sees half a build. */
export async function buildDashboard(outdir = DIST_DIR): Promise<BuildResult> {
  const started = performance.now();
  const { build } = await import('esbuild');
  const scratch = `${outdir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(scratch, { recursive: true });
  try {
    await build({
      entryPoints: { dashboard: join(DASHBOARD_DIR, 'src/main.ts'), graphiql: join(DASHBOARD_DIR, 'src/graphiql.ts') },
      outdir: scratch,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome110', 'firefox110', 'safari16'],
      minify: true,
      sourcemap: 'linked',
      legalComments: 'linked',
      define: { 'process.env.NODE_ENV': '"production"' },
      loader: { '.woff2': 'file', '.woff': 'file', '.svg': 'dataurl' },
      absWorkingDir: ROOT,
      logLevel: 'silent',
    });
    for (const page of ['index.html', 'graphiql.html']) copyFileSync(join(DASHBOARD_DIR, 'src', page), join(scratch, page));
    writeFileSync(join(scratch, 'build-info.json'), JSON.stringify({ hash: sourceHash(), builtAt: new Date().toISOString() }) + '\n');
    const files = readdirSync(scratch).map((name) => ({ name, bytes: statSync(join(scratch, name)).size }));
    const old = `${outdir}.old-${process.pid}-${Date.now()}`;
    try {
      if (existsSync(outdir)) renameSync(outdir, old);
      renameSync(scratch, outdir);
    } catch (error) {
      // Another process swapped its build in at the same moment: theirs is as good as ours.
      if (!isDashboardBuilt(outdir)) throw error;
      rmSync(scratch, { recursive: true, force: true });
    }
    rmSync(old, { recursive: true, force: true });
    return { outdir, files, ms: Math.round(performance.now() - started) };
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
}

let pending: Promise<void> | undefined;

/** Builds dist/ once per process when it is missing or stale; concurrent callers share the build. */
export function ensureDashboardBuilt(): Promise<void> {
  pending ??= (async () => {
    if (!isDashboardBuilt()) await buildDashboard();
  })();
  return pending;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await buildDashboard();
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  const shown = result.files.filter((f) => /\.(js|css)$/.test(f.name));
  console.log(`dashboard built in ${result.ms} ms: ${shown.map((f) => `${f.name} ${kb(f.bytes)}`).join(', ')}`);
}
