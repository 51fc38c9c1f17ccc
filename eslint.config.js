// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const SUBGRAPHS = ['definitions', 'workers', 'sessions', 'score-reports'];
const INFRA = ['graphql', 'graphql/*', 'mongodb', 'etcd3', '@apollo/*'];

export default tseslint.config(
  { ignores: ['node_modules/**', '**/__generated__/**', '.lcm/**', 'coverage/**', 'dashboard/dist/**'] },
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
    // Domain code stays free of GraphQL, MongoDB and etcd (DESIGN.md §9).
    files: ['core/domain/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: INFRA }] },
  },
  // Subgraphs meet through federation keys and core, never through imports of each other; their
  // domain folders import no infrastructure either.
  ...SUBGRAPHS.flatMap((name) => {
    const others = SUBGRAPHS.filter((o) => o !== name).flatMap((o) => [`**/subgraphs/${o}/**`, `../${o}/**`, `../../${o}/**`]);
    return [
      { files: [`subgraphs/${name}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns: others }] } },
      { files: [`subgraphs/${name}/domain/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns: [...others, ...INFRA] }] } },
    ];
  }),
);
