import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IllegalBatchTransition, IllegalExecutionTransition, isBatch, type BatchState, type CreateBatch } from '@flotilla/domain';
import { SqliteEventStore, type EventStore } from '@flotilla/event-store';
import { BatchCommandHandler, batchSnapshotStream, batchStream } from './batch-command-handler';
import { MAX_ITEM_BYTES } from '@flotilla/domain';
import { ItemsReader, ItemsWriter, MAX_CHUNK_ITEMS, chunkOf, ItemTooLarge } from './items';

const now = new Date('2026-05-01T00:00:00Z');
const create = (batchId: string, total: number, items = { stream: `batchitems-${batchId}`, chunkStarts: [0] }): CreateBatch => ({
  type: 'CreateBatch',
  batchId,
  settings: {
    name: 'n',
    workflowId: 'wf',
    workflowVersion: 1,
    startAt: now.toISOString(),
    maxConcurrent: 10,
    batchIntervalSeconds: 0,
    priority: 50,
    metadata: {},
    catchUp: 'paced',
  },
  total,
  items,
  actor: 'test',
  now,
});

const batchOf = (state: BatchState) => {
  if (!isBatch(state)) throw new Error('not a batch');
  return state;
};

describe('BatchCommandHandler', () => {
  let dir: string;
  let store: EventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-repo-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a trigger decided before a pause cannot land after it: the pause wins, the trigger is decided again and refused', async () => {
    const executor = new BatchCommandHandler(store);
    const operator = new BatchCommandHandler(store);
    await executor.handle('bat_a', create('bat_a', 20));
    await executor.load('bat_a'); // the executor's cached state says running
    await operator.handle('bat_a', { type: 'PauseBatch', batchId: 'bat_a', now, actor: 'ops' });
    await expect(executor.handle('bat_a', { type: 'TriggerDueExecutions', batchId: 'bat_a', now, limit: 100 })).rejects.toThrow(
      IllegalBatchTransition,
    );
    const types: string[] = [];
    for await (const event of store.readStream(batchStream('bat_a'))) types.push(event.type);
    expect(types).toEqual(['BatchCreated', 'BatchStarted', 'BatchPaused']);
  });

  it('commands on one batch in one process run one at a time', async () => {
    const repository = new BatchCommandHandler(store);
    await repository.handle('bat_b', create('bat_b', 100));
    const results = await Promise.all(
      Array.from({ length: 10 }, () => repository.handle('bat_b', { type: 'TriggerDueExecutions', batchId: 'bat_b', now, limit: 10 })),
    );
    expect(results.map((result) => result.events.filter((event) => event.type === 'ExecutionTriggered').length)).toEqual(
      Array(10).fill(10),
    );
    expect(batchOf(await new BatchCommandHandler(store).load('bat_b')).counts).toMatchObject({ triggered: 100, pending: 0 });
    expect(batchOf(await new BatchCommandHandler(store).load('bat_b')).status).toBe('completed');
  });

  it('handleAll appends the decided commands at once and reports the refused ones', async () => {
    const repository = new BatchCommandHandler(store);
    await repository.handle('bat_c', create('bat_c', 3));
    await repository.handle('bat_c', { type: 'TriggerDueExecutions', batchId: 'bat_c', now, limit: 2 });
    const result = await repository.handleAll('bat_c', [
      { type: 'RecordExecutionCompleted', batchId: 'bat_c', index: 0, output: 1, attempts: 1, now },
      { type: 'RecordExecutionCompleted', batchId: 'bat_c', index: 0, output: 1, attempts: 1, now },
      { type: 'RecordExecutionFailed', batchId: 'bat_c', index: 1, error: 'x', attempts: 3, now },
      { type: 'RecordExecutionCompleted', batchId: 'bat_c', index: 2, output: 1, attempts: 1, now },
    ]);
    expect(result.events.map((event) => event.type)).toEqual(['ExecutionCompleted', 'ExecutionFailed']);
    expect(result.errors.map((error) => error?.constructor)).toEqual([
      undefined,
      IllegalExecutionTransition,
      undefined,
      IllegalExecutionTransition,
    ]);
    expect(batchOf(await new BatchCommandHandler(store).load('bat_c')).counts).toMatchObject({ completed: 1, failed: 1 });
  });

  it('a cold load from a snapshot and the events after it equals a full replay', async () => {
    const writer = new BatchCommandHandler(store, { snapshotEvery: 50 });
    await writer.handle('bat_d', create('bat_d', 500));
    await writer.handle('bat_d', { type: 'PauseBatch', batchId: 'bat_d', now, actor: 'ops' });
    await writer.handle('bat_d', { type: 'CancelExecution', batchId: 'bat_d', index: 3, now, actor: 'ops' });
    const later = new Date(now.getTime() + 60_000);
    await writer.handle('bat_d', { type: 'ResumeBatch', batchId: 'bat_d', now: later, actor: 'ops' });
    for (let i = 0; i < 12; i++) await writer.handle('bat_d', { type: 'TriggerDueExecutions', batchId: 'bat_d', now: later, limit: 10 });
    await writer.handle('bat_d', {
      type: 'RescheduleExecution',
      batchId: 'bat_d',
      index: 499,
      executeAt: new Date(later.getTime() + 5000),
      now: later,
      actor: 'ops',
    });
    await writer.handle('bat_d', { type: 'TriggerDueExecutions', batchId: 'bat_d', now: later, limit: 7 });
    await writer.handle('bat_d', {
      type: 'RecordAttemptFailed',
      batchId: 'bat_d',
      index: 4,
      attempt: 1,
      error: 'HTTP 503',
      retryAt: later,
      now: later,
    });

    let snapshots = 0;
    for await (const _ of store.readStream(batchSnapshotStream('bat_d'))) snapshots++;
    expect(snapshots).toBeGreaterThanOrEqual(2);

    const fromSnapshot = batchOf(await new BatchCommandHandler(store, { snapshotEvery: 50 }).load('bat_d'));
    const replayed = batchOf(await new BatchCommandHandler(store, { snapshotEvery: 0 }).load('bat_d'));
    expect(fromSnapshot.executions.toSnapshot()).toEqual(replayed.executions.toSnapshot());
    const { executions: _a, ...restA } = fromSnapshot;
    const { executions: _b, ...restB } = replayed;
    expect(restA).toEqual(restB);
    expect(replayed.counts).toMatchObject({ triggered: 127, cancelled: 1 });
    expect(fromSnapshot.executions.failedAttemptsOf(4)).toBe(1);
  });
});

