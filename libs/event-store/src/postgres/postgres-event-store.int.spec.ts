import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { freshPostgresDatabase, type FreshPostgresDatabase } from '@flotilla/testing/postgres';
import { until } from '@flotilla/testing/poll';
import type { StoredEvent } from '../event-store';
import { describeEventStoreContract } from '../testing';
import { PostgresEventStore, type PostgresEventStoreOptions } from './postgres-event-store';

// One database for this run (PG_URL's server, default the local one), dropped at the end.
let database: FreshPostgresDatabase;
beforeAll(async () => {
  database = await freshPostgresDatabase();
});
afterAll(async () => {
  await database?.drop();
});

const openStore = (options: PostgresEventStoreOptions = {}) => PostgresEventStore.open(database.url, options);

describeEventStoreContract('PostgreSQL', () => openStore(), undefined, { uniqueIdsAcrossStreams: true });

// Small pages so that every paging path (stream pages, filtered scan windows) runs in the contract too.
describeEventStoreContract('PostgreSQL, 2-row pages', () => openStore({ pageSize: 2 }), undefined, { uniqueIdsAcrossStreams: true });

/** Records what a subscription delivers of the streams starting with `prefix`. */
const watch = (store: PostgresEventStore, prefix: string, after: 'end' | bigint = 'end') => {
  const delivered: StoredEvent[] = [];
  const deliveredAt = new Map<string, number>();
  const errors: unknown[] = [];
  const subscription = store.subscribeToAll(
    { after, filter: { streamPrefixes: [prefix] } },
    {
      onEvents: (events) => {
        for (const event of events) deliveredAt.set(event.id, performance.now());
        delivered.push(...events);
      },
      onError: (error) => void errors.push(error),
    },
  );
  return { subscription, delivered, deliveredAt, errors };
};

const expectStrictlyIncreasing = (positions: readonly bigint[]): void => {
  const outOfOrder = positions.flatMap((position, i) => (i > 0 && position <= (positions[i - 1] as bigint) ? [i] : []));
  expect(outOfOrder).toEqual([]);
};

