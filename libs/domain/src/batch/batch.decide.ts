import { RuleViolation, type Problem } from '../shared/errors';
import { jsonBytes } from '../shared/json-bytes';
import type {
  BatchCancelled,
  BatchCompleted,
  BatchEvent,
  BatchPaused,
  BatchReplanned,
  BatchSettingChanges,
  BatchSettings,
  BatchSettingsChange,
  BatchSettled,
  ExecutionTriggered,
  HoldSource,
  ItemsLocation,
  ReconfigurableSetting,
  WaveDue,
} from './batch.events';
import {
  BatchAlreadyExists,
  BatchAlreadyHeld,
  BatchNotFound,
  BatchNotHeld,
  ExecutionNotFound,
  IllegalBatchTransition,
  IllegalExecutionTransition,
} from './batch.errors';
import { isBatch, reconfigured, type Batch, type BatchState, type BatchStatus } from './batch.state';
import { CATCH_UP_REASON, catchUpGraceMs, isCatchUp } from './catch-up';
import { executionIdOf } from './execution-id';
import { MAX_BATCH_PRIORITY, MIN_BATCH_PRIORITY } from './priority';
import { lastExecuteAtOf, type WaveSettings } from './schedule';
import type { BatchSource } from './batch.events';

/**
 * When the last pending execution would be due after the change a decision makes, as `change` computes
 * it on the execution table without applying it: what the decision's event announces as `planEndsAt`.
 */
const planEndAfter = (batch: Batch, change: (table: Batch['executions']) => number | null): string | null => {
  const last = change(batch.executions);
  return last === null ? null : new Date(last).toISOString();
};

/** Who asked, and why: carried into the events of operator actions. */
export interface Actor {
  readonly actor: string;
  readonly reason?: string;
}

export type CreateBatch = {
  readonly type: 'CreateBatch';
  readonly batchId: string;
  readonly settings: BatchSettings;
  readonly total: number;
  readonly items: ItemsLocation;
  readonly source?: BatchSource;
  /** Set when the batch re-runs the failed executions of that one. */
  readonly parentBatchId?: string;
  /** Set when its workflow is held: the batch starts held (BatchHeld in the same decision). */
  readonly held?: { readonly by: HoldSource; readonly reason: string; readonly actor: string };
  readonly actor: string;
  readonly reason?: string;
  readonly now: Date;
};
/** The scheduler's timer for the start time fired. */
export type StartBatch = { readonly type: 'StartBatch'; readonly batchId: string; readonly now: Date };
/** The scheduler's timer for a wave fired: record the due waves up to `now`. */
export type DeclareDueWaves = {
  readonly type: 'DeclareDueWaves';
  readonly batchId: string;
  readonly now: Date;
  readonly maxWaves?: number;
};
/**
 * The executor answers a due wave: trigger pending executions whose time has come, at most `limit`.
 * `continuing` is true for the later steps of triggering one wave `limit` at a time: a paced batch
 * checks its lateness (catch-up) on the first step only, or a wave triggered in many steps would
 * look late halfway through.
 */
export type TriggerDueExecutions = {
  readonly type: 'TriggerDueExecutions';
  readonly batchId: string;
  readonly now: Date;
  readonly limit: number;
  readonly continuing?: boolean;
};
/** The executor started the first call of these executions. */
export type RecordCallsStarted = {
  readonly type: 'RecordCallsStarted';
  readonly batchId: string;
  readonly indexes: readonly number[];
  readonly at: Date;
  readonly now: Date;
};
export type RecordExecutionAccepted = {
  readonly type: 'RecordExecutionAccepted';
  readonly batchId: string;
  readonly index: number;
  readonly attempt: number;
  readonly deadline?: Date;
  readonly now: Date;
};
export type RecordAttemptFailed = {
  readonly type: 'RecordAttemptFailed';
  readonly batchId: string;
  readonly index: number;
  readonly attempt: number;
  readonly error: string;
  readonly statusCode?: number;
  readonly retryAt: Date;
  readonly now: Date;
};
export type RecordExecutionCompleted = {
  readonly type: 'RecordExecutionCompleted';
  readonly batchId: string;
  readonly index: number;
  readonly output: unknown;
  readonly attempts: number;
  readonly now: Date;
};
export type RecordExecutionFailed = {
  readonly type: 'RecordExecutionFailed';
  readonly batchId: string;
  readonly index: number;
  readonly error: string;
  readonly statusCode?: number;
  readonly attempts: number;
  readonly now: Date;
};
/**
 * An async target's callback: the outcome of an execution it accepted. Only an execution awaiting
 * its callback can be settled this way (a sync call in flight cannot), and the attempts are the
 * accepted attempt's, from the batch state.
 */
