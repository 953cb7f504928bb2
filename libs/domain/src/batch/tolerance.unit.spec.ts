import { decide, validateBatchSettings, type BatchCommand } from './batch.decide';
import { IllegalBatchTransition } from './batch.errors';
import type { BatchEvent, BatchSettings } from './batch.events';
import { isBatch, type Batch, type BatchState } from './batch.state';
import { BATCH_ID, at, created, fold, run, types } from './batch.fixtures';

const batchOf = (state: BatchState): Batch => {
  if (!isBatch(state)) throw new Error('expected a batch');
  return state;
};

const operator = { actor: 'ops@example.com' };
const trigger = (seconds: number): BatchCommand => ({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(seconds), limit: 1000 });
const fail = (index: number, seconds = 5): BatchCommand => ({
  type: 'RecordExecutionFailed',
  batchId: BATCH_ID,
  index,
  error: 'boom',
  attempts: 1,
  now: at(seconds),
});
const complete = (index: number, seconds = 5): BatchCommand => ({
  type: 'RecordExecutionCompleted',
  batchId: BATCH_ID,
  index,
  output: { ok: true },
  attempts: 1,
  now: at(seconds),
});

/** 30 items, 10 a wave every 60 s: the first wave (indexes 0..9) triggered at 0, the batch still running. */
const firstWaveTriggered = (tolerance: Partial<BatchSettings>): BatchEvent[] =>
  run(created(30, { maxConcurrent: 10, batchIntervalSeconds: 60, ...tolerance }), trigger(0)).events;

/** Runs the commands one by one and returns the BatchPaused events they decided, with the state after them. */
const pausesAfter = (events: BatchEvent[], ...commands: BatchCommand[]) => {
  const result = run(events, ...commands);
  const pauses = result.events.slice(events.length).filter((event) => event.type === 'BatchPaused');
  return { ...result, pauses };
};

