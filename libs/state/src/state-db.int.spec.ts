import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { STATE_MIGRATIONS, type Migration } from './migrations';
import { StateDb } from './state-db';

const fixture = join(__dirname, '../test-fixtures/data-main-4463914');

const tables = (path: string): string[] => {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map(
      (row) => row.name,
    );
  } finally {
    db.close();
  }
};

describe('StateDb', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flotilla-state-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates every table of a new database through the migrations, and records them', () => {
    const path = join(dir, 'state.sqlite');
    const state = new StateDb(path);
    expect(state.appliedMigrations().map((migration) => migration.id)).toEqual(STATE_MIGRATIONS.map((migration) => migration.id));
    state.close();
    expect(tables(path)).toEqual(
      expect.arrayContaining([
        'batches',
        'executions',
        'batch_history',
        'consumer_checkpoints',
        'handled_events',
        'parked_batches',
        'scheduler_active_batches',
        'schema_migrations',
      ]),
    );
  });

  it('migrates a database written by main at 4463914 in place, keeping its rows', () => {
    const path = join(dir, 'standalone-state.sqlite');
    copyFileSync(join(fixture, 'standalone-state.sqlite'), path);
    const before = tables(path);
    expect(before).not.toContain('schema_migrations');
    const state = new StateDb(path);
    expect(state.appliedMigrations().map((migration) => migration.id)).toEqual(STATE_MIGRATIONS.map((migration) => migration.id));
    expect(state.all<{ name: string }>('SELECT name FROM batches ORDER BY name').map((row) => row.name)).toEqual([
      'done',
      'future',
      'waiting',
    ]);
    expect(state.get<{ n: number }>('SELECT count(*) AS n FROM executions')?.n).toBe(10);
    expect(state.get<{ n: number }>('SELECT count(*) AS n FROM projection_checkpoints')?.n).toBe(3);
    expect(state.get<{ n: number }>('SELECT count(*) AS n FROM scheduler_active_batches')?.n).toBe(2);
    state.close();
    // The embedded default of then never made the Kafka transport's table: the baseline adds it. Later
    // migrations add their own tables (the webhook queue, with SQLite's sequence table for its AUTOINCREMENT;
    // the workflow costs; the executor's parked batches; the batches whose items are being discarded; the
    // intakes not finished yet).
    const added = [
      'discarded_item_batches',
      'handled_events',
      'parked_batches',
      'schema_migrations',
      'sqlite_sequence',
      'unfinished_intakes',
      'webhook_delivery_keys',
      'webhook_delivery_queue',
      'workflow_costs',
    ];
    expect(tables(path)).toEqual([...before, ...added].sort());
  });

  it('applies each migration once: reopening changes nothing', () => {
    const path = join(dir, 'state.sqlite');
    new StateDb(path).close();
    const again = new StateDb(path);
    expect(again.appliedMigrations()).toHaveLength(STATE_MIGRATIONS.length);
    again.close();
  });

  it('applies a later migration to a database that has the earlier ones, and rolls a failing one back whole', () => {
    const path = join(dir, 'state.sqlite');
    new StateDb(path).close();
    const next: Migration = { id: STATE_MIGRATIONS.length + 1, name: 'add a column', sql: 'ALTER TABLE batches ADD COLUMN extra TEXT' };
    const withNext = new StateDb(path, [...STATE_MIGRATIONS, next]);
    expect(withNext.appliedMigrations().at(-1)).toMatchObject({ id: next.id, name: 'add a column' });
    withNext.run("INSERT INTO consumer_checkpoints (name, position) VALUES ('g', '1')");
    withNext.close();
    const broken: Migration = { id: next.id + 1, name: 'half broken', sql: 'CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);' };
    expect(() => new StateDb(path, [...STATE_MIGRATIONS, next, broken])).toThrow(/State migration \d+ \(half broken\) failed/);
    expect(tables(path)).not.toContain('half');
  });

  it('refuses a database migrated by newer code, naming both versions', () => {
    const path = join(dir, 'state.sqlite');
    new StateDb(path, [...STATE_MIGRATIONS, { id: STATE_MIGRATIONS.length + 1, name: 'future', sql: 'SELECT 1' }]).close();
    expect(() => new StateDb(path)).toThrow(
      `migration ${STATE_MIGRATIONS.length + 1}, newer than this code knows (${STATE_MIGRATIONS.length})`,
    );
  });

  it('applies writes made with later together at the next turn of the event loop, and at close', async () => {
    const path = join(dir, 'state.sqlite');
    const state = new StateDb(path);
    const count = (): number | undefined => state.get<{ n: number }>('SELECT count(*) AS n FROM consumer_checkpoints')?.n;
    for (let i = 0; i < 3; i++) state.later('INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?)', `g${i}`, '1');
    expect(count()).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(count()).toBe(3);
    state.later('INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?)', 'at-close', '2');
    state.close();
    const reopened = new StateDb(path);
    expect(reopened.get<{ position: string }>("SELECT position FROM consumer_checkpoints WHERE name = 'at-close'")?.position).toBe('2');
    reopened.close();
  });

  it('keeps only the newest waiting write of a key made with laterReplacing, and calls afterFlush once they are applied', async () => {
    const state = new StateDb(join(dir, 'state.sqlite'));
    try {
      const rows = () => state.all<{ name: string; position: string }>('SELECT name, position FROM consumer_checkpoints ORDER BY name');
      const upsert =
        'INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position';
      const flushedWith: unknown[] = [];
      for (let position = 1; position <= 5; position++) state.laterReplacing('checkpoint:a', upsert, 'a', String(position));
      state.laterReplacing('checkpoint:b', upsert, 'b', '7');
      state.later('INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?)', 'c', '9');
      state.afterFlush(() => flushedWith.push(rows()));
      expect(rows()).toEqual([]);
      await new Promise((resolve) => setImmediate(resolve));
      const applied = [
        { name: 'a', position: '5' },
        { name: 'b', position: '7' },
        { name: 'c', position: '9' },
      ];
      expect(rows()).toEqual(applied);
      expect(flushedWith).toEqual([applied]);
      // The next write of the key after the flush is a new waiting write, applied at the next flush.
      state.laterReplacing('checkpoint:a', upsert, 'a', '6');
      state.flush();
      expect(rows()[0]).toEqual({ name: 'a', position: '6' });
    } finally {
      state.close();
    }
  });

  it('flushes the writes made with later at most once per 10 ms, applying every one of them', async () => {
    const state = new StateDb(join(dir, 'state.sqlite'));
    try {
      const count = (): number | undefined => state.get<{ n: number }>('SELECT count(*) AS n FROM consumer_checkpoints')?.n;
      const insert = (name: string) => state.later('INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?)', name, '1');
      insert('first');
      await new Promise((resolve) => setImmediate(resolve));
      expect(count()).toBe(1);
      const flushed = new Promise<number>((resolve) => state.afterFlush(() => resolve(performance.now())));
      const asked = performance.now();
      insert('second');
      await new Promise((resolve) => setImmediate(resolve));
      expect(count()).toBe(1);
      const at = await flushed;
      expect(count()).toBe(2);
      expect(at - asked).toBeGreaterThanOrEqual(5);
    } finally {
      state.close();
    }
  });

  it('refuses a list that is not numbered 1, 2, 3, … in order', () => {
    expect(() => new StateDb(':memory:', [{ id: 2, name: 'x', sql: 'SELECT 1' }])).toThrow(/numbered 1, 2, 3/);
  });
});