export type RecordCallbackResult = {
  readonly type: 'RecordCallbackResult';
  readonly batchId: string;
  readonly index: number;
  readonly result: { readonly status: 'completed'; readonly output: unknown } | { readonly status: 'failed'; readonly error: string };
  readonly now: Date;
};
export type CancelExecution = {
  readonly type: 'CancelExecution';
  readonly batchId: string;
  readonly index: number;
  readonly now: Date;
} & Actor;
export type RescheduleExecution = {
  readonly type: 'RescheduleExecution';
  readonly batchId: string;
  readonly index: number;
  readonly executeAt: Date;
  readonly now: Date;
} & Actor;
export type PauseBatch = { readonly type: 'PauseBatch'; readonly batchId: string; readonly now: Date } & Actor;
export type ResumeBatch = { readonly type: 'ResumeBatch'; readonly batchId: string; readonly now: Date } & Actor;
export type CancelBatch = { readonly type: 'CancelBatch'; readonly batchId: string; readonly now: Date } & Actor;
/** Batch `retryBatchId` was created over the `executions` failed executions of this one. */
/** Its workflow was held: keep every execution of the batch from being called. */
export type HoldBatch = {
  readonly type: 'HoldBatch';
  readonly batchId: string;
  readonly by: HoldSource;
  readonly reason: string;
  readonly actor: string;
  readonly now: Date;
};
/** Its workflow was released: a running batch re-plans its pending executions from now. */
export type ReleaseBatch = {
  readonly type: 'ReleaseBatch';
  readonly batchId: string;
  readonly reason: string;
  readonly actor: string;
  readonly now: Date;
};
export type RecordRetry = {
  readonly type: 'RecordRetry';
  readonly batchId: string;
  readonly retryBatchId: string;
  readonly executions: number;
  readonly now: Date;
} & Actor;
/**
 * Change the settings of a pending, running or paused batch (`PATCH /v1/batches/{id}`). Settings
 * left out keep their value; a failure threshold given as null is removed.
 */
export type ReconfigureBatch = {
  readonly type: 'ReconfigureBatch';
  readonly batchId: string;
  readonly changes: BatchSettingsChange;
  readonly now: Date;
} & Actor;

/**
 * The executor met a 429 on a call of the batch (`until`: no call of its workflow before then).
 * Opens a throttling episode; one already open, or a batch that has settled or was cancelled, records
 * nothing, so the 429s of a storm give one event.
 */
export type RecordThrottled = {
  readonly type: 'RecordThrottled';
  readonly batchId: string;
  readonly until: Date;
  readonly workflowId?: string;
  readonly now: Date;
};
/** A call of the batch got an answer other than 429: ends the open episode, if any. */
export type RecordThrottleLifted = { readonly type: 'RecordThrottleLifted'; readonly batchId: string; readonly now: Date };

export type BatchCommand =
  | CreateBatch
  | StartBatch
  | DeclareDueWaves
  | TriggerDueExecutions
  | RecordCallsStarted
  | RecordExecutionAccepted
  | RecordAttemptFailed
  | RecordExecutionCompleted
  | RecordExecutionFailed
  | RecordCallbackResult
  | CancelExecution
  | RescheduleExecution
  | PauseBatch
  | ResumeBatch
  | CancelBatch
  | ReconfigureBatch
  | HoldBatch
  | ReleaseBatch
  | RecordRetry
  | RecordThrottled
  | RecordThrottleLifted;

export const MAX_CONCURRENT_LIMIT = 10_000;
/** 30 days. Longer gaps between waves are not a use case, and they let a plan end past any date. */
export const MAX_BATCH_INTERVAL_SECONDS = 30 * 24 * 3600;
/** Batch metadata goes with every target call and webhook, so it is kept small: 16 KiB as JSON (UTF-8). */
export const MAX_BATCH_METADATA_BYTES = 16 * 1024;
/** The last instant an RFC 3339 timestamp (four-digit year) can name: every time the API shows is one. */
const LATEST_TIMESTAMP_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Decides what happens when `command` meets the batch in `state`: the events to append, or a typed
 * error when a rule refuses it. Pure: time comes in with the command.
 */
export const decide = (command: BatchCommand, state: BatchState): BatchEvent[] => {
  if (command.type === 'CreateBatch') return createBatch(command, state);
  if (!isBatch(state)) throw new BatchNotFound(command.batchId);
  switch (command.type) {
    case 'StartBatch':
      return startBatch(command, state);
    case 'DeclareDueWaves':
      return declareDueWaves(command, state);
    case 'TriggerDueExecutions':
      return triggerDueExecutions(command, state);
    case 'RecordCallsStarted':
      return recordCallsStarted(command, state);
    case 'RecordExecutionAccepted':
      return recordAccepted(command, state);
    case 'RecordAttemptFailed':
      return recordAttemptFailed(command, state);
    case 'RecordExecutionCompleted':
      return recordCompleted(command, state);
    case 'RecordExecutionFailed':
      return recordFailed(command, state);
    case 'RecordCallbackResult':
      return recordCallbackResult(command, state);
    case 'CancelExecution':
      return cancelExecution(command, state);
    case 'RescheduleExecution':
      return rescheduleExecution(command, state);
    case 'PauseBatch':
      return pauseBatch(command, state);
    case 'ResumeBatch':
      return resumeBatch(command, state);
    case 'CancelBatch':
      return cancelBatch(command, state);
    case 'ReconfigureBatch':
      return reconfigureBatch(command, state);
    case 'HoldBatch':
      return holdBatch(command, state);
    case 'ReleaseBatch':
      return releaseBatch(command, state);
    case 'RecordRetry':
      return recordRetry(command, state);
    case 'RecordThrottled':
      return recordThrottled(command, state);
    case 'RecordThrottleLifted':
      return recordThrottleLifted(command, state);
    default: {
      const unknownCommand: never = command;
      throw new Error(`Unknown command ${(unknownCommand as { type: string }).type}`);
    }
  }
};

