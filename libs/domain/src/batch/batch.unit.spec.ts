import { decide, validateBatchSettings, type BatchCommand } from './batch.decide';
import { BatchAlreadyExists, BatchNotFound, ExecutionNotFound, IllegalBatchTransition, IllegalExecutionTransition } from './batch.errors';
import type { BatchEvent, ExecutionTriggered, WaveDue } from './batch.events';
import {
  estimatedCompletionOf,
  initialBatchState,
  isBatch,
  progressOf,
  type Batch,
  type BatchState,
  type BatchStatus,
} from './batch.state';
import { RuleViolation } from '../shared/errors';
import { batchEvents } from './batch.registry';
import { BATCH_ID, T0, at, created, fold, run, settings, types } from './batch.fixtures';

const batchOf = (state: BatchState): Batch => {
  if (!isBatch(state)) throw new Error('expected a batch');
  return state;
};

const operator = { actor: 'ops@example.com' };

/** A batch of `total` items (maxConcurrent 5, interval 60 s) brought into each status. */
const inStatus = (status: BatchStatus, total = 12): BatchEvent[] => {
  switch (status) {
    case 'pending':
      return created(total, { startAt: at(600).toISOString() });
    case 'running':
      return created(total);
    case 'paused':
      return run(created(total), { type: 'PauseBatch', batchId: BATCH_ID, now: at(1), ...operator }).events;
    case 'completed':
      return run(created(total, { batchIntervalSeconds: 0 }), { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(1), limit: 1000 })
        .events;
    case 'cancelled':
      return run(created(total), { type: 'CancelBatch', batchId: BATCH_ID, now: at(1), ...operator }).events;
  }
};

