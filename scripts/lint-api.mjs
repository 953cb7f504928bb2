// `npm run lint:api`: lints the OpenAPI description the product really serves, not a file kept beside it.
// Builds, starts the built standalone on a free port with a temporary DATA_DIR, fetches /docs-json into
// a temporary file, runs `redocly lint` with the recommended rules (redocly.yaml at the root turns off
// what cannot hold yet), stops the process and exits with redocly's status: any error fails.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = (command, args) =>
  spawnSync(command, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  }).status ?? 1;

const freePort = () =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

if (run(process.execPath, ['scripts/build.mjs']) !== 0) process.exit(1);

const dir = mkdtempSync(join(tmpdir(), 'flotilla-lint-api-'));
const port = await freePort();
const output = [];
const child = spawn(process.execPath, ['dist/apps/standalone/src/main.js'], {
  cwd: root,
  env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, 'data') },
  stdio: ['ignore', 'pipe', 'pipe'],
});
child.stdout.on('data', (chunk) => output.push(chunk));
child.stderr.on('data', (chunk) => output.push(chunk));
const exited = new Promise((done) => child.once('exit', done));

const stop = async () => {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
};

let status = 1;
try {
  const deadline = Date.now() + 30_000;
  let document = null;
  while (document === null) {
    if (child.exitCode !== null)
      throw new Error(`the standalone exited with ${child.exitCode}:\n${Buffer.concat(output).toString().slice(-3000)}`);
    if (Date.now() > deadline)
      throw new Error(`the standalone did not serve /docs-json within 30 s:\n${Buffer.concat(output).toString().slice(-3000)}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/docs-json`);
      if (response.ok) document = await response.text();
    } catch {
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  const file = join(dir, 'openapi.json');
  // Pretty-printed, so that redocly's line numbers and code frames point at something readable.
  writeFileSync(file, `${JSON.stringify(JSON.parse(document), null, 2)}\n`);
  status = run('npx', [
    '--no-install',
    'redocly',
    'lint',
    '--config',
    join(root, 'redocly.yaml'),
    '--extends',
    'recommended',
    '--max-problems',
    '1000',
    file,
  ]);
} catch (error) {
  console.error(String(error instanceof Error ? error.message : error));
} finally {
  await stop();
}
process.exit(status);