const iso = (date: Date): string => date.toISOString();

const requireStatus = (batch: Batch, action: string, ...allowed: BatchStatus[]): void => {
  if (!allowed.includes(batch.status)) throw new IllegalBatchTransition(batch.id, batch.status, action);
};

const operator = ({ actor, reason }: Actor): { actor: string; reason?: string } => (reason === undefined ? { actor } : { actor, reason });

/** The rules of a batch's settings alone, so an edge can check them before it reads any item. */
export const validateBatchSettings = (settings: BatchSettings): Problem[] => {
  const problems: Problem[] = [];
  const problem = (field: string, message: string): void => void problems.push({ code: 'invalid_setting', field, message });
  if (settings.name.trim() === '') problem('name', 'name must not be empty');
  if (!Number.isInteger(settings.maxConcurrent) || settings.maxConcurrent < 1 || settings.maxConcurrent > MAX_CONCURRENT_LIMIT)
    problem('maxConcurrent', `maxConcurrent must be an integer from 1 to ${MAX_CONCURRENT_LIMIT}`);
  if (
    !Number.isFinite(settings.batchIntervalSeconds) ||
    settings.batchIntervalSeconds < 0 ||
    settings.batchIntervalSeconds > MAX_BATCH_INTERVAL_SECONDS
  )
    problem('batchIntervalSeconds', `batchIntervalSeconds must be a number from 0 to ${MAX_BATCH_INTERVAL_SECONDS} (30 days)`);
  if (!Number.isInteger(settings.priority) || settings.priority < MIN_BATCH_PRIORITY || settings.priority > MAX_BATCH_PRIORITY)
    problem('priority', `priority must be an integer from ${MIN_BATCH_PRIORITY} to ${MAX_BATCH_PRIORITY} (lower runs first)`);
  if (Number.isNaN(Date.parse(settings.startAt))) problem('startAt', 'startAt must be an ISO 8601 date-time');
  if (!Number.isInteger(settings.workflowVersion) || settings.workflowVersion < 1)
    problem('workflowVersion', 'workflowVersion must be an integer >= 1');
  if (
    settings.maxFailurePercent !== undefined &&
    (!Number.isFinite(settings.maxFailurePercent) || settings.maxFailurePercent < 0 || settings.maxFailurePercent > 100)
  )
    problem('maxFailurePercent', 'maxFailurePercent must be a number from 0 to 100');
  if (settings.maxFailures !== undefined && (!Number.isSafeInteger(settings.maxFailures) || settings.maxFailures < 0))
    problem('maxFailures', 'maxFailures must be an integer >= 0');
  if (!isCatchUp(settings.catchUp)) problem('catchUp', 'catchUp must be "paced" or "burst"');
  const metadataBytes = jsonBytes(settings.metadata);
  if (metadataBytes > MAX_BATCH_METADATA_BYTES)
    problem('metadata', `metadata must be at most ${MAX_BATCH_METADATA_BYTES} bytes as JSON, not ${metadataBytes}`);
  return problems;
};

/**
 * When the last of `count` executions planned from `anchorMs` is due: it must be a time the API can
 * show, however many waves there are. `from` says where the plan starts, for the message.
 */
const planEndWithinRange = (anchorMs: number, count: number, waves: WaveSettings, from: string): string => {
  const endMs = lastExecuteAtOf(anchorMs, count, waves) ?? anchorMs;
  if (!Number.isFinite(endMs) || endMs > LATEST_TIMESTAMP_MS) {
    const message =
      `the plan would end after the year 9999: ${count} items, ${waves.maxConcurrent} per wave, batchIntervalSeconds ` +
      `${waves.batchIntervalSeconds} from ${from}`;
    throw new RuleViolation(message, [{ code: 'plan_out_of_range', field: 'batchIntervalSeconds', message }]);
  }
  return new Date(endMs).toISOString();
};

const planEndOf = (settings: BatchSettings, total: number): string =>
  planEndWithinRange(Date.parse(settings.startAt), total, settings, `startAt ${settings.startAt}`);

/** What an event that starts a new plan announces: its number, the pending executions in it, and when the last of them is due. */
interface NewPlan {
  readonly plan: number;
  readonly pending: number;
  readonly planEndsAt: string | null;
}

/**
 * The one shape of "start a new plan" (resume, reconfiguration of the waves, catch-up): the
 * still-pending executions, in their original order, from `anchorMs` by the wave formula with
 * `waves`. `evolve` applies it the same way for the three events (`newPlan` in batch.state.ts).
 */