describe('failure tolerance', () => {
  it('pauses once more than maxFailurePercent of at least 10 outcomes failed, in the decision recording the outcome', () => {
    const events = firstWaveTriggered({ maxFailurePercent: 20 });
    // 3 failures of the first 9 outcomes: 33%, but fewer than 10 outcomes, so no pause yet.
    const nine = [fail(0), fail(1), fail(2), ...[3, 4, 5, 6, 7, 8].map((index) => complete(index))];
    expect(pausesAfter(events, ...nine).pauses).toEqual([]);
    // The 10th outcome (a success) makes 3 of 10 = 30% > 20%: it is the one that pauses.
    const tenth = decide(complete(9, 6), fold(run(events, ...nine).events));
    expect(types(tenth)).toEqual(['ExecutionCompleted', 'BatchPaused']);
    expect(tenth[1]?.data).toEqual({
      batchId: BATCH_ID,
      occurredAt: at(6).toISOString(),
      actor: 'system',
      reason: 'failure tolerance exceeded: 3 of 10 outcomes failed (max 20%)',
    });
  });

  it('does not pause at exactly maxFailurePercent', () => {
    const events = firstWaveTriggered({ maxFailurePercent: 20 });
    const outcomes = [fail(0), fail(1), ...[2, 3, 4, 5, 6, 7, 8, 9].map((index) => complete(index))];
    const { pauses, state } = pausesAfter(events, ...outcomes);
    expect(pauses).toEqual([]);
    expect(batchOf(state).status).toBe('running');
  });

  it('pauses once more than maxFailures executions failed, whatever the number of outcomes', () => {
    const events = firstWaveTriggered({ maxFailures: 2 });
    expect(pausesAfter(events, fail(0), fail(1)).pauses).toEqual([]);
    const { pauses, state } = pausesAfter(events, fail(0), fail(1), fail(2));
    expect(pauses.map((event) => event.data)).toEqual([
      {
        batchId: BATCH_ID,
        occurredAt: at(5).toISOString(),
        actor: 'system',
        reason: 'failure tolerance exceeded: 3 executions failed (max 2)',
      },
    ]);
    expect(batchOf(state).status).toBe('paused');
  });

  it('maxFailures 0 pauses at the first failure; no setting means no pause', () => {
    expect(types(decide(fail(0), fold(firstWaveTriggered({ maxFailures: 0 }))))).toEqual(['ExecutionFailed', 'BatchPaused']);
    const allFailed = Array.from({ length: 10 }, (_, index) => fail(index));
    expect(pausesAfter(firstWaveTriggered({}), ...allFailed).pauses).toEqual([]);
  });

  it('pauses only once: outcomes of executions already triggered are still recorded while paused, and trigger nothing', () => {
    const events = firstWaveTriggered({ maxFailures: 0 });
    const { pauses, state, events: all } = pausesAfter(events, fail(0), fail(1), complete(2), fail(3));
    expect(pauses).toHaveLength(1);
    expect(batchOf(state).counts).toMatchObject({ triggered: 10, completed: 1, failed: 3, pending: 20 });
    // Pause is strict: the next wave's due time passes and nothing is triggered.
    expect(() => decide(trigger(60), fold(all))).toThrow(IllegalBatchTransition);
  });

  it('a resume lets the batch go on: tolerance counts only the outcomes after it', () => {
    const events = firstWaveTriggered({ maxFailures: 1 });
    const paused = run(events, fail(0), fail(1), { type: 'ResumeBatch', batchId: BATCH_ID, now: at(10), ...operator });
    expect(types(paused.events).filter((type) => type === 'BatchPaused')).toHaveLength(1);
    // Two failures so far; after the resume one more is allowed, a second one pauses again.
    const afterResume = pausesAfter(paused.events, fail(2, 11));
    expect(afterResume.pauses).toEqual([]);
    expect(batchOf(afterResume.state).status).toBe('running');
    const again = pausesAfter(paused.events, fail(2, 11), fail(3, 12));
    expect(again.pauses.map((event) => event.data.reason)).toEqual([
      'failure tolerance exceeded: 2 executions failed since the last resume (max 1)',
    ]);
  });

  it('the share after a resume needs 10 new outcomes again', () => {
    const events = firstWaveTriggered({ maxFailurePercent: 50 });
    const firstTen = Array.from({ length: 10 }, (_, index) => (index < 6 ? fail(index) : complete(index)));
    const paused = run(events, ...firstTen);
    expect(batchOf(paused.state).status).toBe('paused');
    const resumed = run(paused.events, { type: 'ResumeBatch', batchId: BATCH_ID, now: at(10), ...operator }, trigger(10));
    // The second wave (10..19): 5 failures of 9 outcomes is over 50%, but not 10 outcomes yet.
    const nine = [10, 11, 12, 13, 14].map((index) => fail(index, 11)).concat([15, 16, 17, 18].map((index) => complete(index, 11)));
    expect(pausesAfter(resumed.events, ...nine).pauses).toEqual([]);
    const tenth = pausesAfter(resumed.events, ...nine, fail(19, 12));
    expect(tenth.pauses.map((event) => event.data.reason)).toEqual([
      'failure tolerance exceeded: 6 of 10 outcomes failed since the last resume (max 50%)',
    ]);
  });

  it('does not pause a batch that is no longer running (every execution triggered)', () => {
    const events = run(created(3, { batchIntervalSeconds: 0, maxFailures: 0 }), trigger(0)).events;
    expect(batchOf(fold(events)).status).toBe('completed');
    expect(types(decide(fail(0), fold(events)))).toEqual(['ExecutionFailed']);
  });

  it('counts callback outcomes too', () => {
    const events = run(firstWaveTriggered({ maxFailures: 0 }), {
      type: 'RecordExecutionAccepted',
      batchId: BATCH_ID,
      index: 0,
      attempt: 1,
      now: at(1),
    }).events;
    const decided = decide(
      { type: 'RecordCallbackResult', batchId: BATCH_ID, index: 0, result: { status: 'failed', error: 'no' }, now: at(2) },
      fold(events),
    );
    expect(types(decided)).toEqual(['ExecutionFailed', 'BatchPaused']);
  });

  it('validates the settings, naming the field', () => {
    const base = batchOf(fold(created(1))).settings;
    const fields = (overrides: Partial<BatchSettings>): (string | undefined)[] =>
      validateBatchSettings({ ...base, ...overrides }).map((problem) => problem.field);
    expect(fields({ maxFailurePercent: 0, maxFailures: 0 })).toEqual([]);
    expect(fields({ maxFailurePercent: 100, maxFailures: 1_000_000 })).toEqual([]);
    expect(fields({ maxFailurePercent: 100.5 })).toEqual(['maxFailurePercent']);
    expect(fields({ maxFailurePercent: -1 })).toEqual(['maxFailurePercent']);
    expect(fields({ maxFailurePercent: Number.NaN })).toEqual(['maxFailurePercent']);
    expect(fields({ maxFailures: -1 })).toEqual(['maxFailures']);
    expect(fields({ maxFailures: 1.5 })).toEqual(['maxFailures']);
  });
});

