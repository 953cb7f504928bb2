import { batchEvents, type WaveDue } from '@flotilla/domain';
import { systemClock } from '@flotilla/platform';
import { readMessage, toMessage, type TypedMessage } from '@flotilla/messaging';
import { ExecutionWorld } from './execution.fixtures';
import { FIRST_TRIGGER_LIMIT, TRIGGER_LIMIT, WaveTrigger } from './wave-trigger';
import { until } from '@flotilla/testing/poll';

describe('WaveTrigger', () => {
  let world: ExecutionWorld;
  let trigger: WaveTrigger;

  beforeEach(() => {
    world = ExecutionWorld.open();
    trigger = new WaveTrigger(world.batches, systemClock);
  });
  afterEach(() => world.close());

  const items = (count: number) => Array.from({ length: count }, (_, n) => ({ inputs: { n: String(n) } }));
  const waveDue = async (batchId: string): Promise<TypedMessage<WaveDue>> => {
    await world.batches.handle(batchId, { type: 'DeclareDueWaves', batchId, now: new Date() });
    const stored = (await world.stored(batchId)).filter((event) => event.type === 'WaveDue');
    expect(stored).toHaveLength(1);
    return readMessage(batchEvents.subset('WaveDue'), toMessage(stored[0]!))!;
  };
  const count = async (batchId: string, type: string) => (await world.events(batchId)).filter((event) => event.type === type).length;

  it('triggers every due execution of the wave, a limited number per append, then completes the batch', async () => {
    const total = 2 * TRIGGER_LIMIT + 200;
    await world.createBatch({ batchId: 'bat_wave', target: { url: 'http://127.0.0.1:9/' }, items: items(total) });
    const message = await waveDue('bat_wave');

    await trigger.handle(message);

    const triggered = (await world.stored('bat_wave')).filter((event) => event.type === 'ExecutionTriggered');
    expect(triggered).toHaveLength(total);
    expect(new Set(triggered.map((event) => (event.data as { index: number }).index)).size).toBe(total);
    expect(triggered.every((event) => event.metadata['causationId'] === message.id && event.metadata['actor'] === 'executor')).toBe(true);
    expect(await count('bat_wave', 'BatchCompleted')).toBe(1);
  });

  it("triggers the wave's first execution alone, and the rest only once the dispatcher here has called it", async () => {
    const total = TRIGGER_LIMIT + 10;
    await world.createBatch({ batchId: 'bat_first', target: { url: 'http://127.0.0.1:9/' }, items: items(total) });
    const message = await waveDue('bat_first');
    // The dispatcher's answer, held back by the test: what the store held when the trigger asked.
    const asked: { batchId: string; triggered: number }[] = [];
    let called!: () => void;
    const firstCalls = {
      firstCallsOut: async (batchId: string): Promise<void> => {
        asked.push({ batchId, triggered: await count(batchId, 'ExecutionTriggered') });
        await new Promise<void>((resolve) => (called = resolve));
      },
    };

    const handled = new WaveTrigger(world.batches, systemClock, firstCalls).handle(message);
    await until(() => asked.length === 1 && called !== undefined);
    expect(asked).toEqual([{ batchId: 'bat_first', triggered: FIRST_TRIGGER_LIMIT }]);
    // While the first call is not out, nothing more is decided.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(await count('bat_first', 'ExecutionTriggered')).toBe(FIRST_TRIGGER_LIMIT);

    called();
    await handled;
    const triggered = (await world.stored('bat_first')).filter((event) => event.type === 'ExecutionTriggered');
    expect(triggered.map((event) => (event.data as { index: number }).index)).toEqual(Array.from({ length: total }, (_, index) => index));
    // Asked once, after the first step only: the later steps follow each other at once.
    expect(asked).toHaveLength(1);
  });

  it('a wave met late by a paced batch is re-planned from now: the new first wave is triggered in steps, the next one waits', async () => {
    const waves = { maxConcurrent: TRIGGER_LIMIT + 200, batchIntervalSeconds: 60 };
    await world.createBatch({ batchId: 'bat_late', target: { url: 'http://127.0.0.1:9/' }, items: items(2 * waves.maxConcurrent), waves });
    const message = await waveDue('bat_late');
    // The message reaches the executor 30 s after its wave was due (the broker was away).
    const late = new WaveTrigger(world.batches, { now: () => new Date(Date.now() + 30_000) });

    await late.handle(message);

    const stored = await world.stored('bat_late');
    const replanned = stored.filter((event) => event.type === 'BatchReplanned');
    expect(replanned.map((event) => event.data)).toEqual([
      expect.objectContaining({ plan: 1, pending: 2 * waves.maxConcurrent, reason: 'catch-up after downtime', actor: 'system' }),
    ]);
    const anchor = (replanned[0]!.data as { occurredAt: string }).occurredAt;
    const triggered = stored
      .filter((event) => event.type === 'ExecutionTriggered')
      .map((event) => event.data as { index: number; executeAt: string });
    // The first wave of the new plan, whole, in steps, at the re-plan's time; the second wave is a minute later.
    expect(triggered.map((event) => event.index)).toEqual(Array.from({ length: waves.maxConcurrent }, (_, index) => index));
    expect(new Set(triggered.map((event) => event.executeAt))).toEqual(new Set([anchor]));
  });

  it('a WaveDue for a paused batch triggers nothing and does not fail', async () => {
    await world.createBatch({ batchId: 'bat_paused', target: { url: 'http://127.0.0.1:9/' }, items: items(5) });
    const message = await waveDue('bat_paused');
    await world.batches.handle('bat_paused', { type: 'PauseBatch', batchId: 'bat_paused', now: new Date(), actor: 'ops' });

    await expect(trigger.handle(message)).resolves.toBeUndefined();

    expect(await count('bat_paused', 'ExecutionTriggered')).toBe(0);
  });

  it('a WaveDue redelivered after its wave was triggered adds nothing', async () => {
    await world.createBatch({ batchId: 'bat_again', target: { url: 'http://127.0.0.1:9/' }, items: items(5) });
    const message = await waveDue('bat_again');
    await trigger.handle(message);
    await trigger.handle(message);

    expect(await count('bat_again', 'ExecutionTriggered')).toBe(5);
  });

  it('takes the wave due time as the earliest now: a clock running behind still triggers the wave', async () => {
    await world.createBatch({ batchId: 'bat_skew', target: { url: 'http://127.0.0.1:9/' }, items: items(3) });
    const message = await waveDue('bat_skew');
    const behind = new WaveTrigger(world.batches, { now: () => new Date(Date.now() - 60_000) });

    await behind.handle(message);

    expect(await count('bat_skew', 'ExecutionTriggered')).toBe(3);
  });
});
