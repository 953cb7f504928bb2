import { copyFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { BatchView, ExecutionView } from '@flotilla/projections';
import { STATE_MIGRATIONS } from '@flotilla/state';
import { PlatformProcess, eventually, freePort, tempDir } from '@flotilla/testing';

/** A data directory the product wrote at main 4463914, before the state database had migrations (see its README). */
const fixture = resolve(__dirname, '../../../libs/state/test-fixtures/data-main-4463914');
const DONE = 'bat_01m8sh7zrmbtp9yndc78x5dajk';
const WAITING = 'bat_01m8sh7zswmth807fwzhmzzkws';
const FUTURE = 'bat_01m8sh8013m3fx1hbwjj2r7m7q';

describe('a data directory written by main at 4463914', () => {
  it('opens in place: its state database is migrated, and every batch, execution and workflow reads as it was', async () => {
    const data = tempDir('flotilla-old-data-');
    for (const file of ['events.sqlite', 'standalone-state.sqlite']) copyFileSync(join(fixture, file), join(data.path, file));
    const app = new PlatformProcess(await freePort(), data.path);
    try {
      await app.start();
      const batches = (await app.request<{ items: BatchView[] }>('GET', '/v1/batches')).body.items;
      expect(batches.map((batch) => batch.name).sort()).toEqual(['done', 'future', 'waiting']);
      expect(batches.find((batch) => batch.id === DONE)).toMatchObject({ status: 'completed', progress: { total: 5, completed: 5 } });
      expect(batches.find((batch) => batch.id === FUTURE)).toMatchObject({ status: 'pending', progress: { total: 3, pending: 3 } });
      // Its second execution was due an hour after the fixture was written: overdue now, it is triggered at once.
      const waiting = await eventually(
        () => app.request<BatchView>('GET', `/v1/batches/${WAITING}`).then((response) => response.body),
        (view) => view.progress.triggered === 2,
        20_000,
        'the overdue wave of the waiting batch',
      );
      expect(waiting).toMatchObject({ status: 'completed', progress: { total: 2, triggered: 2 } });
      const done = (await app.request<{ items: ExecutionView[] }>('GET', `/v1/batches/${DONE}/executions`)).body.items;
      expect(done.map((execution) => [execution.index, execution.outcome?.status, execution.metadata])).toEqual(
        [0, 1, 2, 3, 4].map((index) => [index, 'completed', { row: String(index) }]),
      );
      // The async execution accepted back then still awaits its callback: a callback without the token is refused.
      const refused = await app.request('POST', `/v1/executions/${WAITING}.0/result`, { status: 'completed', output: 1 });
      expect(refused.status).toBe(403);
      // The workflow written with schema 1 reads through the upcaster.
      const workflow = await app.request<{ target: { timeoutMs: number; callbackTimeoutMs: number } }>('GET', '/v1/workflows/async-wf');
      expect(workflow.body.target).toMatchObject({ timeoutMs: 900_000, callbackTimeoutMs: 3_600_000 });
    } finally {
      await app.stop();
    }
    const state = new DatabaseSync(join(data.path, 'standalone-state.sqlite'), { readOnly: true });
    try {
      const applied = state.prepare('SELECT id FROM schema_migrations ORDER BY id').all() as { id: number }[];
      expect(applied.map((row) => row.id)).toEqual(STATE_MIGRATIONS.map((migration) => migration.id));
    } finally {
      state.close();
      data.remove();
    }
  });
});
