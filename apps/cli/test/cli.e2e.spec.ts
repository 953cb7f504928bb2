import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { PlatformProcess, ProductFixture, eventually, freePort, tempDir } from '@flotilla/testing';

const root = resolve(__dirname, '../../..');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI as an operator runs it: its own process, on the product's data directory, from the TypeScript sources. */
const children: ChildProcess[] = [];
const startCli = (dataDir: string, args: readonly string[]): ChildProcess => {
  const child = spawn(process.execPath, ['-r', './scripts/swc-register.cjs', 'apps/cli/src/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
};

const collect = (child: ChildProcess): { stdout: () => string; stderr: () => string; exited: Promise<number | null> } => {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { stdout: () => stdout, stderr: () => stderr, exited: new Promise((done) => child.once('exit', done)) };
};

const cli = async (dataDir: string, ...args: string[]): Promise<Run> => {
  const output = collect(startCli(dataDir, args));
  const code = await output.exited;
  return { code, stdout: output.stdout(), stderr: output.stderr() };
};

const jsonLines = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);

interface HistoryLine {
  position: string;
  type: string;
  actor: string | null;
  reason: string | null;
  time: string;
  data: Record<string, unknown>;
}

interface BatchAt {
  status: string;
  progress: BatchView['progress'];
  schedule: { startAt: string; plan: number };
  settings: { maxConcurrent: number; batchIntervalSeconds: number; priority: number; name: string };
}

/**
 * The flotilla CLI against the real product process and its SQLite files, run as a child process
 * the way an operator runs it, while the product runs (except `replay`, which must refuse then).
 */
describe('the flotilla operator CLI', () => {
  let product: ProductFixture;

  beforeAll(async () => {
    product = await ProductFixture.start({ name: 'cli' });
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await product.stop();
  });

  const batch = (id: string) => product.batch<BatchView>(id);
  /** Until nothing is in flight: every triggered execution has its outcome. */
  const settled = (id: string, triggered: number) =>
    eventually(
      () => batch(id),
      (view) => view.progress.triggered === triggered && view.progress.completed === triggered,
      20_000,
      `${triggered} executions of ${id} completed`,
    );

  it('acts as the operator, answers history and time travel as the API saw it, follows events, verifies and replays projections', async () => {
    const data = product.dataDir;
    // Two a wave, a wave every 5 minutes: after the first wave nothing moves on its own during the test.
    const id = await product.createBatch({ maxConcurrent: 2, batchIntervalSeconds: 300, items: ProductFixture.items(8) });
    const seen: { step: string; view: BatchView; at: string }[] = [];
    const record = async (step: string, view: BatchView) => seen.push({ step, view, at: new Date().toISOString() });
    await record('running', await settled(id, 2));

    // pause through the CLI, as operator alice: the API sees it, recorded with her name.
    const paused = await cli(data, 'pause', id, '--reason', 'target maintenance', '--as', 'alice', '--json');
    expect(paused.stderr).toBe('');
    expect(paused.code).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({ status: 'paused', progress: { triggered: 2, completed: 2 } });
    await record(
      'paused',
      await eventually(
        () => batch(id),
        (view) => view.status === 'paused',
        10_000,
        'the API to show the pause',
      ),
    );
    const apiHistory = await product.history<HistoryEntry>(id);
    expect(apiHistory.find((entry) => entry.type === 'BatchPaused')).toMatchObject({
      actor: 'operator/alice',
      reason: 'target maintenance',
    });

    // resume through the API: its first wave runs at once.
    const resumed = await product.app.request('POST', `/v1/batches/${id}/resume`, { reason: 'back' }, { 'X-Actor': 'ops' });
    expect(resumed.status).toBe(200);
    await record('resumed', await settled(id, 4));

    // cancel through the CLI, the name from the OS user when --as is not given.
    const cancelled = await cli(data, 'cancel', id, '--reason', 'no longer needed');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`${id}: cancel recorded as operator/\\S+ at position \\d+; status cancelled`));
    await record(
      'cancelled',
      await eventually(
        () => batch(id),
        (view) => view.status === 'cancelled',
        10_000,
        'the API to show the cancel',
      ),
    );
    // A second cancel is refused by the domain, with exit 1 and its reason.
    const again = await cli(data, 'cancel', id, '--reason', 'twice');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cancel/i);

    // state --at each recorded moment: what the API answered then.
    for (const { step, view, at } of seen) {
      const state = await cli(data, 'state', id, '--at', at, '--json');
      expect({ step, code: state.code, stderr: state.stderr }).toEqual({ step, code: 0, stderr: '' });
      const then = JSON.parse(state.stdout) as BatchAt;
      expect({ step, status: then.status, progress: then.progress }).toEqual({ step, status: view.status, progress: view.progress });
      expect(then.settings).toMatchObject({
        name: view.name,
        maxConcurrent: view.maxConcurrent,
        batchIntervalSeconds: view.batchIntervalSeconds,
        priority: view.priority,
      });
      expect(then.schedule.startAt).toBe(view.startAt);
    }
    expect(seen.map(({ view }) => view.status)).toEqual(['running', 'paused', 'running', 'cancelled']);

    // history --json: every event in order, the operators' actions with actor and reason; filters.
    const history = await cli(data, 'history', id, '--json');
    expect(history.code).toBe(0);
    const lines = jsonLines<HistoryLine>(history.stdout);
    // The same events as the API's history (its read model), in the same order, with the same actor and reason.
    const apiNow = await product.history<HistoryEntry>(id);
    expect(lines.map((line) => [line.position, line.type, line.actor, line.reason])).toEqual(
      apiNow.map((entry) => [entry.position, entry.type, entry.actor ?? null, entry.reason ?? null]),
    );
    expect(lines[0]?.type).toBe('BatchCreated');
    expect(lines.map((line) => BigInt(line.position))).toEqual(
      [...lines.map((line) => BigInt(line.position))].sort((a, b) => (a < b ? -1 : 1)),
    );
    expect(
      lines
        .filter((line) => line.type.startsWith('Batch') && line.type !== 'BatchCreated' && line.type !== 'BatchStarted')
        .map((l) => [l.type, l.actor, l.reason]),
    ).toEqual([
      ['BatchPaused', 'operator/alice', 'target maintenance'],
      ['BatchResumed', 'ops', 'back'],
      ['BatchCancelled', expect.stringMatching(/^operator\//), 'no longer needed'],
      // Decided with the cancel (nothing was in flight), so appended under the same actor.
      ['BatchSettled', expect.stringMatching(/^operator\//), null],
    ]);
    expect(lines.filter((line) => line.type === 'ExecutionCompleted')).toHaveLength(4);
    const onlyPauses = jsonLines<HistoryLine>((await cli(data, 'history', id, '--json', '--type', 'BatchPaused')).stdout);
    expect(onlyPauses.map((line) => line.type)).toEqual(['BatchPaused']);
    const alices = jsonLines<HistoryLine>((await cli(data, 'history', id, '--json', '--actor', 'operator/alice')).stdout);
    expect(alices.map((line) => line.type)).toEqual(['BatchPaused']);
    const table = await cli(data, 'history', id);
    expect(table.stdout.split('\n')[0]).toMatch(/^TIME\s+POSITION\s+TYPE\s+ACTOR\s+REASON\s+DATA$/);
    expect(table.stdout).toMatch(/BatchPaused\s+operator\/alice\s+target maintenance/);

    // state --at a position, as history prints it: right after the pause.
    const pausePosition = onlyPauses[0]!.position;
    const atPause = JSON.parse((await cli(data, 'state', id, '--at', pausePosition, '--json')).stdout) as BatchAt;
    expect(atPause.status).toBe('paused');
    expect(atPause.progress).toEqual(seen[1]!.view.progress);

    // batches --status
    const listed = jsonLines<BatchView>((await cli(data, 'batches', '--status', 'cancelled', '--json')).stdout);
    expect(listed.map((view) => [view.id, view.status])).toEqual([[id, 'cancelled']]);

    // tail --batch --type sees a new event of that batch and type, and only that.
    const other = await product.createBatch({
      maxConcurrent: 1,
      batchIntervalSeconds: 60,
      startAt: new Date(Date.now() + 3_600_000).toISOString(),
      items: ProductFixture.items(2),
    });
    const third = await product.createBatch({
      maxConcurrent: 1,
      batchIntervalSeconds: 60,
      startAt: new Date(Date.now() + 3_600_000).toISOString(),
      items: ProductFixture.items(2),
    });
    const tail = startCli(data, ['tail', '--batch', other, '--type', 'BatchCancelled', '--json']);
    const tailOutput = collect(tail);
    await eventually(
      () => tailOutput.stderr(),
      (text) => text.includes('following new events'),
      15_000,
      'tail to follow',
    );
    expect((await product.app.request('POST', `/v1/batches/${third}/cancel`, {})).status).toBe(200);
    expect((await product.app.request('POST', `/v1/batches/${other}/cancel`, { reason: 'watch' }, { 'X-Actor': 'ops' })).status).toBe(200);
    const followed = await eventually(
      () => jsonLines<HistoryLine & { stream: string }>(tailOutput.stdout()),
      (events) => events.length >= 1,
      10_000,
      'tail to print the cancel',
    );
    tail.kill('SIGTERM');
    expect(await tailOutput.exited).toBe(0);
    expect(followed.map((line) => [line.stream, line.type, line.actor, line.reason])).toEqual([
      [`batch-${other}`, 'BatchCancelled', 'ops', 'watch'],
    ]);

    // verify: clean while the product runs, then a corrupted row is found and named.
    for (const name of ['batch-summary', 'batch-executions', 'batch-history']) {
      const clean = await cli(data, 'verify', name);
      expect({ name, code: clean.code, out: clean.stdout }).toEqual({
        name,
        code: 0,
        out: expect.stringMatching(/rows match the rebuild/),
      });
    }
    const statePath = join(data, 'standalone-state.sqlite');
    const corrupt = new DatabaseSync(statePath);
    corrupt.exec('PRAGMA busy_timeout = 5000');
    corrupt.prepare('UPDATE batches SET completed = 99 WHERE id = ?').run(id);
    corrupt.close();
    const dirty = await cli(data, 'verify', 'batch-summary');
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain(`batches id=${id}: completed is 99, rebuilt 4`);
    expect(dirty.stdout).toMatch(/batch-summary: 1 difference\(s\)/);
    const dirtyJson = JSON.parse((await cli(data, 'verify', 'batch-summary', '--json')).stdout) as { differences: unknown[] };
    expect(dirtyJson.differences).toEqual([
      { table: 'batches', key: { id }, kind: 'changed', columns: { completed: { live: 99, rebuilt: 4 } } },
    ]);

    // replay refuses while the product holds its state file; once it is stopped, rebuilds it with a progress report.
    const refused = await cli(data, 'replay', 'batch-summary', '--from-scratch');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('is open in another process');
    expect((await cli(data, 'verify', 'batch-summary')).code).toBe(1);
    await product.app.kill();
    const replayed = await cli(data, 'replay', 'batch-summary', '--from-scratch');
    expect({ code: replayed.code, stderr: replayed.stderr }).toEqual({
      code: 0,
      stderr: expect.stringMatching(/replay batch-summary: \d+ events in [\d.]+ s \(\d+ events\/s\)/),
    });
    expect((await cli(data, 'verify', 'batch-summary')).code).toBe(0);

    // The product starts on the replayed file and answers the repaired row.
    await product.restart();
    expect((await batch(id)).progress.completed).toBe(4);
  });
});

/** `keys` through the CLI, on the store of a product running with auth on: its keys are the API's. */
describe('the flotilla CLI: keys', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;

  beforeAll(async () => {
    data = tempDir('flotilla-cli-keys-e2e-');
    app = new PlatformProcess(await freePort(), data.path, { AUTH: 'enabled' });
    await app.start();
  });

  afterAll(async () => {
    await app.kill();
    data.remove();
  });

  const batchesWith = (key: string) => app.request('GET', '/v1/batches', undefined, { authorization: `Bearer ${key}` });

  it('creates a key the running product accepts, lists keys without key or hash, and revokes one the product then refuses', async () => {
    const created = await cli(
      data.path,
      'keys',
      'create',
      '--team',
      'alpha',
      '--role',
      'submitter',
      '--name',
      'ci',
      '--as',
      'alice',
      '--json',
    );
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; key: string; team: string; role: string; name: string };
    expect(key).toMatchObject({ team: 'alpha', role: 'submitter', name: 'ci', key: expect.stringMatching(/^flt_/) });
    expect(
      (
        await eventually(
          () => batchesWith(key.key),
          (answer) => answer.status === 200,
          5_000,
          'the new key accepted',
        )
      ).status,
    ).toBe(200);

    const listed = await cli(data.path, 'keys', 'list', '--json');
    expect(listed.code).toBe(0);
    const keys = jsonLines<Record<string, unknown>>(listed.stdout);
    expect(keys.map((entry) => `${String(entry['team'])}/${String(entry['name'])}`)).toEqual(['default/admin', 'alpha/ci']);
    expect(listed.stdout).not.toContain(key.key);
    for (const entry of keys) expect(Object.keys(entry)).not.toEqual(expect.arrayContaining(['key', 'hash']));

    const badRole = await cli(data.path, 'keys', 'create', '--team', 'alpha', '--role', 'root', '--name', 'x');
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('root');
    const badTeam = await cli(data.path, 'keys', 'create', '--team', 'Alpha Team', '--role', 'admin', '--name', 'x');
    expect({ code: badTeam.code, stderr: badTeam.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('--team must be') });

    const revoked = await cli(data.path, 'keys', 'revoke', key.id, '--as', 'alice');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`${key.id}: revoked at`);
    const refusedAt = Date.now();
    expect(
      (
        await eventually(
          () => batchesWith(key.key),
          (answer) => answer.status === 401,
          5_000,
          'the revoked key refused',
        )
      ).status,
    ).toBe(401);
    expect(Date.now() - refusedAt).toBeLessThan(1_000);
    const unknown = await cli(data.path, 'keys', 'revoke', 'key_nope');
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({
      code: 1,
      stderr: expect.stringContaining('No key has the id key_nope'),
    });
  });
});
