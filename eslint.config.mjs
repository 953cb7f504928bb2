import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

// Module boundaries are the architecture: the domain knows nothing of storage, transport or HTTP.
//   type:domain       pure model and rules; imports only other domain code and small pure libraries
//   type:infra        adapters: the event store, messaging, a process's state database; may use the domain
//   type:application  command handling over the event store (the command handler, items, snapshots)
//   type:read         projections over the event stream
//   type:platform     configuration, the shared Nest core (adapter choice, lifecycle), the HTTP edge
//   type:feature      service logic (ingest, scheduling, execution, notification) and its Nest wiring
//   type:app          thin process entry points (and their end-to-end tests)
//   type:testing      harnesses for end-to-end tests
const nodeBuiltins = ['fs', 'path', 'http', 'https', 'net', 'child_process', 'crypto', 'os', 'stream', 'worker_threads', 'sqlite'];

/** The layers' rules; `domainExternals` are the only packages the domain may import. */
const moduleBoundaries = (domainExternals) => ({
  enforceBuildableLibDependency: false,
  // The Node version check every service main requires first: a plain script, not a project (see scripts/check-node.cjs).
  allow: ['^\\.\\./\\.\\./\\.\\./scripts/check-node\\.cjs$', '^@flotilla/testing/(?:poll|postgres)$'],
  depConstraints: [
    {
      sourceTag: 'type:domain',
      onlyDependOnLibsWithTags: ['type:domain'],
      allowedExternalImports: domainExternals,
    },
    { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:domain', 'type:infra'] },
    { sourceTag: 'type:application', onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:application'] },
    { sourceTag: 'type:read', onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:read'] },
    { sourceTag: 'type:platform', onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:application', 'type:platform'] },
    {
      sourceTag: 'type:feature',
      onlyDependOnLibsWithTags: ['type:domain', 'type:infra', 'type:application', 'type:read', 'type:platform', 'type:feature'],
    },
    {
      sourceTag: 'type:app',
      onlyDependOnLibsWithTags: [
        'type:domain',
        'type:infra',
        'type:application',
        'type:read',
        'type:platform',
        'type:feature',
        'type:testing',
      ],
    },
    // Test support (process harnesses, loopback servers): used by end-to-end tests only.
    { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:domain', 'type:read', 'type:testing'] },
    // Benchmarks may use the test support too: the one headless-browser launcher (libs/testing/src/browser.ts).
    {
      sourceTag: 'type:bench',
      onlyDependOnLibsWithTags: [
        'type:domain',
        'type:infra',
        'type:application',
        'type:read',
        'type:platform',
        'type:feature',
        'type:testing',
      ],
    },
  ],
});

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/dist', '**/node_modules', '**/.nx', '**/tmp', '**/data'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', moduleBoundaries(['papaparse'])],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-throw-literal': 'error',
    },
  },
  {
    // The domain's tests may also generate inputs with fast-check (property tests); its code may not.
    files: ['libs/domain/**/*.spec.ts'],
    rules: { '@nx/enforce-module-boundaries': ['error', moduleBoundaries(['papaparse', 'fast-check'])] },
  },
  {
    // Decorated Nest constructors need runtime imports for DI metadata: a type-only import would erase the token.
    files: [
      'apps/**/*.ts',
      'libs/ingest/**/*.ts',
      'libs/scheduling/**/*.ts',
      'libs/execution/**/*.ts',
      'libs/notification/**/*.ts',
      'libs/platform/**/*.ts',
    ],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // The console (a browser app, React): its TSX gets the workspace's rules too, type-only imports included (no Nest DI there).
    files: ['apps/console/**/*.ts', 'apps/console/**/*.tsx'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', moduleBoundaries(['papaparse'])],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-throw-literal': 'error',
    },
  },
  {
    // Prettier wraps code at 140 columns but leaves long strings and comments alone: those are kept short by hand.
    files: ['**/*.ts', 'apps/console/**/*.tsx'],
    ignores: ['**/*.spec.ts', '**/*.spec.tsx', '**/*.fixtures.ts', '**/test/**', '**/testing/**', '**/testing.ts', '**/test-fixtures/**'],
    rules: { 'max-len': ['error', { code: 140, tabWidth: 2, ignoreUrls: true, ignoreRegExpLiterals: true }] },
  },
  {
    files: ['**/*.spec.ts', '**/*.spec.tsx', '**/*.fixtures.ts', '**/testing.ts', '**/contract/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // The domain is pure: no Node built-ins, no clock, no randomness hidden inside.
    files: ['libs/domain/**/*.ts'],
    ignores: ['libs/domain/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['node:*', ...nodeBuiltins], message: 'libs/domain is pure: no Node built-ins.' }],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Time comes in with the command, not from the clock.' },
        { object: 'Math', property: 'random', message: 'Randomness comes in from outside the domain.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Time comes in with the command.' },
      ],
    },
  },
];
