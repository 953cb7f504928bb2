import { decide, type BatchCommand, type ReconfigureBatch } from './batch.decide';
import { IllegalBatchTransition } from './batch.errors';
import type { BatchEvent, BatchReconfigured, BatchSettingsChange, ExecutionTriggered, WaveDue } from './batch.events';
import { estimatedCompletionOf, isBatch, type Batch, type BatchState } from './batch.state';
import { RuleViolation } from '../shared/errors';
import { BATCH_ID, at, created, fold, run, types } from './batch.fixtures';

/** PATCH /v1/batches/{id} in the domain: ReconfigureBatch and BatchReconfigured. */

const batchOf = (state: BatchState): Batch => {
  if (!isBatch(state)) throw new Error('expected a batch');
  return state;
};
const operator = { actor: 'ops@example.com' };
const reconfigure = (changes: BatchSettingsChange, now: Date, reason?: string): ReconfigureBatch => ({
  type: 'ReconfigureBatch',
  batchId: BATCH_ID,
  changes,
  now,
  ...operator,
  ...(reason === undefined ? {} : { reason }),
});
const executeAt = (state: BatchState, index: number): string => new Date(batchOf(state).executions.executeAtOf(index)).toISOString();
const reconfiguredOf = (events: readonly BatchEvent[]): BatchReconfigured['data'] => {
  const found = events.find((event): event is BatchReconfigured => event.type === 'BatchReconfigured');
  if (!found) throw new Error('no BatchReconfigured');
  return found.data;
};
const trigger = (now: Date, limit = 100): BatchCommand => ({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now, limit });
const problemsOf = (events: readonly BatchEvent[], command: BatchCommand): unknown => {
  try {
    decide(command, fold(events));
  } catch (error) {
    if (error instanceof RuleViolation) return { message: error.message, problems: error.problems };
    throw error;
  }
  throw new Error('expected a RuleViolation');
};

describe('reconfiguring a running batch', () => {
  // 15 items, 5 a wave every 60 s from 0; the first wave (0-4) triggered at 0.
  const started = () => run(created(15), trigger(at(0))).events;

  it('re-plans the pending executions from now with the new figures, in their original order, the first wave due at once', () => {
    const { state, events } = run(started(), reconfigure({ maxConcurrent: 3, batchIntervalSeconds: 10 }, at(20), 'target is struggling'));
    const data = reconfiguredOf(events);
    expect(data).toEqual({
      batchId: BATCH_ID,
      changes: { maxConcurrent: { from: 5, to: 3 }, batchIntervalSeconds: { from: 60, to: 10 } },
      plan: 1,
      planStartsAt: at(20).toISOString(),
      pending: 10,
      // 10 pending, 3 a wave: waves at +0, +10, +20, +30 s.
      planEndsAt: at(50).toISOString(),
      occurredAt: at(20).toISOString(),
      actor: 'ops@example.com',
      reason: 'target is struggling',
    });
    const pending = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    expect(pending.map((index) => executeAt(state, index))).toEqual(
      pending.map((_, rank) => at(20 + Math.floor(rank / 3) * 10).toISOString()),
    );
    expect(batchOf(state).settings).toMatchObject({ maxConcurrent: 3, batchIntervalSeconds: 10 });
    expect(estimatedCompletionOf(batchOf(state))).toBe(data.planEndsAt);
    // The triggered executions are not touched.
    expect([0, 1, 2, 3, 4].map((index) => batchOf(state).executions.stateOf(index))).toEqual(Array(5).fill('triggered'));

    // The scheduler declares the new plan's first wave at once, and the executor triggers three.
    const waves = decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(20) }, state) as WaveDue[];
    expect(waves.map((wave) => [wave.data.plan, wave.data.wave, wave.data.dueAt])).toEqual([[1, 0, at(20).toISOString()]]);
    const triggered = decide(trigger(at(20)), fold(waves, state)) as ExecutionTriggered[];
    expect(triggered.map((event) => [event.data.index, event.data.executeAt])).toEqual(
      [5, 6, 7].map((index) => [index, at(20).toISOString()]),
    );
  });

  it('priority and the failure thresholds alone move no execution and make no plan', () => {
    const before = fold(started());
    const times = [5, 10, 14].map((index) => executeAt(before, index));
    const { state, events } = run(started(), reconfigure({ priority: 10, maxFailures: 4 }, at(20)));
    expect(reconfiguredOf(events)).toMatchObject({
      changes: { priority: { from: 50, to: 10 }, maxFailures: { from: null, to: 4 } },
      plan: 0,
      planStartsAt: null,
      pending: 10,
      planEndsAt: at(120).toISOString(),
    });
    expect([5, 10, 14].map((index) => executeAt(state, index))).toEqual(times);
    expect(batchOf(state).settings).toMatchObject({ priority: 10, maxFailures: 4 });
    // The second wave still comes at 60 s, in plan 0.
    expect(decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(60) }, state).map((event) => event.data)).toEqual([
      expect.objectContaining({ plan: 0, wave: 1, dueAt: at(60).toISOString() }),
    ]);
  });

  it('rescheduled executions rejoin the plan, as at a resume', () => {
    const { state } = run(
      started(),
      { type: 'RescheduleExecution', batchId: BATCH_ID, index: 5, executeAt: at(5000), now: at(1), ...operator },
      reconfigure({ maxConcurrent: 10 }, at(30)),
    );
    expect(executeAt(state, 5)).toBe(at(30).toISOString());
    expect(executeAt(state, 14)).toBe(at(30).toISOString());
  });

  it('records only the settings whose value changes, and nothing when none does', () => {
    const { events } = run(started(), reconfigure({ maxConcurrent: 5, batchIntervalSeconds: 30 }, at(20)));
    expect(reconfiguredOf(events).changes).toEqual({ batchIntervalSeconds: { from: 60, to: 30 } });
    expect(decide(reconfigure({ maxConcurrent: 5, priority: 50, maxFailures: null }, at(20)), fold(started()))).toEqual([]);
  });
});

