import { IllegalExecutionTransition, type RecordExecutionCompleted } from '@flotilla/domain';
import { SqliteEventStore, type AppendResult, type ExpectedRevision, type NewEvent } from '@flotilla/event-store';
import { ExecutionWorld } from './execution.fixtures';
import { OutcomeWriter } from './outcome-writer';

/** The real store, counting the appends to batch streams, each of which can be made to take longer. */
class CountingStore extends SqliteEventStore {
  batchAppends = 0;
  appendLatencyMs = 0;

  override async appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> {
    if (stream.startsWith('batch-')) {
      this.batchAppends++;
      await new Promise((resolve) => setTimeout(resolve, this.appendLatencyMs));
    }
    return super.appendToStream(stream, events, options);
  }
}

describe('OutcomeWriter', () => {
  let store: CountingStore;
  let world: ExecutionWorld;

  beforeEach(() => {
    world = ExecutionWorld.open((path) => (store = new CountingStore(path)));
  });
  afterEach(() => world.close());

  /** A batch of `total` triggered executions; appends are counted from here on. */
  const triggeredBatch = async (batchId: string, total: number): Promise<void> => {
    const items = Array.from({ length: total }, (_, n) => ({ inputs: { n: String(n) } }));
    await world.createBatch({ batchId, target: { url: 'http://127.0.0.1:9/' }, items });
    await world.trigger(batchId);
    store.batchAppends = 0;
  };
  const completed = (batchId: string, index: number): RecordExecutionCompleted => ({
    type: 'RecordExecutionCompleted',
    batchId,
    index,
    output: { index },
    attempts: 1,
    now: new Date(),
  });
  const countOf = async (batchId: string, type: string) => (await world.events(batchId)).filter((event) => event.type === type).length;

  it('gathers call starts into one ExecutionCallsStarted per group, appended before the outcomes that follow them', async () => {
    await triggeredBatch('bat_started', 30);
    const writer = new OutcomeWriter(world.batches);
    const at = new Date('2026-01-01T00:00:00.000Z');
    for (let index = 0; index < 30; index++) writer.callStarted('bat_started', index, at);
    await Promise.all(Array.from({ length: 30 }, (_, index) => writer.record(completed('bat_started', index))));
    // A start after its outcome (a late one) is left out, not refused.
    writer.callStarted('bat_started', 0, at);
    writer.callStarted('bat_started', 99, at);
    await writer.record(completed('bat_started', 0)).catch(() => undefined);

    const events = (await world.events('bat_started')).filter(
      (event) => event.type.startsWith('Execution') && event.type !== 'ExecutionTriggered',
    );
    expect(events[0]).toMatchObject({
      type: 'ExecutionCallsStarted',
      data: { indexes: Array.from({ length: 30 }, (_, n) => n), at: at.toISOString() },
    });
    expect(events.slice(1).map((event) => event.type)).toEqual(Array.from({ length: 30 }, () => 'ExecutionCompleted'));
    expect(store.batchAppends).toBeLessThanOrEqual(3);
  });

  it('appends many outcomes in few appends, each caller resolved once its own is stored', async () => {
    await triggeredBatch('bat_group', 450);
    const writer = new OutcomeWriter(world.batches, { maxCommands: 200 });

    await Promise.all(Array.from({ length: 450 }, (_, index) => writer.record(completed('bat_group', index))));

    expect(await countOf('bat_group', 'ExecutionCompleted')).toBe(450);
    // 200 at once; the other 250 gather while that append runs and follow in two more.
    expect(store.batchAppends).toBe(3);
  });

  it('a few outcomes wait the short delay and go in one append', async () => {
    await triggeredBatch('bat_few', 5);
    const writer = new OutcomeWriter(world.batches, { maxDelayMs: 20 });

    await Promise.all([0, 1, 2, 3, 4].map((index) => writer.record(completed('bat_few', index))));

    expect(store.batchAppends).toBe(1);
  });

  it('commands arriving while an append is in flight wait for it and then go together in one append', async () => {
    await triggeredBatch('bat_slow', 11);
    store.appendLatencyMs = 100;
    const writer = new OutcomeWriter(world.batches, { maxDelayMs: 1 });

    const first = writer.record(completed('bat_slow', 0));
    const rest: Promise<void>[] = [];
    for (let index = 1; index <= 10; index++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      rest.push(writer.record(completed('bat_slow', index)));
    }
    await Promise.all([first, ...rest]);

    expect(store.batchAppends).toBe(2);
  });

  it('gives a refused command its own domain error and stores the rest of its group', async () => {
    await triggeredBatch('bat_dup', 3);
    const writer = new OutcomeWriter(world.batches);

    const results = await Promise.allSettled([
      writer.record(completed('bat_dup', 0)),
      writer.record(completed('bat_dup', 0)),
      writer.record({
        type: 'RecordExecutionFailed',
        batchId: 'bat_dup',
        index: 1,
        error: 'HTTP 400 Bad Request',
        statusCode: 400,
        attempts: 1,
        now: new Date(),
      }),
      writer.record(completed('bat_dup', 2)),
    ]);

    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(IllegalExecutionTransition);
    expect(store.batchAppends).toBe(1);
    expect(await countOf('bat_dup', 'ExecutionCompleted')).toBe(2);
  });

  it('keeps each append under the byte budget', async () => {
    await triggeredBatch('bat_bytes', 10);
    const writer = new OutcomeWriter(world.batches, { maxBytes: 1000 });

    await Promise.all(Array.from({ length: 10 }, (_, index) => writer.record(completed('bat_bytes', index), 300)));

    expect(await countOf('bat_bytes', 'ExecutionCompleted')).toBe(10);
    expect(store.batchAppends).toBe(4); // at most three of 300 bytes fit in 1000
  });

  it('an append that fails rejects every command of its group', async () => {
    await triggeredBatch('bat_broken', 2);
    const writer = new OutcomeWriter(world.batches);
    world.batches.evict('bat_broken');
    await store.close();

    const results = await Promise.allSettled([writer.record(completed('bat_broken', 0)), writer.record(completed('bat_broken', 1))]);

    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  });
});