describe('batch lifecycle', () => {
  describe('create', () => {
    it('starts at once when the start time is now or past', () => {
      expect(types(created(3))).toEqual(['BatchCreated', 'BatchStarted']);
      expect(types(created(3, { startAt: at(-3600).toISOString() }))).toEqual(['BatchCreated', 'BatchStarted']);
      expect(batchOf(fold(created(3))).status).toBe('running');
    });

    it('waits as pending when the start time is in the future', () => {
      expect(types(created(3, { startAt: at(1).toISOString() }))).toEqual(['BatchCreated']);
      expect(batchOf(fold(created(3, { startAt: at(1).toISOString() }))).status).toBe('pending');
    });

    it('refuses a batch that already exists', () => {
      const state = fold(created(3));
      expect(() =>
        decide(
          {
            type: 'CreateBatch',
            batchId: BATCH_ID,
            settings: settings(),
            total: 3,
            items: { stream: 's', chunkStarts: [0] },
            actor: 'a',
            now: T0,
          },
          state,
        ),
      ).toThrow(BatchAlreadyExists);
    });

    it.each([
      [{ maxConcurrent: 0 }, 'maxConcurrent', 'maxConcurrent must be an integer from 1 to 10000'],
      [{ maxConcurrent: -5 }, 'maxConcurrent', 'maxConcurrent must be an integer from 1 to 10000'],
      [{ maxConcurrent: 10_001 }, 'maxConcurrent', 'maxConcurrent must be an integer from 1 to 10000'],
      [{ maxConcurrent: 1.5 }, 'maxConcurrent', 'maxConcurrent must be an integer from 1 to 10000'],
      [{ batchIntervalSeconds: -1 }, 'batchIntervalSeconds', 'batchIntervalSeconds must be a number from 0 to 2592000 (30 days)'],
      [{ batchIntervalSeconds: 2_592_000.5 }, 'batchIntervalSeconds', 'batchIntervalSeconds must be a number from 0 to 2592000 (30 days)'],
      [{ batchIntervalSeconds: 1e13 }, 'batchIntervalSeconds', 'batchIntervalSeconds must be a number from 0 to 2592000 (30 days)'],
      [{ startAt: 'tomorrow' }, 'startAt', 'startAt must be an ISO 8601 date-time'],
      [{ name: ' ' }, 'name', 'name must not be empty'],
      [{ priority: 0 }, 'priority', 'priority must be an integer from 1 to 100 (lower runs first)'],
      [{ priority: 101 }, 'priority', 'priority must be an integer from 1 to 100 (lower runs first)'],
      [{ priority: 2.5 }, 'priority', 'priority must be an integer from 1 to 100 (lower runs first)'],
    ])('refuses invalid settings %j', (overrides, field, message) => {
      try {
        created(3, overrides);
        throw new Error('expected a RuleViolation');
      } catch (error) {
        expect(error).toBeInstanceOf(RuleViolation);
        expect((error as RuleViolation).problems).toContainEqual({ code: 'invalid_setting', field, message });
      }
    });

    it('reads a BatchCreated written before priority existed (schema 1) at the default priority, 50', () => {
      const [event] = created(3, { priority: 7 });
      const { priority: _priority, ...schema1 } = (event as Extract<BatchEvent, { type: 'BatchCreated' }>).data;
      const read = batchEvents.read({ type: 'BatchCreated', data: schema1 });
      expect(read?.type === 'BatchCreated' && read.data.priority).toBe(50);
      // Written now, it carries schema 3 and keeps its priority.
      expect(batchEvents.schemaVersionOf('BatchCreated')).toBe(3);
      expect(batchEvents.read({ type: 'BatchCreated', data: event?.data, metadata: { schemaVersion: 3 } })).toEqual(event);
    });

    it('reads a BatchCreated written before catchUp existed (schemas 1 and 2) as paced, the default', () => {
      const [event] = created(3, { catchUp: 'burst', priority: 7 });
      const { catchUp: _catchUp, ...schema2 } = (event as Extract<BatchEvent, { type: 'BatchCreated' }>).data;
      const read = batchEvents.read({ type: 'BatchCreated', data: schema2, metadata: { schemaVersion: 2 } });
      expect(read?.type === 'BatchCreated' && [read.data.catchUp, read.data.priority]).toEqual(['paced', 7]);
      const { priority: _priority, ...schema1 } = schema2;
      const first = batchEvents.read({ type: 'BatchCreated', data: schema1 });
      expect(first?.type === 'BatchCreated' && [first.data.catchUp, first.data.priority]).toEqual(['paced', 50]);
      expect(batchOf(fold([first!])).settings.catchUp).toBe('paced');
    });

    it('refuses batch metadata over 16 KiB as JSON, counted in UTF-8 bytes', () => {
      const problemsOf = (metadata: Record<string, string>) => validateBatchSettings(settings({ metadata }));
      expect(problemsOf({ big: 'x'.repeat(16_384) })).toEqual([
        { code: 'invalid_setting', field: 'metadata', message: 'metadata must be at most 16384 bytes as JSON, not 16394' },
      ]);
      // 5,462 three-byte characters are 16,386 bytes, plus the 8 of {"k":""}; as characters they would fit.
      expect(problemsOf({ k: '€'.repeat(5_462) })).toEqual([
        { code: 'invalid_setting', field: 'metadata', message: 'metadata must be at most 16384 bytes as JSON, not 16394' },
      ]);
      expect(() => created(3, { metadata: { big: 'x'.repeat(16_384) } })).toThrow(RuleViolation);
    });

    it('accepts the largest interval and metadata of exactly 16 KiB', () => {
      expect(types(created(3, { batchIntervalSeconds: 2_592_000, metadata: { k: 'x'.repeat(16_384 - '{"k":""}'.length) } }))).toEqual([
        'BatchCreated',
        'BatchStarted',
      ]);
    });

    it('refuses a plan that would end past the last date the API can show, and plans up to it', () => {
      const lastWaveSeconds = (Date.parse('9999-12-31T23:59:59.999Z') - T0.getTime()) / 1000;
      const waves = Math.floor(lastWaveSeconds / 2_592_000);
      // One item per wave, 30 days apart: `waves + 1` items end in 9999, one more ends in 10000.
      const fits = created(waves + 1, { maxConcurrent: 1, batchIntervalSeconds: 2_592_000 })[0]!;
      expect(fits.type === 'BatchCreated' && fits.data.planEndsAt.startsWith('9999-')).toBe(true);
      try {
        created(waves + 2, { maxConcurrent: 1, batchIntervalSeconds: 2_592_000 });
        throw new Error('expected a RuleViolation');
      } catch (error) {
        expect(error).toBeInstanceOf(RuleViolation);
        expect((error as RuleViolation).problems).toEqual([
          {
            code: 'plan_out_of_range',
            field: 'batchIntervalSeconds',
            message: expect.stringContaining('the plan would end after the year 9999'),
          },
        ]);
      }
    });

    it('refuses an empty batch', () => {
      expect(() => created(0)).toThrow(RuleViolation);
      expect(() => created(0)).toThrow('a batch needs at least one item');
    });
  });

  it('refuses every command but create on a batch that does not exist', () => {
    expect(() => decide({ type: 'PauseBatch', batchId: 'nope', now: T0, ...operator }, initialBatchState())).toThrow(BatchNotFound);
  });

  /**
   * The whole transition table: each lifecycle command in each status, allowed (with the events it
   * yields) or refused with an error naming the current status.
   */
  const commands: Record<string, (now: Date) => BatchCommand> = {
    start: (now) => ({ type: 'StartBatch', batchId: BATCH_ID, now }),
    pause: (now) => ({ type: 'PauseBatch', batchId: BATCH_ID, now, ...operator }),
    resume: (now) => ({ type: 'ResumeBatch', batchId: BATCH_ID, now, ...operator }),
    cancel: (now) => ({ type: 'CancelBatch', batchId: BATCH_ID, now, ...operator }),
    'declare waves': (now) => ({ type: 'DeclareDueWaves', batchId: BATCH_ID, now }),
    trigger: (now) => ({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now, limit: 100 }),
  };
  const allowed: Record<string, Partial<Record<BatchStatus, string[]>>> = {
    start: { pending: ['BatchStarted'] },
    pause: { running: ['BatchPaused'] },
    resume: { paused: ['BatchResumed'] },
    // Nothing was triggered in these batches, so nothing awaits an outcome: the cancel settles them too.
    cancel: {
      pending: ['BatchCancelled', 'BatchSettled'],
      running: ['BatchCancelled', 'BatchSettled'],
      paused: ['BatchCancelled', 'BatchSettled'],
    },
    'declare waves': { running: ['WaveDue'] },
    trigger: { running: ['ExecutionTriggered', 'ExecutionTriggered', 'ExecutionTriggered', 'ExecutionTriggered', 'ExecutionTriggered'] },
  };
  const actionName: Record<string, string> = {
    start: 'start',
    pause: 'pause',
    resume: 'resume',
    cancel: 'cancel',
    'declare waves': 'declare a due wave of',
    trigger: 'trigger executions of',
  };
  const statuses: BatchStatus[] = ['pending', 'running', 'paused', 'completed', 'cancelled'];
  for (const [name, command] of Object.entries(commands)) {
    for (const status of statuses) {
      const expected = allowed[name]?.[status];
      // On time: a paced batch's first wave is due at 0 (the grace is 2 s), a pending one starts at 600.
      const now = status === 'pending' ? at(600) : at(1);
      if (expected) {
        it(`${name} a ${status} batch -> ${expected.join(', ')}`, () => {
          const events = decide(command(now), fold(inStatus(status)));
          expect(types(events)).toEqual(expected);
        });
      } else {
        it(`${name} a ${status} batch is refused, naming the status`, () => {
          const state = fold(inStatus(status));
          expect(() => decide(command(now), state)).toThrow(IllegalBatchTransition);
          expect(() => decide(command(now), state)).toThrow(`Cannot ${actionName[name]} batch ${BATCH_ID}: it is ${status}`);
        });
      }
    }
  }

  it('resulting statuses follow the table', () => {
    const after = (status: BatchStatus, name: string): BatchStatus => {
      const state = fold(inStatus(status));
      return batchOf(fold(decide(commands[name]!(at(600)), state), state)).status;
    };
    expect(after('pending', 'start')).toBe('running');
    expect(after('pending', 'cancel')).toBe('cancelled');
    expect(after('running', 'pause')).toBe('paused');
    expect(after('running', 'cancel')).toBe('cancelled');
    expect(after('paused', 'resume')).toBe('running');
    expect(after('paused', 'cancel')).toBe('cancelled');
  });

  it('a start timer that fires early starts nothing', () => {
    expect(decide({ type: 'StartBatch', batchId: BATCH_ID, now: at(599) }, fold(inStatus('pending')))).toEqual([]);
  });

  it('completes when every execution has been triggered', () => {
    const { state, events } = run(created(7, { maxConcurrent: 5 }), {
      type: 'TriggerDueExecutions',
      batchId: BATCH_ID,
      now: at(0),
      limit: 100,
    });
    expect(types(events).filter((type) => type === 'ExecutionTriggered')).toHaveLength(5);
    expect(batchOf(state).status).toBe('running');
    const next = run(events, { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(60), limit: 100 });
    expect(types(next.events).slice(-3)).toEqual(['ExecutionTriggered', 'ExecutionTriggered', 'BatchCompleted']);
    expect(batchOf(next.state).status).toBe('completed');
    expect(next.events.at(-1)?.data).toMatchObject({ triggered: 7, cancelled: 0 });
  });

  it('completes when the last pending execution of a running batch is cancelled', () => {
    const triggered = run(created(2, { maxConcurrent: 1 }), {
      type: 'TriggerDueExecutions',
      batchId: BATCH_ID,
      now: at(0),
      limit: 100,
    }).events;
    const events = decide({ type: 'CancelExecution', batchId: BATCH_ID, index: 1, now: at(1), ...operator }, fold(triggered));
    expect(types(events)).toEqual(['ExecutionCancelled', 'BatchCompleted']);
    expect(events[1]?.data).toMatchObject({ triggered: 1, cancelled: 1 });
  });

  it('completes on resume when everything pending was cancelled while paused', () => {
    const { events } = run(
      created(1),
      { type: 'PauseBatch', batchId: BATCH_ID, now: at(1), ...operator },
      { type: 'CancelExecution', batchId: BATCH_ID, index: 0, now: at(2), ...operator },
    );
    // Nothing is left to run or await: the batch settles while paused, and completes when resumed.
    expect(types(events).slice(-2)).toEqual(['ExecutionCancelled', 'BatchSettled']);
    expect(types(decide({ type: 'ResumeBatch', batchId: BATCH_ID, now: at(3), ...operator }, fold(events)))).toEqual([
      'BatchResumed',
      'BatchCompleted',
    ]);
  });

  it('cancel is final: pending executions are cancelled, triggered ones keep their outcome', () => {
    const { state, events } = run(
      created(12),
      { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 100 },
      { type: 'CancelBatch', batchId: BATCH_ID, now: at(10), actor: 'ops', reason: 'wrong file' },
    );
    const cancelled = events.at(-1);
    expect(cancelled).toEqual({
      type: 'BatchCancelled',
      data: { batchId: BATCH_ID, cancelledExecutions: 7, occurredAt: at(10).toISOString(), actor: 'ops', reason: 'wrong file' },
    });
    const batch = batchOf(state);
    expect(batch.counts).toEqual({ total: 12, pending: 0, triggered: 5, cancelled: 7, completed: 0, failed: 0 });
    expect(batch.executions.stateOf(4)).toBe('triggered');
    expect(batch.executions.stateOf(5)).toBe('cancelled');
    // An execution triggered before the cancel still records its outcome.
    const outcome = decide(
      { type: 'RecordExecutionCompleted', batchId: BATCH_ID, index: 4, output: { ok: true }, attempts: 1, now: at(11) },
      state,
    );
    expect(types(outcome)).toEqual(['ExecutionCompleted']);
    expect(batchOf(fold(outcome, state)).counts.completed).toBe(1);
  });

  it('operator events carry who and why; reason is optional', () => {
    const paused = decide(
      { type: 'PauseBatch', batchId: BATCH_ID, now: at(5), actor: 'alice', reason: 'target is down' },
      fold(created(3)),
    );
    expect(paused).toEqual([
      { type: 'BatchPaused', data: { batchId: BATCH_ID, occurredAt: at(5).toISOString(), actor: 'alice', reason: 'target is down' } },
    ]);
    const resumed = decide({ type: 'ResumeBatch', batchId: BATCH_ID, now: at(6), actor: 'bob' }, fold([...created(3), ...paused]));
    expect(resumed[0]?.data).toEqual({
      batchId: BATCH_ID,
      plan: 1,
      pending: 3,
      planEndsAt: at(6).toISOString(),
      occurredAt: at(6).toISOString(),
      actor: 'bob',
    });
  });
});

