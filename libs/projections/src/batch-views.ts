import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CATCH_UP_MODES, type BatchStatus, type CatchUp, type ExecutionState, type HoldSource } from '@flotilla/domain';

/**
 * What the REST API answers about batches, executions and their history: the one shape of each,
 * used by the queries that build them and by the OpenAPI description (a generated client types
 * its answers from these decorators). Classes rather than interfaces only so that the
 * descriptions can hang on them; instances are plain objects built by `BatchQueries`.
 */

/**
 * A field holding any JSON value (a target's output, an event's data). Left to the reflected type,
 * it would be described as an object, and a generated client would refuse a string or a number;
 * the one schema of "any JSON" is this list of JSON's kinds.
 */
export const ApiJsonValue = (options: { description?: string; required?: boolean } = {}): PropertyDecorator =>
  ApiProperty({
    ...options,
    // OpenAPI 3.0 has no null type: null is said by a typed member (a `nullable` beside no `type` is invalid).
    oneOf: [
      { type: 'string' },
      { type: 'number' },
      { type: 'boolean' },
      { type: 'object', additionalProperties: true, nullable: true },
      { type: 'array', items: {} },
    ],
  });

/** Every key once: a new status is a compile error here until it is listed. */
const BATCH_STATUS: Record<BatchStatus, true> = { pending: true, running: true, paused: true, completed: true, cancelled: true };
export const BATCH_STATUSES = Object.keys(BATCH_STATUS) as BatchStatus[];

/** How an execution shows to clients: an execution with an outcome is `triggered`, its outcome says how it ended. */
export type ExecutionStatus = 'pending' | 'triggered' | 'cancelled';
const EXECUTION_STATUSES: readonly ExecutionStatus[] = ['pending', 'triggered', 'cancelled'];

export class BatchProgress {
  @ApiProperty({ description: 'Executions in the batch (one per item).' })
  total!: number;
  @ApiProperty({ description: 'Not triggered yet.' })
  pending!: number;
  @ApiProperty({ description: 'Triggered, whether or not their outcome is known (completed and failed count here too).' })
  triggered!: number;
  @ApiProperty()
  cancelled!: number;
  @ApiProperty()
  completed!: number;
  @ApiProperty()
  failed!: number;
  @ApiProperty({ description: 'triggered / total, in percent, two decimals.', example: 33.33 })
  percent!: number;
}

/** An amount of money in a currency (the workflow version's `cost.currency`). */
export class Money {
  @ApiProperty({ example: 2.3 })
  readonly amount!: number;
  @ApiProperty({ example: 'USD' })
  readonly currency!: string;
}

