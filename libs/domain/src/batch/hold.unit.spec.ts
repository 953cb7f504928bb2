import { decide, type BatchCommand, type HoldBatch, type ReleaseBatch } from './batch.decide';
import { BatchAlreadyHeld, BatchNotHeld, IllegalBatchTransition } from './batch.errors';
import type { BatchEvent, BatchReleased } from './batch.events';
import { evolve, fromBatchSnapshot, initialBatchState, isBatch, toBatchSnapshot, type Batch, type BatchState } from './batch.state';
import { BATCH_ID, at, created, fold, run, settings, types } from './batch.fixtures';

/** POST /v1/workflows/{id}/hold and /release in the batch: HoldBatch, ReleaseBatch, BatchHeld, BatchReleased. */

const batchOf = (state: BatchState): Batch => {
  if (!isBatch(state)) throw new Error('expected a batch');
  return state;
};
const hold = (now: Date): HoldBatch => ({ type: 'HoldBatch', batchId: BATCH_ID, by: 'workflow', reason: 'target down', actor: 'ops', now });
const release = (now: Date): ReleaseBatch => ({ type: 'ReleaseBatch', batchId: BATCH_ID, reason: 'target back', actor: 'ops', now });
const trigger = (now: Date, limit = 100): BatchCommand => ({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now, limit });
const declare = (now: Date): BatchCommand => ({ type: 'DeclareDueWaves', batchId: BATCH_ID, now });
const op = { actor: 'ops' };
const releasedOf = (events: readonly BatchEvent[]): BatchReleased['data'] => {
  const found = events.find((event): event is BatchReleased => event.type === 'BatchReleased');
  if (!found) throw new Error('no BatchReleased');
  return found.data;
};
const executeAt = (state: BatchState, index: number): string => new Date(batchOf(state).executions.executeAtOf(index)).toISOString();

