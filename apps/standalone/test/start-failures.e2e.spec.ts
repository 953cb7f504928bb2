import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '../../..');

/** Starts the product with `env` added and waits for it to end (a start that fails must end on its own). */
const startWith = (env: Record<string, string>) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-start-failure-'));
  try {
    const run = spawnSync(process.execPath, ['-r', './scripts/swc-register.cjs', 'apps/standalone/src/main.ts'], {
      cwd: root,
      env: { ...process.env, AUTH: 'disabled', PORT: '0', DATA_DIR: dataDir, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: run.status, signal: run.signal, stderr: run.stderr };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
};

/**
 * A start that cannot succeed ends with exit code 1 and a line naming why, for a supervisor and an
 * operator to see: not with 0 (which a supervisor may take for a clean stop) and not silently.
 */
describe('a start that fails', () => {
  it.each([
    ['READY_MAX_RELAY_LAG', 'abc', 'READY_MAX_RELAY_LAG must be a positive integer, not abc'],
    ['KAFKA_PARTITIONS', '0', 'KAFKA_PARTITIONS must be a positive integer, not 0'],
  ])('a bad %s (%s) exits 1, naming the variable', (name, value, message) => {
    const run = startWith({ [name]: value });
    expect({ status: run.status, signal: run.signal }).toEqual({ status: 1, signal: null });
    expect(run.stderr).toContain(`standalone: could not start: Error: ${message}`);
  });
});
