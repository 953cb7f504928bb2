import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { appendUntilKilled, expectSurvivedTheKill, type Ack } from '../../test-fixtures/crash-writer';
import { SqliteEventStore } from './sqlite-event-store';

const directory = mkdtempSync(join(tmpdir(), 'flotilla-crash-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('SQLite store, writer killed mid-stream', () => {
  it('keeps every acknowledged append, stays readable and accepts appends again, kill after kill', async () => {
    const path = join(directory, 'crash.sqlite');
    const acknowledged: Ack[] = [];

    for (let round = 1; round <= 3; round += 1) {
      acknowledged.push(...(await appendUntilKilled(path, 300)));

      const raw = new DatabaseSync(path);
      expect(raw.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
      raw.close();

      const store = new SqliteEventStore(path);
      try {
        await expectSurvivedTheKill(store, acknowledged, round);
      } finally {
        await store.close();
      }
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(900);
  }, 120_000);
});