export class BatchView {
  @ApiProperty({ example: 'bat_01jx5c3n8e7w6h2q9r4t5v6w7x' })
  id!: string;
  @ApiProperty()
  name!: string;
  @ApiProperty({ enum: BATCH_STATUSES })
  status!: BatchStatus;
  @ApiProperty()
  workflowId!: string;
  @ApiProperty()
  workflowVersion!: number;
  @ApiProperty({ format: 'date-time' })
  startAt!: string;
  @ApiProperty()
  maxConcurrent!: number;
  @ApiProperty()
  batchIntervalSeconds!: number;
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 100, description: 'Lower runs first.' })
  priority!: number;
  @ApiProperty({ type: String, nullable: true })
  defaultProfile!: string | null;
  @ApiProperty({ type: [String], nullable: true })
  profilePool!: string[] | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Any JSON values, with their types.' })
  metadata!: Record<string, unknown>;
  @ApiProperty({
    type: Number,
    nullable: true,
    minimum: 0,
    maximum: 100,
    description:
      'Failure tolerance: once at least 10 outcomes are in (since the last resume), more than this percentage of failures ' +
      'pauses the batch (actor `system`). Null: no limit.',
  })
  maxFailurePercent!: number | null;
  @ApiProperty({
    type: 'integer',
    nullable: true,
    minimum: 0,
    description: 'Failure tolerance: more than this many failures (since the last resume) pause the batch. Null: no limit.',
  })
  maxFailures!: number | null;
  @ApiProperty({
    enum: CATCH_UP_MODES,
    description:
      'Waves that fell due while the service could not fire them: `paced` re-plans the pending executions from the moment ' +
      'it is back (BatchReplanned in history), `burst` fires them all at once.',
  })
  catchUp!: CatchUp;
  @ApiProperty({ type: BatchProgress })
  progress!: BatchProgress;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the last pending execution is due; null while paused or when none is pending.',
  })
  estimatedCompletionAt!: string | null;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  startedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  pausedAt!: string | null;
  @ApiProperty({
    type: String,
    enum: ['workflow'],
    nullable: true,
    description:
      'What holds the batch: `workflow` while its workflow is held (`POST /v1/workflows/{id}/hold`), whatever the status; ' +
      'none of its executions is called meanwhile. Null when not held.',
  })
  heldBy!: HoldSource | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why it is held: the reason given to the hold. Null when not held.' })
  heldReason!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Since when it is held. Null when not held.' })
  heldAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  completedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  cancelledAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When every execution had an outcome or was cancelled (the `batch.settled` webhook); null until then.',
  })
  settledAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'While the target throttles the batch (it answered 429): when the first 429 of the episode let calls start again ' +
      '(its Retry-After, else an exponential backoff). The executor holds the calls of the workflow back, retries them when ' +
      'it allows, and a 429 uses up no attempt. Null when not throttled: from the first answer that is not a 429 ' +
      '(BatchThrottleLifted), and once the batch settles or is cancelled.',
  })
  throttledUntil!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'For a batch made by `POST /v1/batches/{id}/retry-failed`: the batch whose failed executions it re-runs.',
  })
  parentBatchId!: string | null;
  @ApiProperty({ type: [String], description: 'The batches that re-ran the failed executions of this one, oldest first.' })
  retries!: string[];
  @ApiProperty({
    type: Money,
    nullable: true,
    description:
      "(total - cancelled) * the workflow version's cost.perExecution, rounded to 6 decimals: what the batch costs if " +
      'every execution not cancelled runs. Null when the version declares no cost.',
  })
  estimatedCost!: Money | null;
  @ApiProperty({
    type: Money,
    nullable: true,
    description: "Executions triggered so far * the workflow version's cost.perExecution. Null when the version declares no cost.",
  })
  costSoFar!: Money | null;
}

export class ExecutionOutcome {
  @ApiProperty({ enum: ['completed', 'failed'] })
  status!: 'completed' | 'failed';
  @ApiJsonValue({ required: false, description: 'Completed: what the target answered (any JSON value).' })
  output?: unknown;
  @ApiPropertyOptional({ description: 'Failed: why.' })
  error?: string;
  @ApiPropertyOptional({ description: 'Failed: the HTTP status of the last call, when there was an answer.' })
  statusCode?: number;
  @ApiProperty({ format: 'date-time' })
  finishedAt!: string;
}

export class ExecutionView {
  @ApiProperty({ example: 'bat_01jx5c3n8e7w6h2q9r4t5v6w7x.0', description: '`<batchId>.<index>`.' })
  id!: string;
  @ApiProperty()
  batchId!: string;
  @ApiProperty({ description: '0-based position of the item in the batch.' })
  index!: number;
  @ApiProperty({ enum: EXECUTION_STATUSES, description: 'A triggered execution with an outcome has ended: see `outcome`.' })
  status!: ExecutionStatus;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  executeAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  triggeredAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When it was released to the executor (its wave triggered it; the same as triggeredAt). From then it waits in the ' +
      "executor's queue for a call slot: by batch priority, then in turns between batches, within its workflow's limits.",
  })
  queuedAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When the first call to the target started; calledAt - queuedAt is the wait in the queue. Null until then ' +
      '(and for executions called before this was recorded). Recorded a few milliseconds after the call starts, in groups.',
  })
  calledAt!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true })
  inputs!: Record<string, unknown>;
  @ApiProperty({ type: String, nullable: true })
  profile!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Any JSON values, with their types.' })
  metadata!: Record<string, unknown>;
  @ApiProperty({ description: 'Calls of the target made so far.' })
  attempts!: number;
  @ApiProperty({ type: String, nullable: true })
  lastError!: string | null;
  @ApiProperty({ type: ExecutionOutcome, nullable: true })
  outcome!: ExecutionOutcome | null;
}