const newPlanFrom = (batch: Batch, anchorMs: number, waves: WaveSettings): NewPlan => {
  const last = lastExecuteAtOf(anchorMs, batch.counts.pending, waves);
  return { plan: batch.plan + 1, pending: batch.counts.pending, planEndsAt: last === null ? null : new Date(last).toISOString() };
};

/**
 * Paced catch-up: a running batch with `catchUp: 'paced'` that meets a due time (`dueMs`, the
 * earliest one the decision would fire) later than its grace is re-planned from now instead, as a
 * resume would re-plan it. Null when it is on time, bursts, or has no interval to keep.
 */
const catchUpReplan = (batch: Batch, now: Date, dueMs: number | undefined): BatchReplanned | null => {
  if (batch.settings.catchUp !== 'paced' || dueMs === undefined) return null;
  const graceMs = catchUpGraceMs(batch.settings);
  if (graceMs === null || now.getTime() - dueMs <= graceMs) return null;
  return {
    type: 'BatchReplanned',
    data: {
      batchId: batch.id,
      ...newPlanFrom(batch, now.getTime(), batch.settings),
      reason: CATCH_UP_REASON,
      occurredAt: iso(now),
      actor: 'system',
    },
  };
};

const createBatch = (command: CreateBatch, state: BatchState): BatchEvent[] => {
  if (isBatch(state)) throw new BatchAlreadyExists(command.batchId);
  const problems = validateBatchSettings(command.settings);
  if (problems.length > 0) throw new RuleViolation('The batch settings are invalid', problems);
  if (!Number.isInteger(command.total) || command.total < 1) {
    const message = 'a batch needs at least one item';
    throw new RuleViolation(message, [{ code: 'no_items', field: 'items', message }]);
  }
  const created: BatchEvent = {
    type: 'BatchCreated',
    data: {
      ...command.settings,
      batchId: command.batchId,
      total: command.total,
      items: command.items,
      ...(command.source === undefined ? {} : { source: command.source }),
      ...(command.parentBatchId === undefined ? {} : { parentBatchId: command.parentBatchId }),
      planEndsAt: planEndOf(command.settings, command.total),
      occurredAt: iso(command.now),
      ...operator(command),
    },
  };
  const startsNow = Date.parse(command.settings.startAt) <= command.now.getTime();
  // Held in the same decision as its creation: no wave of it can be declared before the hold is known.
  const held: BatchEvent[] =
    command.held === undefined
      ? []
      : [{ type: 'BatchHeld', data: { batchId: command.batchId, ...command.held, occurredAt: iso(command.now) } }];
  const started: BatchEvent[] = startsNow
    ? [{ type: 'BatchStarted', data: { batchId: command.batchId, occurredAt: iso(command.now) } }]
    : [];
  return [created, ...held, ...started];
};

/** A timer that fires a little early starts nothing: the scheduler arms it again. */
const startBatch = (command: StartBatch, batch: Batch): BatchEvent[] => {
  requireStatus(batch, 'start', 'pending');
  if (Date.parse(batch.settings.startAt) > command.now.getTime()) return [];
  return [{ type: 'BatchStarted', data: { batchId: batch.id, occurredAt: iso(command.now) } }];
};

/** Declares, in order, each wave due time that has arrived and was not declared yet. */
const declareDueWaves = (command: DeclareDueWaves, batch: Batch): BatchEvent[] => {
  requireStatus(batch, 'declare a due wave of', 'running');
  // A held batch declares nothing, late or not: its release re-plans from then.
  if (batch.held !== null) return [];
  const nowMs = command.now.getTime();
  const first = batch.executions.nextDueAfter(batch.declaredThroughMs);
  // A paced batch that finds its next due time overdue (the scheduler was down) re-plans instead of
  // declaring the missed waves, and declares the new plan's first wave, due now.
  const replanned = catchUpReplan(batch, command.now, first !== null && first.atMs <= nowMs ? first.atMs : undefined);
  if (replanned !== null) return [replanned, waveDue(batch, replanned.data.plan, 0, nowMs, command.now)];
  const events: WaveDue[] = [];
  let through = batch.declaredThroughMs;
  const maxWaves = command.maxWaves ?? 1000;
  while (events.length < maxWaves) {
    const next = batch.executions.nextDueAfter(through);
    if (next === null || next.atMs > nowMs) break;
    events.push(waveDue(batch, batch.plan, next.wave, next.atMs, command.now));
    through = next.atMs;
  }
  return events;
};

const waveDue = (batch: Batch, plan: number, wave: number | null, dueAtMs: number, now: Date): WaveDue => ({
  type: 'WaveDue',
  data: { batchId: batch.id, plan, wave, dueAt: new Date(dueAtMs).toISOString(), occurredAt: iso(now) },
});

/**
 * Triggers the due executions, earliest first. When that leaves nothing pending the batch is
 * completed in the same decision, so no later command can see a running batch with nothing to do.
 */
