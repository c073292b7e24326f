/** One jest run over every project; ts-jest transpiles only (tsc --noEmit type-checks in `npm run build`). */
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.base.json');

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/kernels', '<rootDir>/libs', '<rootDir>/worker', '<rootDir>/coordinator', '<rootDir>/apps'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.base.json', diagnostics: false }] },
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, { prefix: '<rootDir>/' }),
  testTimeout: 120000,
  maxWorkers: 2,
};