describe('scheduled executions', () => {
  const running = (): BatchEvent[] => created(12);

  it('are triggered when due, earliest first, with the execution id naming batch and index', () => {
    const events = decide({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 100 }, fold(running()));
    expect(events.map((event) => (event as ExecutionTriggered).data.executionId)).toEqual([0, 1, 2, 3, 4].map((i) => `${BATCH_ID}.${i}`));
    expect((events[0] as ExecutionTriggered).data).toEqual({
      batchId: BATCH_ID,
      executionId: `${BATCH_ID}.0`,
      index: 0,
      executeAt: T0.toISOString(),
      occurredAt: T0.toISOString(),
    });
  });

  it('respect the limit per decision', () => {
    const events = decide({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 3 }, fold(running()));
    expect(events.map((event) => (event as ExecutionTriggered).data.index)).toEqual([0, 1, 2]);
  });

  it('nothing due yields no events', () => {
    const { events } = run(running(), { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 100 });
    expect(decide({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(59), limit: 100 }, fold(events))).toEqual([]);
  });

  const executionCommands: Record<string, (index: number) => BatchCommand> = {
    cancel: (index) => ({ type: 'CancelExecution', batchId: BATCH_ID, index, now: at(1), ...operator }),
    reschedule: (index) => ({ type: 'RescheduleExecution', batchId: BATCH_ID, index, executeAt: at(30), now: at(1), ...operator }),
    complete: (index) => ({ type: 'RecordExecutionCompleted', batchId: BATCH_ID, index, output: 'done', attempts: 1, now: at(1) }),
    fail: (index) => ({ type: 'RecordExecutionFailed', batchId: BATCH_ID, index, error: 'boom', attempts: 3, now: at(1) }),
    'record the acceptance of': (index) => ({ type: 'RecordExecutionAccepted', batchId: BATCH_ID, index, attempt: 1, now: at(1) }),
    'record a failed attempt of': (index) => ({
      type: 'RecordAttemptFailed',
      batchId: BATCH_ID,
      index,
      attempt: 1,
      error: 'HTTP 503',
      statusCode: 503,
      retryAt: at(2),
      now: at(1),
    }),
  };
  const allowedFrom: Record<string, string[]> = {
    cancel: ['pending'],
    reschedule: ['pending'],
    complete: ['triggered'],
    fail: ['triggered'],
    'record the acceptance of': ['triggered'],
    'record a failed attempt of': ['triggered'],
  };
  // Execution 0: completed, 1: failed, 2: triggered, 3: cancelled, 7: pending.
  const mixed = (): BatchState =>
    run(
      running(),
      { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 3 },
      { type: 'RecordExecutionCompleted', batchId: BATCH_ID, index: 0, output: 1, attempts: 1, now: at(1) },
      { type: 'RecordExecutionFailed', batchId: BATCH_ID, index: 1, error: 'x', attempts: 1, now: at(1) },
      { type: 'CancelExecution', batchId: BATCH_ID, index: 3, now: at(1), ...operator },
    ).state;
  const indexInState: Record<string, number> = { completed: 0, failed: 1, triggered: 2, cancelled: 3, pending: 7 };

  for (const [name, command] of Object.entries(executionCommands)) {
    for (const [executionState, index] of Object.entries(indexInState)) {
      if (allowedFrom[name]!.includes(executionState)) {
        it(`${name} a ${executionState} execution is allowed`, () => {
          expect(decide(command(index), mixed())).toHaveLength(1);
        });
      } else {
        it(`${name} a ${executionState} execution is refused, naming its state`, () => {
          expect(() => decide(command(index), mixed())).toThrow(IllegalExecutionTransition);
          expect(() => decide(command(index), mixed())).toThrow(`Cannot ${name} execution ${BATCH_ID}.${index}: it is ${executionState}`);
        });
      }
    }
    it(`${name} an execution that does not exist is refused`, () => {
      expect(() => decide(command(12), mixed())).toThrow(ExecutionNotFound);
      expect(() => decide(command(-1), mixed())).toThrow(ExecutionNotFound);
    });
  }

  it('failed attempts are kept until the outcome, so a redelivered execution goes on counting', () => {
    const { state } = run(
      running(),
      { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 2 },
      { type: 'RecordAttemptFailed', batchId: BATCH_ID, index: 0, attempt: 1, error: 'HTTP 503', retryAt: at(1), now: at(0) },
      { type: 'RecordAttemptFailed', batchId: BATCH_ID, index: 0, attempt: 2, error: 'HTTP 503', retryAt: at(2), now: at(1) },
      { type: 'RecordAttemptFailed', batchId: BATCH_ID, index: 1, attempt: 1, error: 'HTTP 503', retryAt: at(1), now: at(0) },
      { type: 'RecordExecutionCompleted', batchId: BATCH_ID, index: 1, output: null, attempts: 2, now: at(2) },
    );
    expect(batchOf(state).executions.failedAttemptsOf(0)).toBe(2);
    expect(batchOf(state).executions.failedAttemptsOf(1)).toBe(0);
    expect(batchOf(state).executions.failedAttemptsOf(5)).toBe(0);
  });

  describe('calls started', () => {
    it('records the still-triggered executions of a group and leaves out the rest; nothing when none is left', () => {
      const triggered = run(running(), { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 3 }).events;
      const done: BatchCommand = { type: 'RecordExecutionCompleted', batchId: BATCH_ID, index: 1, output: null, attempts: 1, now: at(1) };
      const started = (indexes: number[]): BatchCommand => ({
        type: 'RecordCallsStarted',
        batchId: BATCH_ID,
        indexes,
        at: at(1),
        now: at(2),
      });
      const { events } = run(triggered, done, started([0, 1, 2, 5, 99, -1]), started([1]));
      const recorded = events.filter((event) => event.type === 'ExecutionCallsStarted');
      expect(recorded).toEqual([
        {
          type: 'ExecutionCallsStarted',
          data: { batchId: BATCH_ID, indexes: [0, 2], at: at(1).toISOString(), occurredAt: at(2).toISOString() },
        },
      ]);
      // It changes nothing a decision depends on.
      expect(fold(recorded, fold(triggered))).toEqual(fold(triggered));
    });
  });

  describe('callbacks of async targets', () => {
    const callback = (
      index: number,
      result: { status: 'completed'; output: unknown } | { status: 'failed'; error: string } = { status: 'completed', output: { ok: 1 } },
    ): BatchCommand => ({
      type: 'RecordCallbackResult',
      batchId: BATCH_ID,
      index,
      result,
      now: at(5),
    });
    const accepted = (index: number, attempt: number): BatchCommand => ({
      type: 'RecordExecutionAccepted',
      batchId: BATCH_ID,
      index,
      attempt,
      deadline: at(3600),
      now: at(1),
    });
    const triggered = (): BatchEvent[] => run(running(), { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 3 }).events;

    it('settle an execution an async target accepted, with the accepted attempt; then it awaits nothing', () => {
      const { state, events } = run(
        triggered(),
        { type: 'RecordAttemptFailed', batchId: BATCH_ID, index: 0, attempt: 1, error: 'HTTP 503', retryAt: at(1), now: at(0) },
        accepted(0, 2),
        accepted(1, 1),
      );
      expect(batchOf(state).executions.acceptedAttemptOf(0)).toBe(2);
      expect(batchOf(state).executions.acceptedAttemptOf(2)).toBeNull();
      const settled = run(events, callback(0), callback(1, { status: 'failed', error: 'no stock' }));
      expect(settled.events.slice(-2)).toEqual([
        {
          type: 'ExecutionCompleted',
          data: {
            batchId: BATCH_ID,
            executionId: `${BATCH_ID}.0`,
            index: 0,
            output: { ok: 1 },
            attempts: 2,
            occurredAt: at(5).toISOString(),
          },
        },
        {
          type: 'ExecutionFailed',
          data: {
            batchId: BATCH_ID,
            executionId: `${BATCH_ID}.1`,
            index: 1,
            error: 'no stock',
            attempts: 1,
            occurredAt: at(5).toISOString(),
          },
        },
      ]);
      expect(batchOf(settled.state).executions.acceptedAttemptOf(0)).toBeNull();
      expect(() => decide(callback(0), settled.state)).toThrow(
        `Cannot record a callback result of execution ${BATCH_ID}.0: it is completed`,
      );
      expect(() => decide(callback(1), settled.state)).toThrow(`Cannot record a callback result of execution ${BATCH_ID}.1: it is failed`);
    });

    it('refuse a triggered execution that awaits no callback: a sync call, or an attempt in flight', () => {
      const state = fold(triggered());
      expect(() => decide(callback(2), state)).toThrow(IllegalExecutionTransition);
      expect(() => decide(callback(2), state)).toThrow(
        `Cannot record a callback result of execution ${BATCH_ID}.2: it is triggered and not awaiting a callback`,
      );
      // A failed attempt ends the wait of the attempt before it.
      const retried = run(triggered(), accepted(0, 1), {
        type: 'RecordAttemptFailed',
        batchId: BATCH_ID,
        index: 0,
        attempt: 1,
        error: 'x',
        retryAt: at(2),
        now: at(1),
      }).state;
      expect(batchOf(retried).executions.acceptedAttemptOf(0)).toBeNull();
      expect(() => decide(callback(0), retried)).toThrow('it is triggered and not awaiting a callback');
    });

    it('refuse pending, cancelled and missing executions', () => {
      const state = run(triggered(), { type: 'CancelExecution', batchId: BATCH_ID, index: 5, now: at(1), ...operator }).state;
      expect(() => decide(callback(7), state)).toThrow(`Cannot record a callback result of execution ${BATCH_ID}.7: it is pending`);
      expect(() => decide(callback(5), state)).toThrow(`Cannot record a callback result of execution ${BATCH_ID}.5: it is cancelled`);
      expect(() => decide(callback(12), state)).toThrow(ExecutionNotFound);
    });

    it('an outcome by other means (the deadline, the executor) ends the wait too', () => {
      const { state } = run(triggered(), accepted(0, 1), {
        type: 'RecordExecutionFailed',
        batchId: BATCH_ID,
        index: 0,
        error: 'late',
        attempts: 1,
        now: at(2),
      });
      expect(batchOf(state).executions.acceptedAttemptOf(0)).toBeNull();
    });
  });

  it('outcomes carry output, error and attempts', () => {
    const state = run(running(), { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 2 }).state;
    expect(decide(executionCommands['fail']!(0), state)[0]).toEqual({
      type: 'ExecutionFailed',
      data: { batchId: BATCH_ID, executionId: `${BATCH_ID}.0`, index: 0, error: 'boom', attempts: 3, occurredAt: at(1).toISOString() },
    });
    expect(decide(executionCommands['complete']!(1), state)[0]?.data).toMatchObject({ output: 'done', attempts: 1 });
  });
});