const triggerDueExecutions = (command: TriggerDueExecutions, batch: Batch): BatchEvent[] => {
  requireStatus(batch, 'trigger executions of', 'running');
  // A wave declared before the hold triggers nothing: the release re-plans its executions.
  if (batch.held !== null) return [];
  const nowMs = command.now.getTime();
  const occurredAt = iso(command.now);
  // A paced batch whose earliest due execution is overdue (the executor lagged, or the broker was
  // away) re-plans, and triggers the new plan's first wave, due now, in the same decision.
  if (command.continuing !== true) {
    const earliest = batch.executions.nextDueAfter(Number.NEGATIVE_INFINITY)?.atMs;
    const replanned = catchUpReplan(batch, command.now, earliest !== undefined && earliest <= nowMs ? earliest : undefined);
    if (replanned !== null) {
      const firstWave = batch.executions.firstPending(Math.min(command.limit, batch.settings.maxConcurrent));
      return [
        replanned,
        ...withCompletion(
          batch,
          command.now,
          firstWave.map((index) => triggered(batch, index, nowMs, occurredAt)),
        ),
      ];
    }
  }
  const due = batch.executions.dueAt(nowMs, command.limit);
  return withCompletion(
    batch,
    command.now,
    due.map((index) => triggered(batch, index, batch.executions.executeAtOf(index), occurredAt)),
  );
};

const triggered = (batch: Batch, index: number, executeAtMs: number, occurredAt: string): ExecutionTriggered => ({
  type: 'ExecutionTriggered',
  data: {
    batchId: batch.id,
    executionId: executionIdOf(batch.id, index),
    index,
    executeAt: new Date(executeAtMs).toISOString(),
    occurredAt,
  },
});

/** The triggers, and BatchCompleted after them when they leave nothing pending. */
const withCompletion = (batch: Batch, now: Date, triggers: ExecutionTriggered[]): BatchEvent[] =>
  triggers.length > 0 && triggers.length === batch.counts.pending
    ? [...triggers, completed(batch, now, batch.counts.triggered + triggers.length, batch.counts.cancelled)]
    : triggers;

const completed = (batch: Batch, now: Date, triggered: number, cancelled: number): BatchCompleted => ({
  type: 'BatchCompleted',
  data: { batchId: batch.id, triggered, cancelled, occurredAt: iso(now) },
});

const requireExecution = (batch: Batch, index: number, action: string, ...allowed: string[]): string => {
  const executionId = executionIdOf(batch.id, index);
  if (!Number.isInteger(index) || index < 0 || index >= batch.counts.total) throw new ExecutionNotFound(executionId);
  const current = batch.executions.stateOf(index);
  if (!allowed.includes(current)) throw new IllegalExecutionTransition(executionId, current, action);
  return executionId;
};

/** What every event about one execution says: which one, of which batch, and when. */
const aboutExecution = (batch: Batch, executionId: string, command: { readonly index: number; readonly now: Date }) => ({
  batchId: batch.id,
  executionId,
  index: command.index,
  occurredAt: iso(command.now),
});

const statusCodeOf = (command: { readonly statusCode?: number }): { statusCode?: number } =>
  command.statusCode === undefined ? {} : { statusCode: command.statusCode };

/**
 * Only what is still triggered: an execution that got its outcome, or whose batch was cancelled,
 * in the meantime is left out rather than refused, as this records a fact, not a decision.
 */
const recordCallsStarted = (command: RecordCallsStarted, batch: Batch): BatchEvent[] => {
  const indexes = command.indexes.filter(
    (index) => index >= 0 && index < batch.executions.total && batch.executions.stateOf(index) === 'triggered',
  );
  if (indexes.length === 0) return [];
  return [{ type: 'ExecutionCallsStarted', data: { batchId: batch.id, indexes, at: iso(command.at), occurredAt: iso(command.now) } }];
};

const recordAccepted = (command: RecordExecutionAccepted, batch: Batch): BatchEvent[] => {
  const executionId = requireExecution(batch, command.index, 'record the acceptance of', 'triggered');
  const deadline = command.deadline === undefined ? {} : { deadline: iso(command.deadline) };
  return [{ type: 'ExecutionAccepted', data: { ...aboutExecution(batch, executionId, command), attempt: command.attempt, ...deadline } }];
};

const recordAttemptFailed = (command: RecordAttemptFailed, batch: Batch): BatchEvent[] => {
  const executionId = requireExecution(batch, command.index, 'record a failed attempt of', 'triggered');
  const data = {
    ...aboutExecution(batch, executionId, command),
    attempt: command.attempt,
    error: command.error,
    ...statusCodeOf(command),
    retryAt: iso(command.retryAt),
  };
  return [{ type: 'ExecutionAttemptFailed', data }];
};

const recordCompleted = (command: RecordExecutionCompleted, batch: Batch): BatchEvent[] => {
  const executionId = requireExecution(batch, command.index, 'complete', 'triggered');
  return [
    {
      type: 'ExecutionCompleted',
      data: { ...aboutExecution(batch, executionId, command), output: command.output ?? null, attempts: command.attempts },
    },
    ...afterOutcome(batch, 'completed', command.now),
  ];
};