export class HistoryEntry {
  @ApiProperty({ description: 'Position of the event in the store, as a decimal string.' })
  position!: string;
  @ApiProperty({ example: 'BatchPaused' })
  type!: string;
  @ApiProperty({ format: 'date-time' })
  occurredAt!: string;
  @ApiPropertyOptional()
  actor?: string;
  @ApiPropertyOptional()
  reason?: string;
  @ApiJsonValue({ description: 'The event data.' })
  data!: unknown;
}

/** The executions due in one span of time (one wave, or several when a batch has more than MAX_WAVE_POINTS). */
export class WaveView {
  @ApiProperty({ format: 'date-time', description: 'The start of the span: the due time of its first wave.' })
  executeAt!: string;
  @ApiProperty({ description: 'Executions planned in the span, whatever became of them.' })
  planned!: number;
  @ApiProperty({ description: 'Of those, still waiting for their time.' })
  pending!: number;
  @ApiProperty({ description: 'Of those, triggered: in flight, completed or failed.' })
  triggered!: number;
  @ApiProperty()
  completed!: number;
  @ApiProperty()
  failed!: number;
  @ApiProperty()
  cancelled!: number;
}

export class WavesView {
  @ApiProperty({ type: [WaveView], description: 'Oldest first; at most 500.' })
  items!: WaveView[];
  @ApiProperty({ description: 'The length of each span: the batch interval, or a multiple of it when the waves are grouped.' })
  bucketSeconds!: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * The page class of an item class, for the OpenAPI description: `class BatchPage extends PageOf(BatchView) {}`.
 * Every list of the API answers this one shape.
 */
export const PageOf = <T>(item: abstract new () => T): new () => Page<T> => {
  class PageOfItems implements Page<T> {
    @ApiProperty({ type: item, isArray: true })
    items!: T[];
    @ApiProperty({ type: String, nullable: true, description: 'Pass it as `cursor` for the next page; null on the last page.' })
    nextCursor!: string | null;
  }
  return PageOfItems;
};

export class BatchPage extends PageOf(BatchView) {}
export class ExecutionPage extends PageOf(ExecutionView) {}
export class HistoryPage extends PageOf(HistoryEntry) {}

/** Every status an execution can be in, its outcome if it has one (what results filter on). */
const RESULT_STATUSES: readonly ExecutionState[] = ['pending', 'triggered', 'completed', 'failed', 'cancelled'];

/** One execution as `GET /v1/batches/{id}/results` answers it (JSON and JSONL). */
export class ExecutionResult {
  @ApiProperty({ example: 'bat_01jx5c3n8e7w6h2q9r4t5v6w7x.0', description: '`<batchId>.<index>`.' })
  id!: string;
  @ApiProperty({ description: '0-based position of the item in the batch.' })
  index!: number;
  @ApiProperty({ enum: RESULT_STATUSES, description: 'The outcome when there is one, else the scheduled status.' })
  status!: ExecutionState;
  @ApiProperty({ type: 'object', additionalProperties: true })
  inputs!: Record<string, unknown>;
  @ApiProperty({ type: String, nullable: true })
  profile!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata!: Record<string, unknown>;
  @ApiProperty({ description: 'Calls of the target made so far.' })
  attempts!: number;
  @ApiJsonValue({ description: 'Completed: what the target answered (any JSON value); else null.' })
  output!: unknown;
  @ApiProperty({ type: String, nullable: true, description: 'Failed: why; else null.' })
  error!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  executeAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  triggeredAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the outcome arrived or the execution was cancelled.',
  })
  finishedAt!: string | null;
}
