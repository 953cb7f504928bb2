import { freshPostgresDatabase, type FreshPostgresDatabase } from '@flotilla/testing/postgres';
import type { StoredEvent } from '../event-store';
import { appendUntilKilled, type Ack } from '../../test-fixtures/crash-writer';
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
        const stored = new Map<string, StoredEvent>();
        let previous = 0n;
        for await (const event of store.readAll()) {
          expect(event.position).toBeGreaterThan(previous);
          previous = event.position;
          stored.set(event.id, event);
        }
        const lost = acknowledged.filter(
          ({ stream, revision, id }) => stored.get(id)?.streamName !== stream || stored.get(id)?.revision !== revision,
        );
        expect(lost).toEqual([]);

        // Whatever made it in beyond the acknowledgements forms whole streams, without gaps.
        for (let s = 0; s < 7; s += 1) {
          const revisions: number[] = [];
          for await (const event of store.readStream(`crash-${s}`)) revisions.push(event.revision);
          expect(revisions).toEqual(revisions.map((_, index) => index));
          await expect(store.streamRevision(`crash-${s}`)).resolves.toBe(revisions.length - 1);
        }

        const revision = await store.streamRevision('crash-0');
        await expect(
          store.appendToStream('crash-0', [{ type: 'AfterTheCrash', data: { round } }], { expectedRevision: revision ?? 'no_stream' }),
        ).resolves.toMatchObject({ nextExpectedRevision: (revision ?? -1) + 1 });
      } finally {
        await store.close();
      }
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(900);
  }, 120_000);
});