describe('the settled signal', () => {
  const settledOf = (events: readonly BatchEvent[]) => events.filter((event) => event.type === 'BatchSettled');

  it('settles in the decision recording the last outcome, with the final counts, once', () => {
    const triggered = run(created(3, { batchIntervalSeconds: 0 }), trigger(0)).events;
    const { events, state } = run(triggered, complete(0), fail(1));
    expect(settledOf(events)).toEqual([]);
    expect(batchOf(state).settledAt).toBeNull();
    const last = decide(complete(2, 7), fold(events));
    expect(last).toEqual([
      expect.objectContaining({ type: 'ExecutionCompleted' }),
      {
        type: 'BatchSettled',
        data: { batchId: BATCH_ID, total: 3, completed: 2, failed: 1, cancelled: 0, occurredAt: at(7).toISOString() },
      },
    ]);
    const settled = fold(last, fold(events));
    expect(batchOf(settled).settledAt).toBe(at(7).toISOString());
    // The outcome is in: the same execution cannot be settled again, and the batch settles once.
    expect(() => decide(complete(2, 8), settled)).toThrow();
  });

  it('a cancelled batch settles when its triggered executions have their outcomes', () => {
    const { events } = run(
      created(30, { maxConcurrent: 10 }),
      trigger(0),
      complete(0),
      { type: 'CancelBatch', batchId: BATCH_ID, now: at(3), ...operator },
      ...Array.from({ length: 8 }, (_, offset) => fail(offset + 1, 4)),
    );
    expect(settledOf(events)).toEqual([]);
    const last = decide(complete(9, 9), fold(events));
    expect(settledOf(last).map((event) => event.data)).toEqual([
      { batchId: BATCH_ID, total: 30, completed: 2, failed: 8, cancelled: 20, occurredAt: at(9).toISOString() },
    ]);
  });

  it('a cancel that leaves nothing awaiting an outcome settles at once', () => {
    const { events } = run(created(30, { maxConcurrent: 10 }), trigger(0), ...Array.from({ length: 10 }, (_, index) => complete(index)));
    const cancel = decide({ type: 'CancelBatch', batchId: BATCH_ID, now: at(20), ...operator }, fold(events));
    expect(cancel.map((event) => event.type)).toEqual(['BatchCancelled', 'BatchSettled']);
    expect(cancel[1]?.data).toMatchObject({ completed: 10, failed: 0, cancelled: 20 });
  });

  it('cancelling the last pending execution settles the batch when every triggered one has its outcome', () => {
    const { events } = run(created(2, { maxConcurrent: 1 }), trigger(0), fail(0));
    const cancel = decide({ type: 'CancelExecution', batchId: BATCH_ID, index: 1, now: at(30), ...operator }, fold(events));
    expect(types(cancel)).toEqual(['ExecutionCancelled', 'BatchCompleted', 'BatchSettled']);
    expect(cancel[2]?.data).toMatchObject({ total: 2, completed: 0, failed: 1, cancelled: 1 });
  });

  it('does not settle while an execution awaits its outcome', () => {
    const { events } = run(created(2, { maxConcurrent: 1 }), trigger(0));
    const cancel = decide({ type: 'CancelExecution', batchId: BATCH_ID, index: 1, now: at(30), ...operator }, fold(events));
    expect(types(cancel)).toEqual(['ExecutionCancelled', 'BatchCompleted']);
  });
});