describe('holding a batch', () => {
  // 15 items, 5 a wave every 60 s from 0; the first wave (0-4) triggered at 0.
  const started = () => run(created(15), trigger(at(0))).events;

  it('records BatchHeld with who holds it and why; the state knows since when', () => {
    const { state, events } = run(started(), hold(at(10)));
    expect(events.at(-1)).toEqual({
      type: 'BatchHeld',
      data: { batchId: BATCH_ID, by: 'workflow', reason: 'target down', occurredAt: at(10).toISOString(), actor: 'ops' },
    });
    expect(batchOf(state).held).toEqual({ by: 'workflow', reason: 'target down', since: at(10).toISOString() });
    expect(batchOf(state).status).toBe('running');
  });

  it('declares no wave and triggers nothing while held, however late', () => {
    const held = run(started(), hold(at(10))).events;
    expect(decide(declare(at(600)), fold(held))).toEqual([]);
    expect(decide(trigger(at(600)), fold(held))).toEqual([]);
  });

  it('re-plans a running batch from the release by the wave formula, in order, and fires its first wave at once', () => {
    const { state, events } = run(started(), hold(at(10)), release(at(300)));
    expect(releasedOf(events)).toEqual({
      batchId: BATCH_ID,
      reason: 'target back',
      plan: 1,
      planStartsAt: at(300).toISOString(),
      pending: 10,
      planEndsAt: at(360).toISOString(),
      occurredAt: at(300).toISOString(),
      actor: 'ops',
    });
    expect(batchOf(state).held).toBeNull();
    expect([5, 9, 10, 14].map((index) => executeAt(state, index))).toEqual([
      at(300).toISOString(),
      at(300).toISOString(),
      at(360).toISOString(),
      at(360).toISOString(),
    ]);
    // Due at once, on time: no catch-up re-plan.
    const next = run(events, declare(at(300)), trigger(at(300))).events;
    expect(types(next.slice(events.length))).toEqual(['WaveDue', ...Array(5).fill('ExecutionTriggered')]);
  });

  it('refuses a second hold and a release of a batch not held (409)', () => {
    expect(() => decide(hold(at(20)), fold(run(started(), hold(at(10))).events))).toThrow(BatchAlreadyHeld);
    expect(() => decide(release(at(20)), fold(started()))).toThrow(BatchNotHeld);
  });

  it('holds a completed batch that has not settled (its triggered executions may wait for a slot), not a settled one', () => {
    const all = run(created(5), trigger(at(0))).events;
    expect(batchOf(fold(all)).status).toBe('completed');
    expect(types(decide(hold(at(1)), fold(all)))).toEqual(['BatchHeld']);
    const settledEvents = run(
      all,
      ...[0, 1, 2, 3, 4].map((index): BatchCommand => ({
        type: 'RecordExecutionCompleted',
        batchId: BATCH_ID,
        index,
        output: null,
        attempts: 1,
        now: at(1),
      })),
    ).events;
    expect(() => decide(hold(at(2)), fold(settledEvents))).toThrow(IllegalBatchTransition);
  });

  it('keeps a pending batch on its plan from the start time when released', () => {
    const future = created(10, { startAt: at(600).toISOString() });
    const { state, events } = run(future, hold(at(10)), release(at(20)));
    expect(releasedOf(events)).toMatchObject({ plan: 0, planStartsAt: null, pending: 10, planEndsAt: at(660).toISOString() });
    expect(executeAt(state, 0)).toBe(at(600).toISOString());
  });

  it('is independent of pause: a release leaves a paused batch paused, and its resume re-plans', () => {
    const { state, events } = run(started(), hold(at(10)), { type: 'PauseBatch', batchId: BATCH_ID, now: at(20), ...op }, release(at(30)));
    expect(batchOf(state).status).toBe('paused');
    expect(releasedOf(events)).toMatchObject({ plan: 0, planStartsAt: null });
    const resumed = run(events, { type: 'ResumeBatch', batchId: BATCH_ID, now: at(40), ...op });
    expect(batchOf(resumed.state).status).toBe('running');
    expect(executeAt(resumed.state, 5)).toBe(at(40).toISOString());
  });

  it('a resume of a held batch runs it again but it stays held: still no wave until the release', () => {
    const { state, events } = run(started(), { type: 'PauseBatch', batchId: BATCH_ID, now: at(5), ...op }, hold(at(10)), {
      type: 'ResumeBatch',
      batchId: BATCH_ID,
      now: at(20),
      ...op,
    });
    expect(batchOf(state).status).toBe('running');
    expect(batchOf(state).held).not.toBeNull();
    expect(decide(declare(at(20)), fold(events))).toEqual([]);
  });

  it('PATCH stores the new figures on a held batch, and the release plans with them', () => {
    const { state } = run(
      started(),
      hold(at(10)),
      { type: 'ReconfigureBatch', batchId: BATCH_ID, changes: { maxConcurrent: 2 }, now: at(20), ...op },
      release(at(100)),
    );
    // 10 pending, 2 a wave every 60 s from 100.
    expect([5, 6, 7, 14].map((index) => executeAt(state, index))).toEqual([
      at(100).toISOString(),
      at(100).toISOString(),
      at(160).toISOString(),
      at(340).toISOString(),
    ]);
  });

  it('cancels a held batch; it stays held until the release, which plans nothing', () => {
    const { state, events } = run(started(), hold(at(10)), { type: 'CancelBatch', batchId: BATCH_ID, now: at(20), ...op }, release(at(30)));
    expect(batchOf(state).status).toBe('cancelled');
    expect(releasedOf(events)).toMatchObject({ plan: 0, planStartsAt: null, pending: 0, planEndsAt: null });
  });

  it('starts held when created for a held workflow: BatchHeld in the creation decision, before any start', () => {
    const events = decide(
      {
        type: 'CreateBatch',
        batchId: BATCH_ID,
        settings: settings(),
        total: 3,
        items: { stream: `batchitems-${BATCH_ID}`, chunkStarts: [0] },
        held: { by: 'workflow', reason: 'target down', actor: 'ops' },
        actor: 'tester',
        now: at(0),
      },
      initialBatchState(),
    );
    expect(types(events)).toEqual(['BatchCreated', 'BatchHeld', 'BatchStarted']);
    const state = events.reduce(evolve, initialBatchState());
    expect(batchOf(state).held?.reason).toBe('target down');
    expect(decide(trigger(at(0)), state)).toEqual([]);
  });

  it('keeps the hold through a snapshot, and reads snapshots taken before holds as not held', () => {
    const batch = batchOf(run(started(), hold(at(10))).state);
    expect(fromBatchSnapshot(toBatchSnapshot(batch)).held).toEqual(batch.held);
    const { held: _held, ...old } = toBatchSnapshot(batchOf(fold(started())));
    expect(fromBatchSnapshot(old).held).toBeNull();
  });
});
