import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteEventStore } from '@flotilla/event-store';
import { SqliteCheckpointStore } from './checkpoint-store';
import { InProcessTransport } from './in-process-transport';
import type { EventMessage } from './message';

const until = async (condition: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('InProcessTransport', () => {
  let dir: string;
  let store: SqliteEventStore;
  let db: DatabaseSync;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-transport-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
    db = new DatabaseSync(join(dir, 'state.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const append = (batchId: string, type: string, n: number) =>
    store.appendToStream(`batch-${batchId}`, [{ type, data: { batchId, n, occurredAt: new Date().toISOString() } }]);

  it('delivers the chosen types, keyed by batch, in order per key, and resumes from the checkpoint after a restart', async () => {
    const transport = new InProcessTransport(store, new SqliteCheckpointStore(db));
    const seen: EventMessage[] = [];
    const consumer = await transport.consume({ group: 'g', eventTypes: ['A'], concurrency: 8 }, async (message) => {
      // Later messages of a key finish sooner: order must still hold per key.
      await new Promise((resolve) => setTimeout(resolve, 20 - ((message.data as { n: number }).n % 20)));
      seen.push(message);
    });
    for (let n = 0; n < 20; n++) {
      await append(n % 2 === 0 ? 'even' : 'odd', 'A', n);
      await append('other', 'B', n);
    }
    await until(() => seen.length === 20);
    expect(seen.every((message) => message.type === 'A')).toBe(true);
    expect(seen.filter((message) => message.key === 'even').map((message) => (message.data as { n: number }).n)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(seen.find((message) => message.key === 'even')).toMatchObject({ schemaVersion: 1, stream: 'batch-even', revision: 0, type: 'A' });
    await consumer.stop();

    await append('even', 'A', 100);
    const again: EventMessage[] = [];
    const restarted = await new InProcessTransport(store, new SqliteCheckpointStore(db)).consume({ group: 'g', eventTypes: ['A'] }, async (message) => {
      again.push(message);
    });
    await restarted.caughtUp;
    await until(() => again.length === 1);
    expect((again[0]?.data as { n: number }).n).toBe(100);
    await restarted.stop();
  });

  it('groups are independent: each gets every message', async () => {
    const transport = new InProcessTransport(store, new SqliteCheckpointStore(db));
    const a: string[] = [];
    const b: string[] = [];
    const consumers = [
      await transport.consume({ group: 'a', eventTypes: ['A'] }, async (message) => void a.push(message.id)),
      await transport.consume({ group: 'b', eventTypes: ['A'] }, async (message) => void b.push(message.id)),
    ];
    for (let n = 0; n < 5; n++) await append('x', 'A', n);
    await until(() => a.length === 5 && b.length === 5);
    expect(a).toEqual(b);
    await Promise.all(consumers.map((consumer) => consumer.stop()));
  });

  it('a message that keeps failing goes to the dead letters with its error, and the rest flows', async () => {
    const transport = new InProcessTransport(store, new SqliteCheckpointStore(db), { retryBaseDelayMs: 1 });
    const handled: number[] = [];
    let attempts = 0;
    const consumer = await transport.consume({ group: 'g', eventTypes: ['A'], maxAttempts: 3 }, async (message) => {
      const n = (message.data as { n: number }).n;
      if (n === 1) {
        attempts++;
        throw new Error('poison');
      }
      handled.push(n);
    });
    for (let n = 0; n < 4; n++) await append('k', 'A', n);
    await until(() => handled.length === 3);
    expect(handled).toEqual([0, 2, 3]);
    expect(attempts).toBe(3);
    const letters = [];
    for await (const event of store.readStream('deadletters-g')) letters.push(event.data);
    expect(letters).toEqual([expect.objectContaining({ group: 'g', error: 'Error: poison', attempts: 3, message: expect.objectContaining({ type: 'A' }) })]);
    await consumer.stop();
  });

  it('work interrupted by a stop is not committed past: it and what follows are delivered again', async () => {
    const checkpoints = new SqliteCheckpointStore(db);
    let release: () => void = () => undefined;
    const done: number[] = [];
    const first = await new InProcessTransport(store, checkpoints).consume({ group: 'g', eventTypes: ['A'], concurrency: 2 }, async (message) => {
      const n = (message.data as { n: number }).n;
      if (n === 1) {
        await new Promise<void>((resolve) => (release = resolve));
        throw new Error('interrupted');
      }
      done.push(n);
    });
    await append('k1', 'A', 0);
    await append('k2', 'A', 1);
    await append('k3', 'A', 2);
    await until(() => done.length === 2);
    const stopping = first.stop();
    release();
    await stopping;
    const redelivered: number[] = [];
    const second = await new InProcessTransport(store, checkpoints).consume({ group: 'g', eventTypes: ['A'] }, async (message) => {
      redelivered.push((message.data as { n: number }).n);
    });
    await second.caughtUp;
    await until(() => redelivered.length === 2);
    await second.stop();
    expect(redelivered).toEqual([1, 2]);
  });
});
