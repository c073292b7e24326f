// Lint exists mainly to enforce the topology (STYLE.md rule 1) with Nx tags:
// kernels are pure math, coordinator/ and worker/ share only libs/, apps/ may use everything.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', 'runs/**', 'scripts/tmp/**', '**/*.cjs', '**/*.mjs', '**/*.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:kernels', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:comm', onlyDependOnLibsWithTags: ['scope:shared', 'scope:comm'] },
            { sourceTag: 'scope:worker', onlyDependOnLibsWithTags: ['scope:shared', 'scope:comm', 'scope:kernels'] },
            { sourceTag: 'scope:coordinator', onlyDependOnLibsWithTags: ['scope:shared', 'scope:comm'] },
            { sourceTag: 'scope:app', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
  },
  {
    // kernels/ is pure math: no network, no filesystem, no processes.
    files: ['kernels/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['ws', 'msgpackr', 'node:fs', 'fs', 'node:net', 'net', 'node:child_process', 'child_process', 'node:http', 'http'] }],
    },
  },
];