describe('waves', () => {
  const executeAt = (state: BatchState, index: number): string => new Date(batchOf(state).executions.executeAtOf(index)).toISOString();

  it('executeAt = startAt + floor(i / maxConcurrent) * interval', () => {
    const state = fold(created(15, { maxConcurrent: 5, batchIntervalSeconds: 60 }));
    for (let i = 0; i < 15; i++) expect(executeAt(state, i)).toBe(at(Math.floor(i / 5) * 60).toISOString());
    expect(executeAt(state, 4)).toBe(at(0).toISOString());
    expect(executeAt(state, 5)).toBe(at(60).toISOString());
    expect(executeAt(state, 14)).toBe(at(120).toISOString());
  });

  it('interval 0 puts every item at the start time', () => {
    const state = fold(created(100, { maxConcurrent: 3, batchIntervalSeconds: 0 }));
    expect(executeAt(state, 99)).toBe(T0.toISOString());
  });

  it('a burst batch declares each due wave once, in order, including those that passed while nobody looked', () => {
    const state = fold(created(15, { catchUp: 'burst' }));
    const declared = decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(125) }, state) as WaveDue[];
    expect(declared.map((event) => [event.data.wave, event.data.dueAt])).toEqual([
      [0, at(0).toISOString()],
      [1, at(60).toISOString()],
      [2, at(120).toISOString()],
    ]);
    expect(decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(125) }, fold(declared, state))).toEqual([]);
  });

  it('does not declare a wave before its time', () => {
    const { state } = run(created(15), { type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(0) });
    expect(decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(59.999) }, state)).toEqual([]);
    expect(batchOf(state).executions.nextDueAfter(batchOf(state).declaredThroughMs)).toEqual({ atMs: at(60).getTime(), wave: 1 });
  });

  it('resume re-plans the still-pending executions from the resume time, in their original order', () => {
    const { state } = run(
      created(15),
      { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 100 }, // 0-4
      { type: 'CancelExecution', batchId: BATCH_ID, index: 6, now: at(10), ...operator },
      { type: 'PauseBatch', batchId: BATCH_ID, now: at(30), ...operator },
      { type: 'ResumeBatch', batchId: BATCH_ID, now: at(1000), ...operator },
    );
    const pending = [5, 7, 8, 9, 10, 11, 12, 13, 14];
    pending.forEach((index, rank) => expect(executeAt(state, index)).toBe(at(1000 + Math.floor(rank / 5) * 60).toISOString()));
    expect(batchOf(state).plan).toBe(1);
    const first = decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(1000) }, state) as WaveDue[];
    const second = decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(1060) }, fold(first, state)) as WaveDue[];
    expect([...first, ...second].map((event) => [event.data.plan, event.data.wave, event.data.dueAt])).toEqual([
      [1, 0, at(1000).toISOString()],
      [1, 1, at(1060).toISOString()],
    ]);
    const triggered = decide({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(1000), limit: 100 }, state);
    expect(triggered.map((event) => (event as ExecutionTriggered).data.index)).toEqual([5, 7, 8, 9, 10]);
  });

  it('while paused nothing is triggered, and the estimate is null', () => {
    const { state } = run(created(15), { type: 'PauseBatch', batchId: BATCH_ID, now: at(1), ...operator });
    expect(() => decide({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(3600), limit: 100 }, state)).toThrow(
      IllegalBatchTransition,
    );
    expect(estimatedCompletionOf(batchOf(state))).toBeNull();
  });

  it('a rescheduled execution runs at its new time, outside the waves', () => {
    // Burst: the decisions below are made long after the first waves were due.
    const { state, events } = run(created(15, { catchUp: 'burst' }), {
      type: 'RescheduleExecution',
      batchId: BATCH_ID,
      index: 1,
      executeAt: at(90),
      now: at(1),
      ...operator,
    });
    expect(events.at(-1)?.data).toMatchObject({ index: 1, executeAt: at(90).toISOString(), previousExecuteAt: at(0).toISOString() });
    expect(executeAt(state, 1)).toBe(at(90).toISOString());
    expect(batchOf(state).executions.waveOf(1)).toBeNull();
    const atStart = decide({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 100 }, state);
    expect(atStart.map((event) => (event as ExecutionTriggered).data.index)).toEqual([0, 2, 3, 4]);
    const later = decide({ type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(90), limit: 100 }, state);
    expect(later.map((event) => (event as ExecutionTriggered).data.index)).toEqual([0, 2, 3, 4, 5, 6, 7, 8, 9, 1]);
    const waves = decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(90) }, state) as WaveDue[];
    expect(waves.map((event) => [event.data.wave, event.data.dueAt])).toEqual([
      [0, at(0).toISOString()],
      [1, at(60).toISOString()],
      [null, at(90).toISOString()],
    ]);
  });

  it('rescheduling into the time already declared declares it due at once', () => {
    const { state, events } = run(
      created(15, { catchUp: 'burst' }),
      { type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(61) },
      { type: 'RescheduleExecution', batchId: BATCH_ID, index: 14, executeAt: at(30), now: at(61), ...operator },
    );
    expect(types(events).slice(-2)).toEqual(['ExecutionRescheduled', 'WaveDue']);
    expect(events.at(-1)?.data).toMatchObject({ wave: null, dueAt: at(30).toISOString() });
    expect(decide({ type: 'DeclareDueWaves', batchId: BATCH_ID, now: at(61) }, state)).toEqual([]);
    expect(batchOf(state).executions.nextDueAfter(batchOf(state).declaredThroughMs)).toEqual({ atMs: at(120).getTime(), wave: 2 });
  });

  it('resume clears earlier reschedules: every pending execution is re-planned', () => {
    const { state } = run(
      created(6, { maxConcurrent: 2 }),
      { type: 'RescheduleExecution', batchId: BATCH_ID, index: 0, executeAt: at(5000), now: at(1), ...operator },
      { type: 'PauseBatch', batchId: BATCH_ID, now: at(2), ...operator },
      { type: 'ResumeBatch', batchId: BATCH_ID, now: at(100), ...operator },
    );
    expect([0, 1, 2, 3, 4, 5].map((i) => executeAt(state, i))).toEqual([100, 100, 160, 160, 220, 220].map((s) => at(s).toISOString()));
  });
});

