import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { twoWritersOnOneStream } from '../../test-fixtures/two-writers';
import { SqliteEventStore } from './sqlite-event-store';

const directory = mkdtempSync(join(tmpdir(), 'flotilla-two-process-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('SQLite store shared by two processes', () => {
  it('serializes their concurrent appends on one stream and shows them to a subscriber in a third process', async () => {
    const path = join(directory, 'shared.sqlite');
    // Created here first, so the children open an existing file.
    const store = new SqliteEventStore(path, { pollIntervalMs: 10 });
    try {
      await twoWritersOnOneStream(path, store, 'counter-1', 200);
    } finally {
      await store.close();
    }
  }, 120_000);
});