describe('reconfiguring a pending batch', () => {
  it('recomputes the plan from the start time with the new figures', () => {
    const { state, events } = run(
      created(12, { startAt: at(600).toISOString() }),
      reconfigure({ maxConcurrent: 4, batchIntervalSeconds: 30 }, at(10)),
    );
    expect(reconfiguredOf(events)).toMatchObject({
      plan: 1,
      planStartsAt: at(600).toISOString(),
      pending: 12,
      planEndsAt: at(660).toISOString(),
    });
    expect(Array.from({ length: 12 }, (_, index) => executeAt(state, index))).toEqual(
      Array.from({ length: 12 }, (_, index) => at(600 + Math.floor(index / 4) * 30).toISOString()),
    );
    expect(batchOf(state).status).toBe('pending');
    // It starts at its start time, and the first wave of the new plan is declared then.
    const { events: later } = run(
      events,
      { type: 'StartBatch', batchId: BATCH_ID, now: at(600) },
      { type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(600) },
    );
    expect(later.at(-1)?.data).toMatchObject({ plan: 1, wave: 0, dueAt: at(600).toISOString() });
  });
});

describe('reconfiguring a paused batch', () => {
  it('stores the figures and leaves the times; the resume plans with the new figures', () => {
    const paused = run(created(12), trigger(at(0)), { type: 'PauseBatch', batchId: BATCH_ID, now: at(5), ...operator });
    const { state, events } = run(paused.events, reconfigure({ maxConcurrent: 2, batchIntervalSeconds: 100 }, at(10)));
    expect(reconfiguredOf(events)).toMatchObject({ plan: 0, planStartsAt: null, pending: 7, planEndsAt: at(120).toISOString() });
    expect(batchOf(state).settings).toMatchObject({ maxConcurrent: 2, batchIntervalSeconds: 100 });
    // The old plan's times until the resume: 5 a wave, 60 s apart.
    expect(executeAt(state, 11)).toBe(at(120).toISOString());
    expect(estimatedCompletionOf(batchOf(state))).toBeNull();

    const resumed = run(events, { type: 'ResumeBatch', batchId: BATCH_ID, now: at(1000), ...operator });
    expect(resumed.events.at(-1)?.data).toMatchObject({ plan: 1, pending: 7, planEndsAt: at(1300).toISOString() });
    expect([5, 6, 7, 8, 9, 10, 11].map((index) => executeAt(resumed.state, index))).toEqual(
      [1000, 1000, 1100, 1100, 1200, 1200, 1300].map((seconds) => at(seconds).toISOString()),
    );
  });

  it('raising the failure thresholds of an auto-paused batch lets the resume go on', () => {
    const failing = (index: number): BatchCommand => ({
      type: 'RecordExecutionFailed',
      batchId: BATCH_ID,
      index,
      error: 'boom',
      attempts: 1,
      now: at(1),
    });
    const autoPaused = run(created(12, { maxFailures: 1 }), trigger(at(0)), failing(0), failing(1));
    expect(batchOf(autoPaused.state).status).toBe('paused');
    const { state } = run(
      autoPaused.events,
      reconfigure({ maxFailures: null, maxFailurePercent: 90 }, at(2), 'known flaky inputs'),
      { type: 'ResumeBatch', batchId: BATCH_ID, now: at(3), ...operator },
      failing(2),
      failing(3),
    );
    expect(batchOf(state).settings).not.toHaveProperty('maxFailures');
    expect(batchOf(state).settings.maxFailurePercent).toBe(90);
    expect(batchOf(state).status).toBe('running');
  });
});

