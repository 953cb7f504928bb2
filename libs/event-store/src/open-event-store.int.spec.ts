import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsdbEventStore } from './esdb/esdb-event-store';
import { freshPostgresDatabase } from '@flotilla/testing/postgres';
import { openEventStore } from './open-event-store';
import { PostgresEventStore } from './postgres/postgres-event-store';
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

  it.each(['postgres', 'postgresql'])('opens the PostgreSQL store for %s://… (its schema created on open)', async (scheme) => {
    const database = await freshPostgresDatabase();
    try {
      const store = await openEventStore(database.url.replace(/^postgres(?:ql)?:/, `${scheme}:`));
      try {
        expect(store).toBeInstanceOf(PostgresEventStore);
        await expect(store.appendToStream('order-1', [{ type: 'Placed', data: {} }])).resolves.toEqual({
          nextExpectedRevision: 0,
          position: 1n,
        });
      } finally {
        await store.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('names a PostgreSQL URL it cannot open without its password', async () => {
    const refusal = await openEventStore('postgresql://flotilla:secret@127.0.0.1:1/flotilla').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toContain('postgresql://flotilla:***@127.0.0.1:1/flotilla');
    expect((refusal as Error).message).not.toContain('secret');
  });

  it('refuses the URL of another engine without echoing its password', async () => {
    const refusal = await openEventStore('mysql://flotilla:secret@db:3306/flotilla').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toMatch(/Unsupported event store URL/);
    expect((refusal as Error).message).not.toContain('secret');
  });
});