const recordFailed = (command: RecordExecutionFailed, batch: Batch): BatchEvent[] => {
  const executionId = requireExecution(batch, command.index, 'fail', 'triggered');
  return [
    {
      type: 'ExecutionFailed',
      data: { ...aboutExecution(batch, executionId, command), error: command.error, ...statusCodeOf(command), attempts: command.attempts },
    },
    ...afterOutcome(batch, 'failed', command.now),
  ];
};

const recordCallbackResult = (command: RecordCallbackResult, batch: Batch): BatchEvent[] => {
  const action = 'record a callback result of';
  const executionId = requireExecution(batch, command.index, action, 'triggered');
  const attempts = batch.executions.acceptedAttemptOf(command.index);
  if (attempts === null) throw new IllegalExecutionTransition(executionId, 'triggered', action, 'triggered and not awaiting a callback');
  const about = aboutExecution(batch, executionId, command);
  const outcome: BatchEvent =
    command.result.status === 'completed'
      ? { type: 'ExecutionCompleted', data: { ...about, output: command.result.output ?? null, attempts } }
      : { type: 'ExecutionFailed', data: { ...about, error: command.result.error, attempts } };
  return [outcome, ...afterOutcome(batch, command.result.status, command.now)];
};

/** Failure tolerance counts the share of failures only from this many outcomes on: one early failure is no trend. */
export const MIN_OUTCOMES_FOR_FAILURE_PERCENT = 10;

/**
 * What one more outcome implies for the batch, decided with it: the batch settles when it was the
 * last outcome awaited, and a running batch pauses itself when its failure tolerance is exceeded.
 * Tolerance counts the outcomes since the last resume, so a resume lets the batch go on; the two
 * never meet, since a running batch still has pending executions and a settled one has none.
 */
const afterOutcome = (batch: Batch, outcome: 'completed' | 'failed', now: Date): BatchEvent[] => {
  const completedCount = batch.counts.completed + (outcome === 'completed' ? 1 : 0);
  const failedCount = batch.counts.failed + (outcome === 'failed' ? 1 : 0);
  const settledEvent = settledIfDone(batch, now, completedCount, failedCount, batch.counts.cancelled);
  if (settledEvent !== null) return [settledEvent];
  if (batch.status !== 'running') return [];
  const reason = toleranceExceeded(
    batch,
    completedCount - batch.outcomesBeforeResume.completed,
    failedCount - batch.outcomesBeforeResume.failed,
  );
  if (reason === null) return [];
  const paused: BatchPaused = { type: 'BatchPaused', data: { batchId: batch.id, occurredAt: iso(now), actor: 'system', reason } };
  return [paused];
};

/** Why the batch must pause, given the outcomes since the last resume, or null when it may go on. */
const toleranceExceeded = (batch: Batch, completedCount: number, failedCount: number): string | null => {
  const { maxFailures, maxFailurePercent } = batch.settings;
  const since = batch.resumed ? ' since the last resume' : '';
  if (maxFailures !== undefined && failedCount > maxFailures)
    return `failure tolerance exceeded: ${failedCount} executions failed${since} (max ${maxFailures})`;
  const outcomes = completedCount + failedCount;
  // failed / outcomes > percent / 100, in integers where the settings are.
  if (maxFailurePercent !== undefined && outcomes >= MIN_OUTCOMES_FOR_FAILURE_PERCENT && failedCount * 100 > maxFailurePercent * outcomes)
    return `failure tolerance exceeded: ${failedCount} of ${outcomes} outcomes failed${since} (max ${maxFailurePercent}%)`;
  return null;
};

/** BatchSettled when, with these counts, every execution has an outcome or is cancelled, and the batch has not settled yet. */
const settledIfDone = (
  batch: Batch,
  now: Date,
  completedCount: number,
  failedCount: number,
  cancelledCount: number,
): BatchSettled | null => {
  if (batch.settledAt !== null || completedCount + failedCount + cancelledCount < batch.counts.total) return null;
  return {
    type: 'BatchSettled',
    data: {
      batchId: batch.id,
      total: batch.counts.total,
      completed: completedCount,
      failed: failedCount,
      cancelled: cancelledCount,
      occurredAt: iso(now),
    },
  };
};

const withSettled = (events: BatchEvent[], settled: BatchSettled | null): BatchEvent[] =>
  settled === null ? events : [...events, settled];

const cancelExecution = (command: CancelExecution, batch: Batch): BatchEvent[] => {
  const executionId = requireExecution(batch, command.index, 'cancel', 'pending');
  const events: BatchEvent[] = [
    {
      type: 'ExecutionCancelled',
      data: {
        ...aboutExecution(batch, executionId, command),
        planEndsAt: planEndAfter(batch, (table) => table.lastExecuteAtWithout(command.index)),
        ...operator(command),
      },
    },
  ];
  // The last pending execution of a running batch leaving means the batch is done.
  if (batch.status === 'running' && batch.counts.pending === 1) {
    events.push(completed(batch, command.now, batch.counts.triggered, batch.counts.cancelled + 1));
  }
  // Cancelling the last pending execution when every triggered one has its outcome settles the batch.
  return withSettled(events, settledIfDone(batch, command.now, batch.counts.completed, batch.counts.failed, batch.counts.cancelled + 1));
};

