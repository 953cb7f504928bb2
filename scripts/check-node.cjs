// Stops Flotilla in one clear line when Node is too old, before anything loads `node:sqlite`
// (a built-in only from Node 22) and dies with ERR_UNKNOWN_BUILTIN_MODULE deep in a stack trace.
// Two callers: `npm start` runs it before the build (`node scripts/check-node.cjs`), and every
// service entry point (apps/*/src/main.ts) requires it first; scripts/build.mjs copies it to
// dist/scripts/ so that the same relative require works from dist/apps/*/src/main.js.
// Deliberately ES5 and CommonJS: it has to parse and run on whatever old Node someone has.
//
// FLOTILLA_CHECK_NODE_VERSION: for tests only, the version to judge instead of process.versions.node.
// apps/standalone/test/node-version.e2e.spec.ts sets it only when the machine has no Node older than 22
// to run this file under for real.
'use strict';

var MINIMUM_MAJOR = 22;
var version = process.env.FLOTILLA_CHECK_NODE_VERSION || process.versions.node;
var major = parseInt(version.split('.')[0], 10);

if (!(major >= MINIMUM_MAJOR)) {
  process.stderr.write(
    'Flotilla needs Node ' + MINIMUM_MAJOR + ' or newer; this is Node ' + version + '. On this machine run: source scripts/use-node24.sh\n',
  );
  process.exit(1);
}
