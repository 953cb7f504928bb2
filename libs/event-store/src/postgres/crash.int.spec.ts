import { freshPostgresDatabase, type FreshPostgresDatabase } from '@flotilla/testing/postgres';
import { appendUntilKilled, expectSurvivedTheKill, type Ack } from '../../test-fixtures/crash-writer';
import { PostgresEventStore } from './postgres-event-store';

let database: FreshPostgresDatabase;
beforeAll(async () => {
  database = await freshPostgresDatabase();
});
afterAll(async () => {
  await database?.drop();
});

describe('PostgreSQL store, writer killed mid-stream', () => {
  it('keeps every acknowledged append, stays readable and accepts appends again, kill after kill', async () => {
    const acknowledged: Ack[] = [];

    for (let round = 1; round <= 3; round += 1) {
      acknowledged.push(...(await appendUntilKilled(database.url, 300)));

      const store = await PostgresEventStore.open(database.url);
      try {
        await expectSurvivedTheKill(store, acknowledged, round);
      } finally {
        await store.close();
      }
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(900);
  }, 120_000);
});