describe('progress', () => {
  it('counts and percent = triggered / total, estimate = last pending execute time', () => {
    const { state } = run(
      created(12),
      { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 100 },
      { type: 'RecordExecutionCompleted', batchId: BATCH_ID, index: 0, output: null, attempts: 1, now: at(1) },
      { type: 'RecordExecutionFailed', batchId: BATCH_ID, index: 1, error: 'x', attempts: 3, now: at(1) },
      { type: 'CancelExecution', batchId: BATCH_ID, index: 11, now: at(1), ...operator },
    );
    const batch = batchOf(state);
    expect(progressOf(batch.counts)).toEqual({
      total: 12,
      pending: 6,
      triggered: 5,
      cancelled: 1,
      completed: 1,
      failed: 1,
      percent: 41.67,
    });
    // The last pending execution is 10 (11 was cancelled): wave 2 at +120 s.
    expect(estimatedCompletionOf(batch)).toBe(at(120).toISOString());
  });

  it('events that move the end of the plan announce it, and it matches the estimate folded from them', () => {
    const planEnd = (events: BatchEvent[]) =>
      (events.find((event) => 'planEndsAt' in event.data)?.data as { planEndsAt: string | null }).planEndsAt;
    const steps: BatchCommand[] = [
      { type: 'CancelExecution', batchId: BATCH_ID, index: 11, now: at(1), ...operator },
      { type: 'RescheduleExecution', batchId: BATCH_ID, index: 0, executeAt: at(500), now: at(2), ...operator },
      { type: 'RescheduleExecution', batchId: BATCH_ID, index: 0, executeAt: at(20), now: at(3), ...operator },
      { type: 'PauseBatch', batchId: BATCH_ID, now: at(4), ...operator },
      { type: 'ResumeBatch', batchId: BATCH_ID, now: at(1000), ...operator },
      { type: 'CancelExecution', batchId: BATCH_ID, index: 10, now: at(1001), ...operator },
    ];
    let events = created(12);
    expect(planEnd(events)).toBe(at(120).toISOString());
    const announced: (string | null)[] = [];
    for (const command of steps) {
      const decided = decide(command, fold(events));
      events = [...events, ...decided];
      if (decided.some((event) => 'planEndsAt' in event.data)) {
        announced.push(planEnd(decided));
        const state = batchOf(fold(events));
        if (state.status === 'running') expect(planEnd(decided)).toBe(estimatedCompletionOf(state));
      }
    }
    // 11 cancelled: 10 is last (+120 s); 0 moved to +500 s; 0 back to +20 s; resume: 11 pending from +1000 s,
    // 5 per minute (+1120 s); 10 cancelled: 9 is last, in the second wave (+1060 s).
    expect(announced).toEqual([at(120), at(500), at(120), at(1120), at(1060)].map((date) => date.toISOString()));
  });

  it('a duplicate event for one execution is not counted twice', () => {
    const { events } = run(created(3), { type: 'TriggerDueExecutions', batchId: BATCH_ID, now: at(0), limit: 1 });
    const triggered = events.at(-1)!;
    const state = fold([...events, triggered]);
    expect(batchOf(state).counts).toMatchObject({ pending: 2, triggered: 1 });
  });
});

describe('profiles', () => {
  it('an item keeps its own profile; others get the default, else the pool in turn', () => {
    const { ProfileAssigner } = jest.requireActual<typeof import('./profiles')>('./profiles');
    const pooled = new ProfileAssigner(undefined, ['a', 'b', 'c']);
    expect([pooled.assign(null), pooled.assign('own'), pooled.assign(undefined), pooled.assign(''), pooled.assign(null)]).toEqual([
      'a',
      'own',
      'b',
      'c',
      'a',
    ]);
    const withDefault = new ProfileAssigner('default', ['a']);
    expect([withDefault.assign(null), withDefault.assign('x')]).toEqual(['default', 'x']);
    expect(new ProfileAssigner().assign(null)).toBeUndefined();
  });
});
