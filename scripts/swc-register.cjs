// Runs the workspace's TypeScript directly under plain Node, for scripts and test child processes:
//   node -r ./scripts/swc-register.cjs bench/store.bench.ts
// Each .ts file is transpiled to CommonJS with SWC (the same options as the jest preset, so code
// behaves the same under jest and here), and the `@flotilla/*` path aliases of tsconfig.base.json
// resolve to their source files. No type-checking: that is `npm run typecheck`'s job.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

const workspaceRoot = path.resolve(__dirname, '..');
const { compilerOptions } = require(path.join(workspaceRoot, 'tsconfig.base.json'));
const aliases = new Map(
  Object.entries(compilerOptions.paths).map(([alias, [target]]) => [
    alias,
    path.join(workspaceRoot, compilerOptions.baseUrl ?? '.', target),
  ]),
);

const swcOptions = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2023',
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

// Registering '.ts' also makes extensionless requires (`./sqlite/sqlite-event-store`) find .ts files, and
// takes the file away from Node's own type stripping, which would load it as ESM without our aliases.
Module._extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), { ...swcOptions, filename });
  module._compile(code, filename);
};

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolveFilename.call(this, aliases.get(request) ?? request, ...rest);
};

// Stack traces point at the TypeScript lines.
process.setSourceMapsEnabled(true);
