import { freshPostgresDatabase, type FreshPostgresDatabase } from '@flotilla/testing/postgres';
import { twoWritersOnOneStream } from '../../test-fixtures/two-writers';
import { PostgresEventStore } from './postgres-event-store';

let database: FreshPostgresDatabase;
beforeAll(async () => {
  database = await freshPostgresDatabase();
});
afterAll(async () => {
  await database?.drop();
});

describe('PostgreSQL store shared by two processes', () => {
  it('serializes their concurrent appends on one stream and shows them to a subscriber in a third process', async () => {
    // Opened here first, so the children find the schema made; the subscriber polls rarely: notifications carry it.
    const store = await PostgresEventStore.open(database.url, { pollIntervalMs: 2_000 });
    try {
      await twoWritersOnOneStream(database.url, store, 'counter-1', 200);
    } finally {
      await store.close();
    }
  }, 120_000);
});
