// @ts-check
import js from '@eslint/js';
import noImportCycle from './scripts/lint/no-import-cycle.js';
import tseslint from 'typescript-eslint';

// The layers (docs/architecture.md): the core imports no feature and not the composition root;
// features (collector/features, exporters) do not import the composition root; nothing imports in a
// circle.
const CORE_IMPORTS_NO_FEATURE = {
  patterns: [
    {
      group: ['**/features/**', '**/exporters/**'],
      message: 'the core imports no feature: a feature gets what it needs through its descriptor (collector/core/feature.ts)',
    },
    { group: ['**/app/**'], message: 'the core does not import the composition root (collector/app)' },
  ],
};
const FEATURES_IMPORT_NO_APP = {
  patterns: [{ group: ['**/app/**'], message: 'a feature does not import the composition root (collector/app): it is handed what it needs' }],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'dist/**', 'test/artifacts/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        AbortController: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['collector/**/*.ts', 'exporters/**/*.ts', 'dashboards/**/*.ts', 'scripts/**/*.ts', 'bin/**/*.js'],
    plugins: { local: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: { 'local/no-import-cycle': 'error' },
  },
  { files: ['collector/core/**/*.ts'], rules: { 'no-restricted-imports': ['error', CORE_IMPORTS_NO_FEATURE] } },
  { files: ['collector/features/**/*.ts', 'exporters/**/*.ts'], rules: { 'no-restricted-imports': ['error', FEATURES_IMPORT_NO_APP] } },
);