describe('items', () => {
  let dir: string;
  let store: EventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-items-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('are stored in chunks bounded in count and bytes, and read back by index', async () => {
    const writer = new ItemsWriter(store, 'bat_i');
    const big = 'x'.repeat(40_000);
    for (let i = 0; i < 2500; i++) await writer.add({ inputs: { n: String(i), blob: i >= 2400 ? big : '' } });
    const location = await writer.finish();
    expect(location.chunkStarts.slice(0, 3)).toEqual([0, MAX_CHUNK_ITEMS, 2 * MAX_CHUNK_ITEMS]);
    expect(location.chunkStarts.length).toBeGreaterThan(3);
    for await (const event of store.readStream(location.stream)) {
      expect(Buffer.byteLength(JSON.stringify(event.data))).toBeLessThan(300 * 1024);
    }
    const reader = new ItemsReader(store);
    for (const index of [0, 999, 1000, 2399, 2400, 2499]) expect((await reader.get(location, index)).inputs['n']).toBe(String(index));
  });

  it('ItemsReader reads a chunk once for the executions that ask for it at the same time', async () => {
    const writer = new ItemsWriter(store, 'bat_r');
    for (let i = 0; i < 1500; i++) await writer.add({ inputs: { n: String(i) } });
    const location = await writer.finish();
    const reads: string[] = [];
    const counting: EventStore = Object.assign(Object.create(store) as EventStore, {
      readStream: (stream: string, options?: Parameters<EventStore['readStream']>[1]) => {
        reads.push(`${stream}@${String(options?.fromRevision)}`);
        return store.readStream(stream, options);
      },
    });
    const reader = new ItemsReader(counting);
    const items = await Promise.all(Array.from({ length: 1500 }, (_, index) => reader.get(location, index)));
    expect(items.map((item) => item.inputs['n'])).toEqual(Array.from({ length: 1500 }, (_, index) => String(index)));
    expect(reads).toEqual([`${location.stream}@0`, `${location.stream}@1`]);
  });

  it('refuses an item over the size limit, naming it', async () => {
    const writer = new ItemsWriter(store, 'bat_j');
    await writer.add({ inputs: { a: '1' } });
    await expect(writer.add({ inputs: { a: 'y'.repeat(MAX_ITEM_BYTES) } })).rejects.toThrow(ItemTooLarge);
    await expect(writer.add({ inputs: { a: 'y'.repeat(MAX_ITEM_BYTES) } })).rejects.toThrow(/^Item 2 is/);
  });

  it('chunkOf finds the chunk holding an index', () => {
    const location = { stream: 's', chunkStarts: [0, 10, 25, 40] };
    expect([0, 9, 10, 24, 25, 39, 40, 1000].map((index) => chunkOf(location, index))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
  });
});
