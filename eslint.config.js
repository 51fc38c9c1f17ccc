// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const SUBGRAPHS = ['definitions', 'workers', 'sessions', 'score-reports'];
const CONTROLLERS = ['resource-scheduler', 'lablet-controller', 'worker-controller'];
/** Infrastructure that domain code never imports (DESIGN.md §9). */
const INFRA = ['graphql', 'graphql/*', 'mongodb', 'etcd3', '@apollo/*'];

/**
 * Folder boundaries (docs/architecture.md): a folder imports only the folders below it; the composition
 * root (`cli/`) may import everything. Production code never imports test kits (`test/`) or benchmarks
 * (`bench/`); tests (`*.test.ts`) may, and may start simulators and the composition root.
 * Patterns match the import path as written, so each folder is listed as it appears in relative imports.
 */
const folder = (name) => [`**/${name}/**`, `../${name}`, `../../${name}`];
const TEST_ONLY = [...folder('test'), ...folder('bench')];
const BELOW_ONLY = {
  core: ['cli', 'gateway', 'subgraphs', 'controllers', 'simulators', 'dashboard'],
  schema: ['cli', 'gateway', 'subgraphs', 'controllers', 'simulators', 'dashboard'],
  subgraphs: ['cli', 'gateway', 'controllers', 'simulators', 'dashboard'],
  gateway: ['cli', 'subgraphs', 'controllers', 'simulators'],
  controllers: ['cli', 'gateway', 'subgraphs', 'simulators', 'dashboard'],
  // A simulator shares no code with the clients it checks (core/clients), nor with the system.
  simulators: ['cli', 'gateway', 'subgraphs', 'controllers', 'dashboard', 'clients'],
};
const ALLOWED_IN_TESTS = new Set(['cli', 'simulators']);

/** One `no-restricted-imports` entry per file group (a later entry would replace an earlier one). */
function restrict(files, patterns, { tests = false, ignores = [] } = {}) {
  return {
    files,
    ignores: tests ? ignores : [...ignores, '**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [...new Set(patterns)] }] },
  };
}

function boundaries(top, banned, extra = [], subfolders = []) {
  const prod = [...banned.flatMap(folder), ...TEST_ONLY, ...extra];
  const test = [...banned.filter((b) => !ALLOWED_IN_TESTS.has(b)).flatMap(folder), ...extra];
  const ignores = subfolders.map((s) => `${s}/**`);
  return [restrict([`${top}/**/*.ts`], prod, { ignores }), restrict([`${top}/**/*.test.ts`], test, { tests: true, ignores })];
}

const subgraphRules = SUBGRAPHS.flatMap((name) => {
  // Subgraphs meet through federation keys and core, never through imports of each other.
  const others = SUBGRAPHS.filter((o) => o !== name).flatMap((o) => [`**/subgraphs/${o}/**`, `../${o}/**`, `../../${o}/**`]);
  return [
    ...boundaries(`subgraphs/${name}`, BELOW_ONLY.subgraphs, others, [`subgraphs/${name}/domain`]),
    ...boundaries(`subgraphs/${name}/domain`, BELOW_ONLY.subgraphs, [...others, ...INFRA]),
  ];
});

const controllerRules = CONTROLLERS.flatMap((name) => {
  // Controllers share only the kit.
  const others = CONTROLLERS.filter((o) => o !== name).flatMap((o) => [`**/controllers/${o}/**`, `../${o}/**`]);
  return boundaries(`controllers/${name}`, BELOW_ONLY.controllers, others);
});

export default tseslint.config(
  { ignores: ['node_modules/**', '**/__generated__/**', '.lcm/**', 'coverage/**', 'dashboard/dist/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // Type-aware rules: a promise is awaited, returned, or explicitly `void`ed; never passed where a
    // callback's result is ignored.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
    },
  },
  ...boundaries('core', BELOW_ONLY.core, [], ['core/domain']),
  ...boundaries('core/domain', BELOW_ONLY.core, INFRA),
  ...boundaries('schema', BELOW_ONLY.schema),
  ...boundaries('gateway', BELOW_ONLY.gateway),
  ...boundaries('controllers/kit', BELOW_ONLY.controllers),
  ...controllerRules,
  ...boundaries('simulators', BELOW_ONLY.simulators),
  ...subgraphRules,
);
