import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsdbEventStore } from './esdb/esdb-event-store';
import { openEventStore } from './open-event-store';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

const directory = mkdtempSync(join(tmpdir(), 'flotilla-open-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('openEventStore', () => {
  it.each([
    ['sqlite:<dir>/a.sqlite', 'a.sqlite'],
    ['sqlite://<dir>/b.sqlite', 'b.sqlite'],
    ['<dir>/c.sqlite', 'c.sqlite'],
  ])('opens the SQLite store for %s', async (url, file) => {
    const store = await openEventStore(url.replace('<dir>', directory));
    try {
      expect(store).toBeInstanceOf(SqliteEventStore);
      expect(existsSync(join(directory, file))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it.each(['esdb://localhost:2113?tls=false', 'esdb+discover://a:2113,b:2113', 'kurrentdb://localhost:2113?tls=false'])(
    'opens the EventStoreDB store for %s (the client connects on first use)',
    async (url) => {
      const store = await openEventStore(url);
      expect(store).toBeInstanceOf(EsdbEventStore);
      await store.close();
    },
  );

  it('refuses the URL of another engine without echoing its password', async () => {
    const refusal = await openEventStore('postgres://flotilla:secret@db:5432/flotilla').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toMatch(/Unsupported event store URL/);
    expect((refusal as Error).message).not.toContain('secret');
  });
});
