import { decide, type BatchCommand } from './batch.decide';
import { BATCH_ID, at, created, run, types } from './batch.fixtures';
import { fromBatchSnapshot, isBatch, toBatchSnapshot, type BatchState } from './batch.state';
import { batchEvents } from './batch.registry';

const throttled = (seconds: number, untilSeconds = seconds + 2): BatchCommand => ({
  type: 'RecordThrottled',
  batchId: BATCH_ID,
  until: at(untilSeconds),
  workflowId: 'wf',
  now: at(seconds),
});
const lifted = (seconds: number): BatchCommand => ({ type: 'RecordThrottleLifted', batchId: BATCH_ID, now: at(seconds) });
const trigger = (seconds: number): BatchCommand => ({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(seconds), limit: 1000 });
const complete = (index: number, seconds: number): BatchCommand => ({
  type: 'RecordExecutionCompleted',
  batchId: BATCH_ID,
  index,
  output: null,
  attempts: 1,
  now: at(seconds),
});
const throttledUntilOf = (state: BatchState): string | null => (isBatch(state) ? state.throttledUntil : 'no batch');

describe('throttling of a batch (429s from its target)', () => {
  it('opens an episode once, whatever the 429s that follow, and lifts it once', () => {
    const { state, events } = run(created(3, { maxConcurrent: 3 }), trigger(0), throttled(1), throttled(2, 9), throttled(3));
    expect(types(events).filter((type) => type.startsWith('BatchThrottle'))).toEqual(['BatchThrottled']);
    expect(events.find((event) => event.type === 'BatchThrottled')?.data).toEqual({
      batchId: BATCH_ID,
      until: at(3).toISOString(),
      workflowId: 'wf',
      occurredAt: at(1).toISOString(),
    });
    expect(throttledUntilOf(state)).toBe(at(3).toISOString());
    const after = run(events, lifted(4), lifted(5));
    expect(types(after.events.slice(events.length))).toEqual(['BatchThrottleLifted']);
    expect(throttledUntilOf(after.state)).toBeNull();
    // A new episode after the lift is a new pair.
    const again = run(after.events, throttled(6), lifted(7));
    expect(types(again.events.slice(after.events.length))).toEqual(['BatchThrottled', 'BatchThrottleLifted']);
  });

  it('records nothing to lift when no episode is open', () => {
    const { state } = run(created(2), trigger(0));
    expect(decide(lifted(1), state)).toEqual([]);
  });

  it('records nothing once the batch settled or was cancelled, and an open episode ends with the batch', () => {
    const open = run(created(2, { maxConcurrent: 2 }), trigger(0), throttled(1));
    const settled = run(open.events, complete(0, 2), complete(1, 3));
    expect(types(settled.events).at(-1)).toBe('BatchSettled');
    expect(throttledUntilOf(settled.state)).toBeNull();
    expect(decide(throttled(4), settled.state)).toEqual([]);
    expect(decide(lifted(4), settled.state)).toEqual([]);

    const cancel: BatchCommand = { type: 'CancelBatch', batchId: BATCH_ID, now: at(2), actor: 'ops' };
    const cancelled = run(run(created(4, { maxConcurrent: 2 }), trigger(0), throttled(1)).events, cancel);
    expect(throttledUntilOf(cancelled.state)).toBeNull();
    expect(decide(throttled(3), cancelled.state)).toEqual([]);
    expect(decide(lifted(3), cancelled.state)).toEqual([]);
  });

  it('accepts throttling of a completed batch whose triggered executions still await their outcome', () => {
    const { state } = run(created(1), trigger(0));
    expect(isBatch(state) && state.status).toBe('completed');
    expect(types(decide(throttled(1), state))).toEqual(['BatchThrottled']);
  });

  it('keeps an open episode in a snapshot, and reads snapshots from before it as not throttled', () => {
    const { state } = run(created(3), trigger(0), throttled(1));
    if (!isBatch(state)) throw new Error('expected a batch');
    expect(fromBatchSnapshot(toBatchSnapshot(state)).throttledUntil).toBe(at(3).toISOString());
    const { throttledUntil: _dropped, ...older } = toBatchSnapshot(state);
    expect(fromBatchSnapshot(older).throttledUntil).toBeNull();
  });

  it('registers both events at schema 1', () => {
    expect(batchEvents.schemaVersionOf('BatchThrottled')).toBe(1);
    expect(batchEvents.schemaVersionOf('BatchThrottleLifted')).toBe(1);
  });
});
