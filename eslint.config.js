import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.cache/', '.cluster/', '.scratch/', '.venv/', 'reports/', 'training/data/', 'training/runs/', 'training/mlruns/', '**/*.py'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  // The operator and the server meet only in contract/: neither imports the other's tree.
  {
    files: ['operator/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/inference-server/**'], message: 'the operator imports only contract/ from what it shares with the server' },
          // Types only: the schema module pulls zod into the operator bundle.
          { group: ['**/contract/server-config*'], allowTypeImports: true, message: 'import the server config types with `import type`' },
        ],
      }],
    },
  },
  {
    files: ['inference-server/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ group: ['**/operator/**', '**/crds/**'], message: 'the server imports only contract/ from what it shares with the operator' }],
      }],
    },
  },
  {
    files: ['contract/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ group: ['**/operator/**', '**/crds/**', '**/inference-server/**'], message: 'contract/ belongs to neither side' }],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-expressions': 'off' },
  },
);
