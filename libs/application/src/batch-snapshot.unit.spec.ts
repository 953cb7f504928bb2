import {
  decide,
  evolve,
  fromBatchSnapshot,
  initialBatchState,
  isBatch,
  toBatchSnapshot,
  type BatchCommand,
  type BatchEvent,
  type BatchState,
} from '@flotilla/domain';
import { decodeBatchSnapshot, encodeBatchSnapshot } from './batch-snapshot';

const now = new Date('2026-05-01T00:00:00Z');
const later = new Date('2026-05-01T01:00:00Z');

describe('batch snapshot encoding', () => {
  it('round-trips every part of a batch state, plan arrays, reschedules and failed attempts included', () => {
    const commands: BatchCommand[] = [
      {
        type: 'CreateBatch',
        batchId: 'bat_s',
        settings: {
          name: 'n',
          workflowId: 'wf',
          workflowVersion: 2,
          startAt: now.toISOString(),
          maxConcurrent: 3,
          batchIntervalSeconds: 10,
          priority: 50,
          metadata: { a: 'b' },
          // The waves below are declared 15 s late on purpose: fired as a burst, not re-planned.
          catchUp: 'burst',
        },
        total: 50,
        items: { stream: 'batchitems-bat_s', chunkStarts: [0, 20] },
        actor: 't',
        now,
      },
      { type: 'DeclareDueWaves', batchId: 'bat_s', now: new Date(now.getTime() + 15_000) },
      { type: 'TriggerDueExecutions', batchId: 'bat_s', now: new Date(now.getTime() + 15_000), limit: 100 },
      { type: 'RecordAttemptFailed', batchId: 'bat_s', index: 2, attempt: 1, error: 'x', retryAt: later, now },
      { type: 'RecordExecutionAccepted', batchId: 'bat_s', index: 4, attempt: 3, deadline: later, now },
      { type: 'CancelExecution', batchId: 'bat_s', index: 7, now, actor: 'ops' },
      { type: 'PauseBatch', batchId: 'bat_s', now, actor: 'ops' },
      { type: 'ResumeBatch', batchId: 'bat_s', now: later, actor: 'ops' },
      { type: 'RescheduleExecution', batchId: 'bat_s', index: 40, executeAt: new Date(later.getTime() + 1000), now: later, actor: 'ops' },
    ];
    let state: BatchState = initialBatchState();
    for (const command of commands) state = decide(command, state).reduce<BatchState>((s, e: BatchEvent) => evolve(s, e), state);
    if (!isBatch(state)) throw new Error('no batch');
    const snapshot = toBatchSnapshot(state);
    const decoded = decodeBatchSnapshot(encodeBatchSnapshot(snapshot));
    expect(decoded).toEqual(snapshot);
    expect(decoded.executions.failedAttempts).toEqual([[2, 1]]);
    expect(decoded.executions.awaitingCallback).toEqual([[4, 3]]);
    expect(decoded.executions.order).not.toBeNull();
    expect(fromBatchSnapshot(decoded).executions.acceptedAttemptOf(4)).toBe(3);

    // A snapshot written before the table knew about callbacks: the field is absent, nothing awaits one.
    const { awaitingCallback: _absent, ...olderTable } = snapshot.executions;
    const older = decodeBatchSnapshot(encodeBatchSnapshot({ ...snapshot, executions: olderTable as typeof snapshot.executions }));
    expect(older.executions.awaitingCallback).toEqual([]);
    expect(fromBatchSnapshot(older).executions.acceptedAttemptOf(4)).toBeNull();
    expect(older.executions.failedAttempts).toEqual([[2, 1]]);
  });

  it('keeps an undeclared plan (-Infinity) as such', () => {
    let state: BatchState = initialBatchState();
    const create: BatchCommand = {
      type: 'CreateBatch',
      batchId: 'bat_p',
      settings: {
        name: 'n',
        workflowId: 'wf',
        workflowVersion: 1,
        startAt: later.toISOString(),
        maxConcurrent: 1,
        batchIntervalSeconds: 0,
        priority: 50,
        metadata: {},
        catchUp: 'paced',
      },
      total: 2,
      items: { stream: 'batchitems-bat_p', chunkStarts: [0] },
      actor: 't',
      now,
    };
    state = decide(create, state).reduce<BatchState>((s, e) => evolve(s, e), state);
    if (!isBatch(state)) throw new Error('no batch');
    expect(decodeBatchSnapshot(encodeBatchSnapshot(toBatchSnapshot(state))).declaredThroughMs).toBe(Number.NEGATIVE_INFINITY);
  });

  it("keeps a paused batch's plan figures apart from the new settings its resume will use", () => {
    const commands: BatchCommand[] = [
      {
        type: 'CreateBatch',
        batchId: 'bat_w',
        settings: {
          name: 'n',
          workflowId: 'wf',
          workflowVersion: 1,
          startAt: now.toISOString(),
          maxConcurrent: 2,
          batchIntervalSeconds: 10,
          priority: 50,
          metadata: {},
          catchUp: 'paced',
        },
        total: 6,
        items: { stream: 'batchitems-bat_w', chunkStarts: [0] },
        actor: 't',
        now,
      },
      { type: 'PauseBatch', batchId: 'bat_w', now, actor: 'ops' },
      { type: 'ReconfigureBatch', batchId: 'bat_w', changes: { maxConcurrent: 3, batchIntervalSeconds: 60 }, now, actor: 'ops' },
    ];
    let state: BatchState = initialBatchState();
    for (const command of commands) state = decide(command, state).reduce<BatchState>((s, e: BatchEvent) => evolve(s, e), state);
    if (!isBatch(state)) throw new Error('no batch');
    const decoded = decodeBatchSnapshot(encodeBatchSnapshot(toBatchSnapshot(state)));
    expect(decoded.executions.waves).toEqual({ maxConcurrent: 2, batchIntervalSeconds: 10 });
    expect(decoded.settings).toMatchObject({ maxConcurrent: 3, batchIntervalSeconds: 60 });
    const restored = fromBatchSnapshot(decoded);
    // Until the resume the executions keep the old plan's times: 2 a wave, 10 s apart.
    expect(restored.executions.executeAtOf(5)).toBe(now.getTime() + 20_000);
    const resumed = decide({ type: 'ResumeBatch', batchId: 'bat_w', now: later, actor: 'ops' }, restored).reduce<BatchState>(
      (s, e) => evolve(s, e),
      restored,
    );
    if (!isBatch(resumed)) throw new Error('no batch');
    // The resume plans with the new figures: 3 a wave, 60 s apart.
    expect(resumed.executions.executeAtOf(5)).toBe(later.getTime() + 60_000);

    // A snapshot taken before the table kept its figures uses the settings' ones.
    const { waves: _absent, ...olderTable } = decoded.executions;
    expect(fromBatchSnapshot({ ...decoded, executions: olderTable }).executions.executeAtOf(5)).toBe(now.getTime() + 60_000);
  });
});
