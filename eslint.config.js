import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.arbiter/**',
      'eslint.config.js',
      '.dependency-cruiser.cjs',
      // Generated from the OpenAPI document (npm run console:client).
      'console/src/api/schema.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read configuration through core/config.ts only.',
        },
      ],
    },
  },
  {
    // Plain JavaScript outside the TypeScript project (scanning/analysis/ts-worker.mjs).
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { parserOptions: { projectService: false, project: null } },
  },
  {
    files: ['core/config.ts', 'test/**', 'bench/**', 'cli/main.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
