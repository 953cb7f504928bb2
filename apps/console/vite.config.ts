// The operator console: a single-page app built by Vite into dist/console, served by ingest-api at `/`.
// `@flotilla/domain` is the domain's own source, so the browser applies the same CSV mapping rules as the API.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
// `vite` and `vite preview` of the console alone forward the API to a running Flotilla (FLOTILLA_URL, else port 3000).
const api = process.env.FLOTILLA_URL ?? 'http://localhost:3000';
const proxy = { '/v1': api, '/workflow_runs': api, '/docs': api };

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  resolve: { alias: { '@flotilla/domain': resolve(root, 'libs/domain/src/index.ts') } },
  build: { outDir: resolve(root, 'dist/console'), emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { proxy },
  preview: { proxy },
});
