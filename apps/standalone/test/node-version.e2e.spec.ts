import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';

/**
 * scripts/check-node.cjs, run for real: under a Node older than 22 `npm start` and every service entry
 * point stop with one line and exit code 1. The old Node is a real binary found on this machine (the
 * system Node, which is why scripts/use-node24.sh exists). Only where none exists does the test fall
 * back to the script's FLOTILLA_CHECK_NODE_VERSION override under the current Node.
 */

const root = resolve(__dirname, '../../..');
const services = ['standalone', 'ingest-api', 'scheduler', 'executor', 'notifier'];
const majorOf = (version: string): number => Number(version.split('.')[0]);

interface OldNode {
  bin: string;
  version: string;
  env: NodeJS.ProcessEnv;
  real: boolean;
}

const findOldNode = (): OldNode => {
  const env = { ...process.env };
  delete env['FLOTILLA_CHECK_NODE_VERSION'];
  const onPath = (process.env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'node'));
  const candidates = [...onPath, '/usr/bin/node', '/usr/local/bin/node'];
  for (const candidate of new Set(candidates.filter((path) => existsSync(path)).map((path) => realpathSync(path)))) {
    const probe = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    const version = probe.stdout?.trim() ?? '';
    if (probe.status === 0 && majorOf(version) < 22) {
      // Its directory first on PATH, as on a machine whose `node` is that old.
      return { bin: candidate, version, env: { ...env, PATH: `${dirname(candidate)}${delimiter}${env['PATH'] ?? ''}` }, real: true };
    }
  }
  const version = '20.0.0';
  return { bin: process.execPath, version, env: { ...env, FLOTILLA_CHECK_NODE_VERSION: version }, real: false };
};

const old = findOldNode();
const expectedLine = `Flotilla needs Node 22 or newer; this is Node ${old.version}. On this machine run: source scripts/use-node24.sh`;
const lines = (text: string): string[] => text.split('\n').filter((line) => line.trim() !== '');

const expectRefused = (run: SpawnSyncReturns<string>): void => {
  expect(run.error).toBeUndefined();
  expect({ status: run.status, stderr: lines(run.stderr) }).toEqual({ status: 1, stderr: [expectedLine] });
};

const oldNodeSource = old.real ? `${old.bin}, a real Node ${old.version}` : 'none on this machine, FLOTILLA_CHECK_NODE_VERSION override';

describe(`the Node version check (old Node: ${oldNodeSource})`, () => {
  it('lets the current Node through silently', () => {
    expect(majorOf(process.versions.node)).toBeGreaterThanOrEqual(22);
    const env = { ...process.env };
    delete env['FLOTILLA_CHECK_NODE_VERSION'];
    const run = spawnSync(process.execPath, ['scripts/check-node.cjs'], { cwd: root, env, encoding: 'utf8' });
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('makes `npm start` print one line and exit 1, before the build', () => {
    const run = spawnSync('npm', ['start'], { cwd: root, env: old.env, encoding: 'utf8', timeout: 60_000 });
    expectRefused(run);
    // The build would print "built N files into dist"; the check comes first.
    expect(run.stdout).not.toContain('built ');
  });

  it.each(services)('stops %s at the top of its entry point, before anything loads node:sqlite', (service) => {
    const run = spawnSync(old.bin, ['-r', './scripts/swc-register.cjs', `apps/${service}/src/main.ts`], {
      cwd: root,
      env: old.env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expectRefused(run);
    expect(run.stdout).toBe('');
  });
});