describe('a lowered threshold', () => {
  it('pauses a running batch at its next outcome, counting since the start (a reconfiguration is not a resume)', () => {
    const fail = (index: number): BatchCommand => ({
      type: 'RecordExecutionFailed',
      batchId: BATCH_ID,
      index,
      error: 'x',
      attempts: 1,
      now: at(2),
    });
    const { events } = run(created(12), trigger(at(0)), fail(0), fail(1), reconfigure({ maxConcurrent: 3, maxFailures: 1 }, at(1)));
    expect(batchOf(fold(events)).status).toBe('running');
    const after = decide(fail(2), fold(events));
    expect(types(after)).toEqual(['ExecutionFailed', 'BatchPaused']);
    expect(after[1]?.data).toMatchObject({ actor: 'system', reason: 'failure tolerance exceeded: 3 executions failed (max 1)' });
  });
});

describe('what may not be reconfigured', () => {
  it('refuses a completed or cancelled batch (409), naming its status', () => {
    const completed = run(created(3, { batchIntervalSeconds: 0 }), trigger(at(0))).events;
    expect(() => decide(reconfigure({ priority: 1 }, at(1)), fold(completed))).toThrow(IllegalBatchTransition);
    expect(() => decide(reconfigure({ priority: 1 }, at(1)), fold(completed))).toThrow(
      `Cannot reconfigure batch ${BATCH_ID}: it is completed`,
    );
    const cancelled = run(created(3), { type: 'CancelBatch', batchId: BATCH_ID, now: at(1), ...operator }).events;
    expect(() => decide(reconfigure({ priority: 1 }, at(2)), fold(cancelled))).toThrow(
      `Cannot reconfigure batch ${BATCH_ID}: it is cancelled`,
    );
  });

  it.each<[BatchSettingsChange, string, string]>([
    [{ maxConcurrent: 0 }, 'maxConcurrent', 'maxConcurrent must be an integer from 1 to 10000'],
    [{ maxConcurrent: 10_001 }, 'maxConcurrent', 'maxConcurrent must be an integer from 1 to 10000'],
    [{ maxConcurrent: 2.5 }, 'maxConcurrent', 'maxConcurrent must be an integer from 1 to 10000'],
    [{ batchIntervalSeconds: -1 }, 'batchIntervalSeconds', 'batchIntervalSeconds must be a number from 0 to 2592000 (30 days)'],
    [{ priority: 0 }, 'priority', 'priority must be an integer from 1 to 100 (lower runs first)'],
    [{ maxFailurePercent: 100.5 }, 'maxFailurePercent', 'maxFailurePercent must be a number from 0 to 100'],
    [{ maxFailures: -1 }, 'maxFailures', 'maxFailures must be an integer >= 0'],
  ])('refuses %j with the rule of creation, naming %s (422)', (changes, field, message) => {
    expect(problemsOf(created(12), reconfigure(changes, at(1)))).toEqual({
      message,
      problems: [{ code: 'invalid_setting', field, message }],
    });
  });

  it('refuses a change with no setting', () => {
    const message = 'give at least one setting to change: maxConcurrent, batchIntervalSeconds, priority, maxFailurePercent, maxFailures';
    expect(problemsOf(created(12), reconfigure({}, at(1)))).toEqual({ message, problems: [{ code: 'no_changes', message }] });
  });

  it('refuses figures whose plan would end after the year 9999', () => {
    const big = created(100_000, { maxConcurrent: 1 });
    const refused = problemsOf(big, reconfigure({ batchIntervalSeconds: 2_592_000 }, at(1))) as {
      problems: { field: string; code: string }[];
    };
    expect(refused.problems).toEqual([expect.objectContaining({ code: 'plan_out_of_range', field: 'batchIntervalSeconds' })]);
  });

  it('checks only the settings given: one the rules would refuse today does not block a change of another', () => {
    // A batch recorded under older rules (here, with a blank name) may still be given a new priority.
    const [createdEvent, ...rest] = created(3);
    const older = { ...createdEvent, data: { ...createdEvent!.data, name: ' ' } } as BatchEvent;
    expect(types(decide(reconfigure({ priority: 3 }, at(1)), fold([older, ...rest])))).toEqual(['BatchReconfigured']);
  });
});