const rescheduleExecution = (command: RescheduleExecution, batch: Batch): BatchEvent[] => {
  const executionId = requireExecution(batch, command.index, 'reschedule', 'pending');
  if (Number.isNaN(command.executeAt.getTime())) {
    throw new RuleViolation('executeAt must be an ISO 8601 date-time', [
      { code: 'invalid_setting', field: 'executeAt', message: 'executeAt must be an ISO 8601 date-time' },
    ]);
  }
  const events: BatchEvent[] = [
    {
      type: 'ExecutionRescheduled',
      data: {
        ...aboutExecution(batch, executionId, command),
        executeAt: iso(command.executeAt),
        previousExecuteAt: new Date(batch.executions.executeAtOf(command.index)).toISOString(),
        planEndsAt: planEndAfter(batch, (table) => table.lastExecuteAtWith(command.index, command.executeAt.getTime())),
        ...operator(command),
      },
    },
  ];
  // The scheduler only looks past the due times already declared: a new time in that range is due
  // now, so it is declared here or it would never fall due.
  const atMs = command.executeAt.getTime();
  if (batch.status === 'running' && atMs <= batch.declaredThroughMs) {
    events.push({
      type: 'WaveDue',
      data: { batchId: batch.id, plan: batch.plan, wave: null, dueAt: iso(command.executeAt), occurredAt: iso(command.now) },
    });
  }
  return events;
};

const pauseBatch = (command: PauseBatch, batch: Batch): BatchEvent[] => {
  requireStatus(batch, 'pause', 'running');
  return [{ type: 'BatchPaused', data: { batchId: batch.id, occurredAt: iso(command.now), ...operator(command) } }];
};

const resumeBatch = (command: ResumeBatch, batch: Batch): BatchEvent[] => {
  requireStatus(batch, 'resume', 'paused');
  const events: BatchEvent[] = [
    {
      type: 'BatchResumed',
      data: {
        batchId: batch.id,
        ...newPlanFrom(batch, command.now.getTime(), batch.settings),
        occurredAt: iso(command.now),
        ...operator(command),
      },
    },
  ];
  // Executions cancelled one by one while paused may have left nothing to run.
  if (batch.counts.pending === 0) events.push(completed(batch, command.now, batch.counts.triggered, batch.counts.cancelled));
  return events;
};

const cancelBatch = (command: CancelBatch, batch: Batch): BatchEvent[] => {
  requireStatus(batch, 'cancel', 'pending', 'running', 'paused');
  const cancelled: BatchCancelled = {
    type: 'BatchCancelled',
    data: { batchId: batch.id, cancelledExecutions: batch.counts.pending, occurredAt: iso(command.now), ...operator(command) },
  };
  // With no execution awaiting an outcome the batch settles now; otherwise at the last outcome.
  return withSettled(
    [cancelled],
    settledIfDone(batch, command.now, batch.counts.completed, batch.counts.failed, batch.counts.cancelled + batch.counts.pending),
  );
};

/**
 * Any batch whose executions may still be called can be held, whatever its status: a completed
 * batch may still have triggered executions waiting for a call slot. A settled one has none.
 */
const holdBatch = (command: HoldBatch, batch: Batch): BatchEvent[] => {
  if (batch.held !== null) throw new BatchAlreadyHeld(batch.id);
  if (batch.settledAt !== null) throw new IllegalBatchTransition(batch.id, batch.status, 'hold');
  const data = { batchId: batch.id, by: command.by, reason: command.reason, occurredAt: iso(command.now), actor: command.actor };
  return [{ type: 'BatchHeld', data }];
};

/**
 * A running batch re-plans from now with the one new-plan shape (as a resume does), so the waves
 * missed while held do not all fire at once. A pending batch keeps its plan from its start time,
 * a paused one stays paused (its resume re-plans), and one with nothing pending has nothing to plan.
 */
const releaseBatch = (command: ReleaseBatch, batch: Batch): BatchEvent[] => {
  if (batch.held === null) throw new BatchNotHeld(batch.id);
  const replans = batch.status === 'running' && batch.counts.pending > 0;
  const plan: NewPlan = replans
    ? newPlanFrom(batch, command.now.getTime(), batch.settings)
    : { plan: batch.plan, pending: batch.counts.pending, planEndsAt: planEndAfter(batch, (table) => table.lastExecuteAt()) };
  return [
    {
      type: 'BatchReleased',
      data: {
        batchId: batch.id,
        reason: command.reason,
        ...plan,
        planStartsAt: replans ? iso(command.now) : null,
        occurredAt: iso(command.now),
        actor: command.actor,
      },
    },
  ];
};

/** The settings a reconfiguration may change, in the order its events list them. */
export const RECONFIGURABLE_SETTINGS: readonly ReconfigurableSetting[] = [
  'maxConcurrent',
  'batchIntervalSeconds',
  'priority',
  'maxFailurePercent',
  'maxFailures',
];

