import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeEventStoreContract } from '../testing';
import { SqliteEventStore } from './sqlite-event-store';

const directory = mkdtempSync(join(tmpdir(), 'flotilla-sqlite-contract-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let files = 0;
/** A fresh file per test: the store under test starts empty. */
const freshStore = (options: ConstructorParameters<typeof SqliteEventStore>[1] = {}) =>
  new SqliteEventStore(join(directory, `store-${(files += 1)}.sqlite`), options);

describeEventStoreContract('SQLite', async () => freshStore(), undefined, { uniqueIdsAcrossStreams: true });

// Small pages so that every paging path (stream pages, filtered scan windows) runs in the contract too.
describeEventStoreContract('SQLite, 2-row pages', async () => freshStore({ pageSize: 2, durability: 'normal' }), undefined, {
  uniqueIdsAcrossStreams: true,
});

describe('SqliteEventStore', () => {
  it('delivers an append to subscriptions only once it has returned (its fsync, off the event loop, done)', async () => {
    const store = freshStore();
    try {
      const returned = new Set<string>();
      const deliveredBeforeReturn: string[] = [];
      const delivered: string[] = [];
      const subscription = store.subscribeToAll(
        { after: 'start' },
        {
          onEvents: (events) => {
            for (const event of events) {
              delivered.push(event.streamName);
              if (!returned.has(event.streamName)) deliveredBeforeReturn.push(event.streamName);
            }
          },
        },
      );
      await subscription.caughtUp;
      // Appends to several streams at once: the commits are made at once, their fsyncs shared and awaited.
      const streams = Array.from({ length: 20 }, (_, i) => `order-${i}`);
      await Promise.all(
        streams.map(async (stream) => {
          await store.appendToStream(stream, [{ type: 'Placed', data: {} }]);
          returned.add(stream);
        }),
      );
      for (let i = 0; i < 100 && delivered.length < streams.length; i++) await new Promise((done) => setTimeout(done, 10));
      await subscription.stop();
      expect(deliveredBeforeReturn).toEqual([]);
      expect([...delivered].sort()).toEqual([...streams].sort());
    } finally {
      await store.close();
    }
  });

  it("delivers another connection's appends once polled and synced, and 'end' starts after what it had committed", async () => {
    const path = join(directory, `store-${(files += 1)}.sqlite`);
    const writer = new SqliteEventStore(path);
    const reader = new SqliteEventStore(path, { pollIntervalMs: 5 });
    try {
      await writer.appendToStream('order-1', [{ type: 'Placed', data: { n: 1 } }]);
      // The reader has no subscription yet, so no poll has seen the writer's append: 'end' must still be after it.
      const delivered: unknown[] = [];
      const subscription = reader.subscribeToAll(
        { after: 'end' },
        { onEvents: (events) => void delivered.push(...events.map((e) => e.data)) },
      );
      await subscription.caughtUp;
      await writer.appendToStream('order-1', [{ type: 'Placed', data: { n: 2 } }]);
      for (let i = 0; i < 100 && delivered.length < 1; i++) await new Promise((done) => setTimeout(done, 10));
      await new Promise((done) => setTimeout(done, 50));
      await subscription.stop();
      expect(delivered).toEqual([{ n: 2 }]);
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it('returns the position of the last appended event as read back', async () => {
    const store = freshStore();
    try {
      const result = await store.appendToStream('order-1', [
        { type: 'A', data: {} },
        { type: 'B', data: {} },
      ]);
      const read: bigint[] = [];
      for await (const event of store.readAll()) read.push(event.position);
      expect(read).toEqual([1n, 2n]);
      expect(result.position).toBe(2n);
    } finally {
      await store.close();
    }
  });

  it('refuses, as a whole, an append that repeats a stored event id', async () => {
    const store = freshStore();
    try {
      await store.appendToStream('order-1', [{ id: 'f2c1a7e0-0000-4000-8000-000000000001', type: 'A', data: {} }]);
      await expect(
        store.appendToStream('order-2', [
          { type: 'B', data: {} },
          { id: 'f2c1a7e0-0000-4000-8000-000000000001', type: 'C', data: {} },
        ]),
      ).rejects.toThrow('Event id f2c1a7e0-0000-4000-8000-000000000001 is already stored');
      await expect(store.streamRevision('order-2')).resolves.toBeUndefined();
      await expect(store.appendToStream('order-2', [{ type: 'B', data: {} }])).resolves.toEqual({ nextExpectedRevision: 0, position: 2n });
    } finally {
      await store.close();
    }
  });

  it('reopens a file with its events and keeps counting positions and revisions', async () => {
    const path = join(directory, 'reopened.sqlite');
    const first = new SqliteEventStore(path);
    await first.appendToStream('order-1', [{ type: 'A', data: { n: 1 } }]);
    await first.close();

    const second = new SqliteEventStore(path);
    try {
      await expect(second.appendToStream('order-1', [{ type: 'B', data: { n: 2 } }], { expectedRevision: 0 })).resolves.toEqual({
        nextExpectedRevision: 1,
        position: 2n,
      });
    } finally {
      await second.close();
    }
  });

  it('treats a stream prefix literally: case-sensitive, and % or _ are no wildcards', async () => {
    const store = freshStore();
    try {
      for (const stream of ['Order-1', 'order-1', 'or%er-1', 'or_er-1', 'ordxr-1'])
        await store.appendToStream(stream, [{ type: 'A', data: {} }]);
      const streams = async (prefix: string) => {
        const names: string[] = [];
        for await (const event of store.readAll({ filter: { streamPrefixes: [prefix] } })) names.push(event.streamName);
        return names;
      };
      await expect(streams('order-')).resolves.toEqual(['order-1']);
      await expect(streams('or%')).resolves.toEqual(['or%er-1']);
      await expect(streams('or_')).resolves.toEqual(['or_er-1']);
    } finally {
      await store.close();
    }
  });

  it('sees appends made through another connection to the same file (polling)', async () => {
    const path = join(directory, 'shared.sqlite');
    const reader = new SqliteEventStore(path, { pollIntervalMs: 10 });
    const writer = new SqliteEventStore(path);
    try {
      const seen: string[] = [];
      const subscription = reader.subscribeToAll({}, { onEvents: (events) => void seen.push(...events.map((event) => event.type)) });
      await subscription.caughtUp;
      await writer.appendToStream('order-1', [{ type: 'FromTheOtherConnection', data: {} }]);
      const deadline = Date.now() + 5_000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(seen).toEqual(['FromTheOtherConnection']);
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('wakes its own subscriptions at once on an append, without waiting for the poller', async () => {
    const store = freshStore({ pollIntervalMs: 60_000 });
    try {
      const seen: string[] = [];
      const subscription = store.subscribeToAll({}, { onEvents: (events) => void seen.push(...events.map((event) => event.type)) });
      await subscription.caughtUp;
      await store.appendToStream('order-1', [{ type: 'Appended', data: {} }]);
      const deadline = Date.now() + 1_000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
      expect(seen).toEqual(['Appended']);
    } finally {
      await store.close();
    }
  });

  it('close() stops its subscriptions', async () => {
    const store = freshStore();
    const subscription = store.subscribeToAll({}, { onEvents: () => undefined });
    await subscription.caughtUp;
    await store.close();
    await expect(subscription.stop()).resolves.toBeUndefined();
  });
});