const withStores = async <T>(count: number, options: PostgresEventStoreOptions, work: (stores: PostgresEventStore[]) => Promise<T>) => {
  const stores = await Promise.all(Array.from({ length: count }, () => openStore(options)));
  try {
    return await work(stores);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
};

describe('PostgresEventStore', () => {
  it('never lets a subscriber skip an event: appends from many pools at once arrive once each, in increasing position', async () => {
    const prefix = `order${randomUUID().slice(0, 8)}-`;
    const appenders = 8;
    const appendsEach = 40;
    await withStores(appenders + 1, { pollIntervalMs: 50 }, async ([reader, ...writers]) => {
      const seen = watch(reader as PostgresEventStore, prefix);
      await seen.subscription.caughtUp;
      await Promise.all(
        writers.map(async (writer, w) => {
          for (let i = 0; i < appendsEach; i += 1)
            await writer.appendToStream(`${prefix}${w}`, [
              { type: 'Placed', data: { w, i } },
              { type: 'Priced', data: { w, i } },
            ]);
        }),
      );
      const total = appenders * appendsEach * 2;
      await until(() => seen.delivered.length >= total, 20_000, `all ${total} events`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await seen.subscription.stop();

      expect(seen.errors).toEqual([]);
      expect(seen.delivered).toHaveLength(total);
      expect(new Set(seen.delivered.map((event) => event.id)).size).toBe(total);
      expectStrictlyIncreasing(seen.delivered.map((event) => event.position));
    });
  }, 60_000);

  it('never lets a subscriber skip an event of a transaction that drew its position earlier and commits later', async () => {
    // The trap itself: transactions that stay open a random while after their append, so without a lock
    // held to the commit a later position would become visible before an earlier one, and be read past.
    const prefix = `slow${randomUUID().slice(0, 8)}-`;
    const writers = 6;
    const appendsEach = 15;
    const clients = await Promise.all(
      Array.from({ length: writers }, async () => {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        return client;
      }),
    );
    try {
      await withStores(1, { pollIntervalMs: 20 }, async ([reader]) => {
        const seen = watch(reader as PostgresEventStore, prefix);
        await seen.subscription.caughtUp;
        await Promise.all(
          clients.map(async (client, w) => {
            for (let i = 0; i < appendsEach; i += 1) {
              await client.query('BEGIN');
              await client.query("SELECT * FROM flotilla_append($1, 'any', $2, $3, $4, $5, true)", [
                `${prefix}${w}`,
                [randomUUID()],
                ['Slow'],
                [JSON.stringify({ w, i })],
                [null],
              ]);
              await client.query('SELECT pg_sleep($1)', [Math.random() * 0.02]);
              await client.query('COMMIT');
            }
          }),
        );
        const total = writers * appendsEach;
        await until(() => seen.delivered.length >= total, 20_000, `all ${total} events`);
        await seen.subscription.stop();

        expect(seen.delivered).toHaveLength(total);
        expect(new Set(seen.delivered.map((event) => event.id)).size).toBe(total);
        expectStrictlyIncreasing(seen.delivered.map((event) => event.position));
      });
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  }, 60_000);

  it('delivers through LISTEN/NOTIFY to another instance (another pool) at once, without waiting for the poll', async () => {
    const prefix = `notified${randomUUID().slice(0, 8)}-`;
    await withStores(1, {}, async ([writer]) => {
      await withStores(1, { pollIntervalMs: 60_000 }, async ([reader]) => {
        const seen = watch(reader as PostgresEventStore, prefix);
        await seen.subscription.caughtUp;
        const latencies: number[] = [];
        for (let i = 0; i < 20; i += 1) {
          const { position } = await (writer as PostgresEventStore).appendToStream(`${prefix}1`, [{ type: 'Placed', data: { i } }]);
          const returnedAt = performance.now();
          await until(() => seen.delivered.some((event) => event.position === position), 5_000, `event ${i} through a notification`);
          latencies.push(Math.max(0, (seen.deliveredAt.get(seen.delivered.at(-1)?.id ?? '') ?? returnedAt) - returnedAt));
        }
        latencies.sort((a, b) => a - b);
        // The poll runs once a minute here: anything delivered in time came through a notification.
        expect(latencies[10]).toBeLessThan(200);
        expect(latencies.at(-1)).toBeLessThan(2_000);
      });
    });
  }, 60_000);

  it('still delivers by polling when no notification comes (a writer that does not notify, a reader that does not listen)', async () => {
    const prefix = `polled${randomUUID().slice(0, 8)}-`;
    await withStores(1, { notifications: false }, async ([silentWriter]) => {
      await withStores(1, { pollIntervalMs: 100 }, async ([listening]) => {
        await withStores(1, { pollIntervalMs: 100, notifications: false }, async ([deaf]) => {
          const byListening = watch(listening as PostgresEventStore, prefix);
          const byDeaf = watch(deaf as PostgresEventStore, prefix);
          await Promise.all([byListening.subscription.caughtUp, byDeaf.subscription.caughtUp]);
          await (silentWriter as PostgresEventStore).appendToStream(`${prefix}1`, [{ type: 'Placed', data: {} }]);
          await until(() => byListening.delivered.length === 1 && byDeaf.delivered.length === 1, 5_000, 'delivery by the poll');
        });
      });
    });
  }, 30_000);

  it('creates its schema once when several processes open a new database at once', async () => {
    const other = await freshPostgresDatabase();
    try {
      const stores = await Promise.all(Array.from({ length: 6 }, () => PostgresEventStore.open(other.url)));
      try {
        const results = await Promise.all(stores.map((store, i) => store.appendToStream('order-1', [{ type: 'Placed', data: { i } }])));
        expect(results.map((result) => result.position).sort()).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    } finally {
      await other.drop();
    }
  }, 30_000);

  it('treats a stream prefix literally: case-sensitive, and %, _ or \\ are no wildcards', async () => {
    const tag = `t${randomUUID().slice(0, 8)}`;
    await withStores(1, {}, async ([store]) => {
      const names = ['Order-1', 'order-1', 'or%er-1', 'or_er-1', 'ordxr-1', 'or\\er-1'].map((name) => `${tag}${name}`);
      for (const name of names) await (store as PostgresEventStore).appendToStream(name, [{ type: 'A', data: {} }]);
      const streams = async (prefix: string) => {
        const found: string[] = [];
        for await (const event of (store as PostgresEventStore).readAll({ filter: { streamPrefixes: [`${tag}${prefix}`] } }))
          found.push(event.streamName.slice(tag.length));
        return found;
      };
      await expect(streams('order-')).resolves.toEqual(['order-1']);
      await expect(streams('or%')).resolves.toEqual(['or%er-1']);
      await expect(streams('or_')).resolves.toEqual(['or_er-1']);
      await expect(streams('or\\')).resolves.toEqual(['or\\er-1']);
    });
  }, 30_000);

  it('a subscription outlives the server dropping and refusing its connections: it retries the read and delivers every event once', async () => {
    // A database of its own: this test shuts everyone out of it for a while.
    const own = await freshPostgresDatabase();
    const admin = new pg.Client({ connectionString: process.env['PG_URL'] || 'postgres://postgres@127.0.0.1:5432/test' });
    await admin.connect();
    const logged: string[] = [];
    const store = await PostgresEventStore.open(own.url, {
      pageSize: 5,
      notifications: false,
      pollIntervalMs: 50,
      log: (line) => void logged.push(line),
    });
    try {
      for (let i = 0; i < 20; i++) await store.appendToStream(`outage-${i}`, [{ type: 'Noted', data: { i } }]);
      const delivered: number[] = [];
      const errors: unknown[] = [];
      let outage: Promise<unknown> | undefined;
      store.subscribeToAll(
        { filter: { streamPrefixes: ['outage-'] }, maxBatchSize: 5 },
        {
          onEvents: async (events) => {
            delivered.push(...events.map((event) => (event.data as { i: number }).i));
            if (outage === undefined) {
              // After the first page: end every session of the database and refuse new ones for a second.
              await admin.query(`ALTER DATABASE ${own.name} ALLOW_CONNECTIONS false`);
              await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [
                own.name,
              ]);
              outage = new Promise((resolve) => setTimeout(resolve, 1000)).then(() =>
                admin.query(`ALTER DATABASE ${own.name} ALLOW_CONNECTIONS true`),
              );
            }
          },
          onError: (error) => void errors.push(error),
        },
      );
      await until(() => delivered.length >= 20, 15_000, 'every event after the outage').catch((error: unknown) => {
        throw new Error(
          `${String(error)}; delivered ${JSON.stringify(delivered)}; logged ${JSON.stringify(logged)}; errors ${String(errors)}`,
        );
      });
      await outage;
      expect({ delivered, errors }).toEqual({ delivered: Array.from({ length: 20 }, (_, i) => i), errors: [] });
      expect(logged.some((line) => line.includes('trying again'))).toBe(true);
    } finally {
      await admin.query(`ALTER DATABASE ${own.name} ALLOW_CONNECTIONS true`).catch(() => undefined);
      await store.close();
      await admin.end();
      await own.drop();
    }
  }, 30_000);

  it('names the URL without its password when it cannot connect', async () => {
    const refusal = await PostgresEventStore.open('postgres://flotilla:s3cret@127.0.0.1:1/flotilla').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toContain('postgres://flotilla:***@127.0.0.1:1/flotilla');
    expect((refusal as Error).message).not.toContain('s3cret');
  });

  it('close() stops its subscriptions and ends its connections', async () => {
    const store = await openStore();
    const subscription = store.subscribeToAll({}, { onEvents: () => undefined });
    await subscription.caughtUp;
    await store.close();
    await expect(subscription.stop()).resolves.toBeUndefined();
    await expect(store.streamRevision('order-1')).rejects.toThrow();
  });
});
