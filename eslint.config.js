// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

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
    files: ['core/domain/**/*.ts', 'subgraphs/*/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['graphql', 'graphql/*', 'mongodb', 'etcd3', '@apollo/*'] }],
    },
  },
  {
    // Subgraphs meet through federation keys and core, never through imports of each other.
    files: ['subgraphs/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/subgraphs/*/**', '../../*/**'] }],
    },
  },
);
