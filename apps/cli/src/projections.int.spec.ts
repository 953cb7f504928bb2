import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteEventStore } from '@flotilla/event-store';
import { ProjectionRunner, batchProjections } from '@flotilla/projections';
import { StateDb } from '@flotilla/state';
import { CliError } from './context';
import { projectionNamed, replayProjection, verifyProjection } from './projections';

/** replay and verify on real SQLite files: an event store, and a state file built by the services' projection runner. */
describe('replay and verify of a projection', () => {
  let dir: string;
  let store: SqliteEventStore;
  let statePath: string;
  const history = projectionNamed('batch-history');

  const pause = (batchId: string, n: number) =>
    store.appendToStream(`batch-${batchId}`, [
      { type: 'BatchPaused', data: { batchId, occurredAt: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(), actor: `operator/o${n}` } },
    ]);
  const rows = (): number => {
    const db = new DatabaseSync(statePath);
    try {
      return (db.prepare('SELECT count(*) AS n FROM batch_history').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-projections-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
    statePath = join(dir, 'standalone-state.sqlite');
    for (let n = 0; n < 5; n++) await pause(n % 2 === 0 ? 'a' : 'b', n);
    // The live read models, as the API's runner writes them; then "the service stops".
    const live = new StateDb(statePath);
    const runner = new ProjectionRunner(store, live, batchProjections());
    await runner.start();
    await runner.stop();
    live.close();
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verify passes on the live rows, stops where the live projection stands, and names a deleted or changed row', async () => {
    expect(await verifyProjection(store, statePath, history)).toMatchObject({ rowsCompared: 5, differences: [] });
    // Events the live projection has not applied yet are not differences: the rebuild stops at its checkpoint.
    await pause('a', 10);
    expect((await verifyProjection(store, statePath, history)).differences).toEqual([]);

    const db = new DatabaseSync(statePath);
    const [first, second] = db.prepare('SELECT batch_id, position FROM batch_history ORDER BY position').all() as {
      batch_id: string;
      position: string;
    }[];
    db.prepare('DELETE FROM batch_history WHERE position = ?').run(first!.position);
    db.prepare("UPDATE batch_history SET actor = 'someone-else' WHERE position = ?").run(second!.position);
    db.close();
    const result = await verifyProjection(store, statePath, history);
    expect(result.differences).toEqual([
      {
        table: 'batch_history',
        key: { batch_id: second!.batch_id, position: second!.position },
        kind: 'changed',
        columns: { actor: { live: 'someone-else', rebuilt: 'operator/o1' } },
      },
      { table: 'batch_history', key: { batch_id: first!.batch_id, position: first!.position }, kind: 'only-rebuilt' },
    ]);
  });

  it('verifies every projection the API serves (each of its tables pairs rows by a primary key)', async () => {
    for (const projection of batchProjections()) {
      const result = await verifyProjection(store, statePath, projectionNamed(projection.name));
      expect({ name: projection.name, differences: result.differences }).toEqual({ name: projection.name, differences: [] });
    }
  });

  it('replay goes on from the checkpoint, or rebuilds from scratch, and refuses while another process has the file open', async () => {
    await pause('b', 10);
    const applied: number[] = [];
    const progress = { start: (total: number) => applied.push(total), update: () => undefined, stop: () => undefined };
    // On from the checkpoint: only the new event is read.
    await replayProjection(store, statePath, history, { fromScratch: false, progress });
    expect(applied).toEqual([1]);
    expect(rows()).toBe(6);

    const db = new DatabaseSync(statePath);
    db.exec('DELETE FROM batch_history');
    db.close();
    // On from the checkpoint, the deleted rows stay deleted; from scratch, they are back.
    await replayProjection(store, statePath, history, { fromScratch: false });
    expect(rows()).toBe(0);
    await replayProjection(store, statePath, history, { fromScratch: true, progress });
    expect(applied).toEqual([1, 6]);
    expect(rows()).toBe(6);
    expect((await verifyProjection(store, statePath, history)).differences).toEqual([]);

    // Another connection holding the file open (as a running service does) makes replay refuse, and changes nothing.
    const service = new StateDb(statePath);
    try {
      service.run('DELETE FROM batch_history');
      const refusal = await replayProjection(store, statePath, history, { fromScratch: true }).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(CliError);
      expect(refusal).toMatchObject({ exitCode: 3, message: expect.stringContaining('is open in another process') });
      expect(rows()).toBe(0);
    } finally {
      service.close();
    }
  });
});
