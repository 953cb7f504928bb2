import { RuleViolation } from '../shared/errors';
import { decide, failedExecutionsOf, type BatchCommand } from './batch.decide';
import { isBatch, type Batch, type BatchState } from './batch.state';
import { BATCH_ID, T0, at, created, fold, run, settings } from './batch.fixtures';
import { initialBatchState } from './batch.state';

const batchOf = (state: BatchState): Batch => {
  if (!isBatch(state)) throw new Error('expected a batch');
  return state;
};
const trigger = (seconds: number): BatchCommand => ({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(seconds), limit: 1000 });
const outcome = (index: number, failed: boolean): BatchCommand =>
  failed
    ? { type: 'RecordExecutionFailed', batchId: BATCH_ID, index, error: 'boom', attempts: 1, now: at(5) }
    : { type: 'RecordExecutionCompleted', batchId: BATCH_ID, index, output: null, attempts: 1, now: at(5) };
const retry = (executions: number): BatchCommand => ({
  type: 'RecordRetry',
  batchId: BATCH_ID,
  retryBatchId: 'bat_child',
  executions,
  now: at(9),
  actor: 'ops@example.com',
  reason: 'target fixed',
});

describe('re-running the failed executions', () => {
  it('finds the failed executions so far, in index order, while the batch still runs', () => {
    // 6 items, 3 a wave: the first wave is triggered and has its outcomes, the second is pending.
    const { state } = run(created(6, { maxConcurrent: 3 }), trigger(0), outcome(2, true), outcome(0, true), outcome(1, false));
    expect(batchOf(state).status).toBe('running');
    expect(failedExecutionsOf(batchOf(state))).toEqual([0, 2]);
  });

  it('records the link on the parent with actor and reason, and leaves its executions as they were', () => {
    const before = run(created(3, { maxConcurrent: 3 }), trigger(0), outcome(0, false), outcome(1, true), outcome(2, true));
    const decided = decide(retry(2), before.state);
    expect(decided).toEqual([
      {
        type: 'BatchRetried',
        data: {
          batchId: BATCH_ID,
          retryBatchId: 'bat_child',
          executions: 2,
          occurredAt: at(9).toISOString(),
          actor: 'ops@example.com',
          reason: 'target fixed',
        },
      },
    ]);
    const after = batchOf(fold(decided, before.state));
    expect(after.counts).toEqual(batchOf(before.state).counts);
    expect(after.settledAt).not.toBeNull();
  });

  it('refuses a batch with no failed execution, naming it', () => {
    const { state } = run(created(2, { maxConcurrent: 2 }), trigger(0), outcome(0, false));
    expect(() => decide(retry(0), state)).toThrow(RuleViolation);
    expect(() => decide(retry(0), state)).toThrow(`batch ${BATCH_ID} has no failed execution to retry`);
  });

  it('creates the retry naming its parent and the reason; the parent and the reason stay out of its settings', () => {
    const events = decide(
      {
        type: 'CreateBatch',
        batchId: 'bat_child',
        settings: settings(),
        total: 2,
        items: { stream: 'batchitems-bat_child', chunkStarts: [0] },
        parentBatchId: BATCH_ID,
        actor: 'ops@example.com',
        reason: 'target fixed',
        now: T0,
      },
      initialBatchState(),
    );
    expect(events[0]).toMatchObject({
      type: 'BatchCreated',
      data: { parentBatchId: BATCH_ID, reason: 'target fixed', actor: 'ops@example.com' },
    });
    const child = batchOf(fold(events));
    expect(child.parentBatchId).toBe(BATCH_ID);
    expect(child.settings).toEqual(settings());
  });
});