/** Each setting the change gives with a value other than the current one, with both values (null: a threshold not set). */
const settingChanges = (settings: BatchSettings, change: BatchSettingsChange): BatchSettingChanges => {
  const changes: Record<string, { from: number | null; to: number | null }> = {};
  for (const key of RECONFIGURABLE_SETTINGS) {
    const to = change[key];
    if (to === undefined) continue;
    const from = settings[key] ?? null;
    if (from !== to) changes[key] = { from, to };
  }
  return changes as BatchSettingChanges;
};

/**
 * PATCH: the same rules as at creation, for the settings given. A running batch whose wave figures
 * change is re-planned from now (the first new wave is due at once), a pending one from its start
 * time; a paused one keeps its executions' times and its resume plans with the new figures.
 * Settings given with their current value change nothing, and a change that changes nothing
 * records nothing. A threshold lowered below the failures already counted pauses the batch at its
 * next outcome, as the tolerance is decided there.
 */
const reconfigureBatch = (command: ReconfigureBatch, batch: Batch): BatchEvent[] => {
  requireStatus(batch, 'reconfigure', 'pending', 'running', 'paused');
  const given = RECONFIGURABLE_SETTINGS.filter((key) => command.changes[key] !== undefined);
  if (given.length === 0) {
    const message = `give at least one setting to change: ${RECONFIGURABLE_SETTINGS.join(', ')}`;
    throw new RuleViolation(message, [{ code: 'no_changes', message }]);
  }
  const changes = settingChanges(batch.settings, command.changes);
  const settings = reconfigured(batch.settings, changes);
  // Only the settings given are checked: the others were valid when the batch was created.
  const problems = validateBatchSettings(settings).filter((problem) => (given as readonly string[]).includes(problem.field ?? ''));
  if (problems.length > 0) throw new RuleViolation(problems[0]?.message ?? 'The batch settings are invalid', problems);
  if (Object.keys(changes).length === 0) return [];
  const wavesChanged = changes.maxConcurrent !== undefined || changes.batchIntervalSeconds !== undefined;
  const anchorMs =
    !wavesChanged || batch.status === 'paused'
      ? null
      : batch.status === 'running'
        ? command.now.getTime()
        : Date.parse(batch.settings.startAt);
  // The new figures must give a plan that ends in range: from its start, or from now for a paused batch's resume.
  if (wavesChanged) {
    const fromMs = anchorMs ?? command.now.getTime();
    planEndWithinRange(fromMs, batch.counts.pending, settings, new Date(fromMs).toISOString());
  }
  const plan: NewPlan =
    anchorMs === null
      ? { plan: batch.plan, pending: batch.counts.pending, planEndsAt: planEndAfter(batch, (table) => table.lastExecuteAt()) }
      : newPlanFrom(batch, anchorMs, settings);
  return [
    {
      type: 'BatchReconfigured',
      data: {
        batchId: batch.id,
        changes,
        ...plan,
        planStartsAt: anchorMs === null ? null : new Date(anchorMs).toISOString(),
        occurredAt: iso(command.now),
        ...operator(command),
      },
    },
  ];
};

/** The failed executions of a batch, in index order: what a retry re-runs. A batch with none has nothing to retry. */
export const failedExecutionsOf = (batch: Batch): number[] => {
  const failed: number[] = [];
  if (batch.counts.failed === 0) return failed;
  for (let index = 0; index < batch.counts.total && failed.length < batch.counts.failed; index++) {
    if (batch.executions.stateOf(index) === 'failed') failed.push(index);
  }
  return failed;
};

/** Refuses a batch with no failed execution, whatever its status: a running one gives the failures so far. */
export const requireFailedExecutions = (batch: Batch): void => {
  if (batch.counts.failed > 0) return;
  const message = `batch ${batch.id} has no failed execution to retry`;
  throw new RuleViolation(message, [{ code: 'no_failed_executions', field: 'batchId', message }]);
};

const recordRetry = (command: RecordRetry, batch: Batch): BatchEvent[] => {
  requireFailedExecutions(batch);
  return [
    {
      type: 'BatchRetried',
      data: {
        batchId: batch.id,
        retryBatchId: command.retryBatchId,
        executions: command.executions,
        occurredAt: iso(command.now),
        ...operator(command),
      },
    },
  ];
};

/**
 * Throttling is a fact about calls still to be made: a batch that settled or was cancelled makes no
 * more (a cancel leaves calls in flight whose answers may still come), so it quietly records nothing.
 */
const callsMayFollow = (batch: Batch): boolean => batch.settledAt === null && batch.status !== 'cancelled';

const recordThrottled = (command: RecordThrottled, batch: Batch): BatchEvent[] => {
  if (!callsMayFollow(batch) || batch.throttledUntil !== null) return [];
  const workflow = command.workflowId === undefined ? {} : { workflowId: command.workflowId };
  return [{ type: 'BatchThrottled', data: { batchId: batch.id, until: iso(command.until), ...workflow, occurredAt: iso(command.now) } }];
};

const recordThrottleLifted = (command: RecordThrottleLifted, batch: Batch): BatchEvent[] => {
  if (!callsMayFollow(batch) || batch.throttledUntil === null) return [];
  return [{ type: 'BatchThrottleLifted', data: { batchId: batch.id, occurredAt: iso(command.now) } }];
};
