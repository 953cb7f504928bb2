// Compiles the workspace's TypeScript (apps, libs, bench; not tests) to CommonJS under dist/, with
// SWC (decorator metadata on, for NestJS) and the `@flotilla/*` path aliases rewritten to relative
// requires, so the output runs on plain Node: `node dist/apps/standalone/src/main.js`.
// Type-checking is `npm run typecheck`'s job; this only transpiles, in about a second. Then Vite builds the
// console (apps/console, a browser app the walk skips) into dist/console.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFileSync } from '@swc/core';
import { buildConsole } from './build-console.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
const { compilerOptions } = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));
const aliases = Object.entries(compilerOptions.paths).map(([alias, [target]]) => [alias, join(root, target).replace(/\.ts$/, '')]);

const consoleRoot = join(root, 'apps', 'console');
const sources = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      // The console is a browser app: Vite builds it below.
      if (path === consoleRoot) continue;
      if (entry.name !== 'node_modules' && entry.name !== 'test' && entry.name !== 'test-fixtures') walk(path);
    } else if (
      entry.name.endsWith('.ts') &&
      !entry.name.endsWith('.spec.ts') &&
      !entry.name.endsWith('.d.ts') &&
      !entry.name.endsWith('.fixtures.ts')
    ) {
      sources.push(path);
    }
  }
};
for (const top of ['apps', 'libs', 'bench']) walk(join(root, top));

rmSync(out, { recursive: true, force: true });
for (const source of sources) {
  let { code } = transformFileSync(source, {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2023',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  // require("@flotilla/x") -> require("../../libs/x/src/index")
  for (const [alias, target] of aliases) {
    const to = relative(dirname(source), target);
    code = code.replaceAll(`require("${alias}")`, `require("${to.startsWith('.') ? to : `./${to}`}")`);
  }
  const destination = join(out, relative(root, source)).replace(/\.ts$/, '.js');
  mkdirSync(dirname(destination), { recursive: true });
  writeFileSync(destination, code);
}
// Each service's main.js requires ../../../scripts/check-node.cjs first: plain JS, copied as it is.
mkdirSync(join(out, 'scripts'), { recursive: true });
copyFileSync(join(root, 'scripts', 'check-node.cjs'), join(out, 'scripts', 'check-node.cjs'));
console.log(`built ${sources.length} files into ${relative(process.cwd(), out) || '.'}`);

// The console (apps/console): a single-page app that ingest-api serves at `/`, built by Vite into dist/console.
await buildConsole(join(out, 'console'));
console.log(`built the console into ${relative(process.cwd(), join(out, 'console')) || '.'}`);
