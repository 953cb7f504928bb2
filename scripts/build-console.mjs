// Builds the console (apps/console, a single-page app that ingest-api serves at `/`) with Vite:
// into dist/console from `npm run build`, or into the folder given (`node scripts/build-console.mjs
// <dir>`), which the browser tests do so that they run the console of the sources they test.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const buildConsole = async (outDir = join(root, 'dist', 'console')) => {
  process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING ??= 'true'; // the config is TypeScript with ES imports, bundled by Vite
  await build({ configFile: join(root, 'apps', 'console', 'vite.config.ts'), logLevel: 'warn', build: { outDir: resolve(outDir) } });
  return outDir;
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = await buildConsole(process.argv[2]);
  console.log(`built the console into ${outDir}`);
}
