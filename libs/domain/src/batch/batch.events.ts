import type { SealedSecret } from '../shared/sealed-secret';
/**
 * The events of a batch, all on the stream `batch-<batchId>`.
 *
 * Every event names its batch and says when it happened (`occurredAt`, ISO 8601). Operator actions
 * (pause, resume, reconfigure, cancel, cancelling or rescheduling one execution) also say who
 * (`actor`) and why (`reason`, optional).
 *
 * Events that move the end of the plan carry `planEndsAt`, the time the last pending execution is
 * due, so a read model can show the estimated completion without recomputing the plan.
 *
 * Events are kept small and bounded whatever the size of the batch (see docs/adr/0001): the items'
 * inputs live in chunk events on their own stream (`batchitems-<batchId>`), and a batch-wide
 * operation (cancel, resume, reconfigure, catch-up) is one event that implies the change for every
 * pending execution rather than one event per execution.
 */

import type { ColumnMapping } from '../csv/mapping';
import type { CatchUp } from './catch-up';

/**
 * Metadata, of a batch or of one item: any JSON values under string keys, kept with their JSON types
 * on the way to the target, the webhooks and the exports (a CSV upload's metadata columns give strings).
 * Metadata was strings only before; those events read as they are, a string being a JSON value.
 */
export type Metadata = Readonly<Record<string, unknown>>;

export interface BatchSettings {
  readonly name: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  /** ISO 8601. */
  readonly startAt: string;
  /** Executions triggered per wave. */
  readonly maxConcurrent: number;
  /** Seconds between the start of consecutive waves. */
  readonly batchIntervalSeconds: number;
  /**
   * 1 to 100, lower runs first (as in the Extend API). Default 50; batches created before it existed
   * read as 50. The executor does not order its calls by it yet.
   */
  readonly priority: number;
  readonly defaultProfile?: string;
  readonly profilePool?: readonly string[];
  readonly metadata: Metadata;
  /**
   * Failure tolerance: once at least 10 outcomes are in, more than this percentage of them failed
   * pauses the batch (counted since the last resume). Absent: no limit on the share.
   */
  readonly maxFailurePercent?: number;
  /** Failure tolerance: more than this many failed executions (since the last resume) pause the batch. Absent: no limit. */
  readonly maxFailures?: number;
  /**
   * What happens to waves that fell due while nothing could fire them: `paced` re-plans the pending
   * executions from the moment the service is back (BatchReplanned), `burst` fires them all at once.
   * Batches created before it existed read as `paced`.
   */
  readonly catchUp: CatchUp;
}

/**
 * The settings `PATCH /v1/batches/{id}` may change on a pending, running or paused batch. The
 * failure tolerance thresholds may be removed (null).
 */
export interface BatchSettingsChange {
  readonly maxConcurrent?: number;
  readonly batchIntervalSeconds?: number;
  readonly priority?: number;
  readonly maxFailurePercent?: number | null;
  readonly maxFailures?: number | null;
}

export type ReconfigurableSetting = keyof BatchSettingsChange;

/** One setting's value before and after a change; null for a failure threshold that is (or was) not set. */
export interface SettingChange<T> {
  readonly from: T;
  readonly to: T;
}

/** The settings a reconfiguration changed, each with its old and new value; a setting given with its current value is left out. */
export type BatchSettingChanges = { readonly [K in ReconfigurableSetting]?: SettingChange<Exclude<BatchSettingsChange[K], undefined>> };

/** Where the items of a batch are: chunk events on their own stream, the i-th chunk starting at `chunkStarts[i]`. */
export interface ItemsLocation {
  readonly stream: string;
  /** The index of the first item of each chunk, in stream order; chunk k is the event at revision k. */
  readonly chunkStarts: readonly number[];
}

/**
 * How the items of a batch were given, when that shapes what comes back out: for a CSV upload, its
 * mapped columns (skipped ones left out) in their original order, so an export can answer under
 * the original headers and the file can be uploaded again with the same mapping.
 */
export type BatchSource = {
  readonly kind: 'csv';
  readonly columns: readonly { readonly header: string; readonly mapping: Exclude<ColumnMapping, { type: 'skip' }> }[];
};

export type BatchCreated = {
  readonly type: 'BatchCreated';
  readonly data: BatchSettings & {
    readonly batchId: string;
    readonly total: number;
    readonly items: ItemsLocation;
    /** Absent for JSON batches and for batches created before it was recorded. */
    readonly source?: BatchSource;
    /** For a batch that re-runs the failed executions of another: that batch (which records BatchRetried). */
    readonly parentBatchId?: string;
    /** When the last execution is due under this plan. */
    readonly planEndsAt: string;
    readonly occurredAt: string;
    readonly actor: string;
    readonly reason?: string;
  };
};

/** The start time was reached (or had passed at creation): the batch is running. */
export type BatchStarted = {
  readonly type: 'BatchStarted';
  readonly data: { readonly batchId: string; readonly occurredAt: string };
};

/**
 * The due time of a wave arrived. The scheduler records it; the executor answers it by triggering
 * every pending execution whose time has come. `wave` counts from 0 within the current plan
 * (`plan` increases at every new plan: a resume, a reconfiguration of the waves, a catch-up) and
 * is null when only individually rescheduled executions fall due; `dueAt` is the wave's scheduled
 * time.
 */
export type WaveDue = {
  readonly type: 'WaveDue';
  readonly data: {
    readonly batchId: string;
    readonly plan: number;
    readonly wave: number | null;
    readonly dueAt: string;
    readonly occurredAt: string;
  };
};

export type ExecutionTriggered = {
  readonly type: 'ExecutionTriggered';
  readonly data: {
    readonly batchId: string;
    readonly executionId: string;
    readonly index: number;
    /** When it was scheduled to run; `occurredAt - executeAt` is the lateness. */
    readonly executeAt: string;
    readonly occurredAt: string;
  };
};

/**
 * The executor started the first call of these triggered executions (they got a call slot): the
 * time between `ExecutionTriggered` and this is the wait in the executor's queue. Recorded in groups,
 * through the same per-batch group commit as the outcomes, so it lands before their outcomes; `at`
 * is the earliest start of the group (a group spans a few milliseconds).
 */
export type ExecutionCallsStarted = {
  readonly type: 'ExecutionCallsStarted';
  readonly data: {
    readonly batchId: string;
    readonly indexes: readonly number[];
    readonly at: string;
    readonly occurredAt: string;
  };
};

/** An async target accepted the execution; its outcome will arrive on the callback. */
export type ExecutionAccepted = {
  readonly type: 'ExecutionAccepted';
  readonly data: {
    readonly batchId: string;
    readonly executionId: string;
    readonly index: number;
    readonly attempt: number;
    /** When the callback is due at the latest; past it the execution fails (the scheduler keeps that timer). */
    readonly deadline?: string;
    readonly occurredAt: string;
  };
};

/** One attempt failed and another will be made at `retryAt`. */
export type ExecutionAttemptFailed = {
  readonly type: 'ExecutionAttemptFailed';
  readonly data: {
    readonly batchId: string;
    readonly executionId: string;
    readonly index: number;
    readonly attempt: number;
    readonly error: string;
    readonly statusCode?: number;
    readonly retryAt: string;
    readonly occurredAt: string;
  };
};

export type ExecutionCompleted = {
  readonly type: 'ExecutionCompleted';
  readonly data: {
    readonly batchId: string;
    readonly executionId: string;
    readonly index: number;
    readonly output: unknown;
    readonly attempts: number;
    readonly occurredAt: string;
  };
};

export type ExecutionFailed = {
  readonly type: 'ExecutionFailed';
  readonly data: {
    readonly batchId: string;
    readonly executionId: string;
    readonly index: number;
    readonly error: string;
    readonly statusCode?: number;
    readonly attempts: number;
    readonly occurredAt: string;
  };
};

export type ExecutionCancelled = {
  readonly type: 'ExecutionCancelled';
  readonly data: {
    readonly batchId: string;
    readonly executionId: string;
    readonly index: number;
    /** When the last pending execution is due, after this change. */
    readonly planEndsAt: string | null;
    readonly occurredAt: string;
    readonly actor: string;
    readonly reason?: string;
  };
};

export type ExecutionRescheduled = {
  readonly type: 'ExecutionRescheduled';
  readonly data: {
    readonly batchId: string;
    readonly executionId: string;
    readonly index: number;
    readonly executeAt: string;
    readonly previousExecuteAt: string;
    /** When the last pending execution is due, after this change. */
    readonly planEndsAt: string | null;
    readonly occurredAt: string;
    readonly actor: string;
    readonly reason?: string;
  };
};

export type BatchPaused = {
  readonly type: 'BatchPaused';
  readonly data: { readonly batchId: string; readonly occurredAt: string; readonly actor: string; readonly reason?: string };
};

/**
 * The batch runs again. Implies a new plan (number `plan`): the still-pending executions, in their
 * original order, are rescheduled from `occurredAt` with the wave formula.
 */
export type BatchResumed = {
  readonly type: 'BatchResumed';
  readonly data: {
    readonly batchId: string;
    readonly plan: number;
    readonly pending: number;
    /** When the last pending execution is due under the new plan. */
    readonly planEndsAt: string | null;
    readonly occurredAt: string;
    readonly actor: string;
    readonly reason?: string;
  };
};

/**
 * The batch's settings were changed (`changes`: each changed setting's old and new value). When the
 * wave figures (maxConcurrent, batchIntervalSeconds) of a running or pending batch changed, this
 * implies a new plan (number `plan`): the still-pending executions, in their original order, are
 * rescheduled with the wave formula from `planStartsAt` (the change's time for a running batch, so
 * the first new wave is due at once; the start time for a pending one). Otherwise `planStartsAt` is
 * null and the executions keep their times: a paused batch stores the new figures for its resume,
 * and priority and the failure thresholds move no execution.
 */
export type BatchReconfigured = {
  readonly type: 'BatchReconfigured';
  readonly data: {
    readonly batchId: string;
    readonly changes: BatchSettingChanges;
    /** The plan in force after the change: one more than before when a new plan was made. */
    readonly plan: number;
    /** Where the new plan starts; null when no new plan was made. */
    readonly planStartsAt: string | null;
    readonly pending: number;
    /** When the last pending execution is due after the change. */
    readonly planEndsAt: string | null;
    readonly occurredAt: string;
    readonly actor: string;
    readonly reason?: string;
  };
};

/**
 * A paced batch found its due waves later than the catch-up grace (after a restart, a broker outage,
 * a lagging executor) and, instead of firing them at once, made a new plan (number `plan`) exactly as
 * a resume does: the still-pending executions, in their original order, from `occurredAt` with the
 * wave formula. Decided by the service that found the lateness: actor `system`, reason
 * `catch-up after downtime`.
 */
export type BatchReplanned = {
  readonly type: 'BatchReplanned';
  readonly data: {
    readonly batchId: string;
    readonly plan: number;
    readonly pending: number;
    /** When the last pending execution is due under the new plan. */
    readonly planEndsAt: string | null;
    readonly reason: string;
    readonly occurredAt: string;
    readonly actor: string;
  };
};

/** What holds a batch: only its workflow's hold, so far (`POST /v1/workflows/{id}/hold`). */
export type HoldSource = 'workflow';

/**
 * None of the batch's executions is called until BatchReleased: no wave is declared or triggered,
 * and the executor keeps the executions already triggered out of the call slots (calls in flight
 * finish). Independent of pause: a held batch may be paused, resumed, reconfigured or cancelled.
 */
export type BatchHeld = {
  readonly type: 'BatchHeld';
  readonly data: {
    readonly batchId: string;
    readonly by: HoldSource;
    readonly reason: string;
    readonly occurredAt: string;
    readonly actor: string;
  };
};

/**
 * The hold ends. A running batch starts a new plan (number `plan`) from `occurredAt`, as a resume
 * does: the still-pending executions, in their original order, by the wave formula (`planStartsAt`
 * is then `occurredAt`). A pending batch keeps its plan from its start time, and a paused one stays
 * paused (its resume re-plans): `planStartsAt` is null and the plan number unchanged.
 */
export type BatchReleased = {
  readonly type: 'BatchReleased';
  readonly data: {
    readonly batchId: string;
    readonly reason: string;
    readonly plan: number;
    readonly planStartsAt: string | null;
    readonly pending: number;
    readonly planEndsAt: string | null;
    readonly occurredAt: string;
    readonly actor: string;
  };
};

/** Final. Implies that every execution still pending is cancelled (`cancelledExecutions` of them). */
export type BatchCancelled = {
  readonly type: 'BatchCancelled';
  readonly data: {
    readonly batchId: string;
    readonly cancelledExecutions: number;
    readonly occurredAt: string;
    readonly actor: string;
    readonly reason?: string;
  };
};

/** Every execution has been triggered or cancelled. Outcomes of triggered executions may still arrive. */
export type BatchCompleted = {
  readonly type: 'BatchCompleted';
  readonly data: {
    readonly batchId: string;
    readonly triggered: number;
    readonly cancelled: number;
    readonly occurredAt: string;
  };
};

/**
 * Every execution has an outcome or is cancelled: nothing more will happen to the batch's executions.
 * Recorded once, in the decision that records the last outcome (or the cancel that leaves nothing
 * awaiting one). `completed + failed + cancelled = total`.
 */
export type BatchSettled = {
  readonly type: 'BatchSettled';
  readonly data: {
    readonly batchId: string;
    readonly total: number;
    readonly completed: number;
    readonly failed: number;
    readonly cancelled: number;
    readonly occurredAt: string;
  };
};

/**
 * The failed executions of this batch so far (`executions` of them, in index order) are re-run by a
 * new batch, `retryBatchId`, whose BatchCreated names this one as its parent. This batch's own
 * executions keep their outcomes.
 */
export type BatchRetried = {
  readonly type: 'BatchRetried';
  readonly data: {
    readonly batchId: string;
    readonly retryBatchId: string;
    readonly executions: number;
    readonly occurredAt: string;
    readonly actor: string;
    readonly reason?: string;
  };
};

/**
 * A target started answering the batch's calls with 429: the executor holds back the calls of the
 * batch's workflow, none before `until` (the target's Retry-After, else an exponential backoff), and
 * 429s no longer fail executions (up to the workflow version's `retry.maxThrottleSeconds`). Recorded
 * once per episode: the 429s that follow while it lasts are not recorded, and `until` stays the
 * first one's. `workflowId` names the workflow whose calls are held back. Actor `executor`.
 */
export type BatchThrottled = {
  readonly type: 'BatchThrottled';
  readonly data: {
    readonly batchId: string;
    readonly until: string;
    readonly workflowId?: string;
    readonly occurredAt: string;
  };
};

/** The episode a BatchThrottled opened is over: a call of the batch got an answer other than 429. */
export type BatchThrottleLifted = {
  readonly type: 'BatchThrottleLifted';
  readonly data: { readonly batchId: string; readonly occurredAt: string };
};

export type BatchEvent =
  | BatchCreated
  | BatchStarted
  | WaveDue
  | ExecutionTriggered
  | ExecutionCallsStarted
  | ExecutionAccepted
  | ExecutionAttemptFailed
  | ExecutionCompleted
  | ExecutionFailed
  | ExecutionCancelled
  | ExecutionRescheduled
  | BatchPaused
  | BatchResumed
  | BatchReconfigured
  | BatchReplanned
  | BatchHeld
  | BatchReleased
  | BatchCancelled
  | BatchCompleted
  | BatchSettled
  | BatchRetried
  | BatchThrottled
  | BatchThrottleLifted;

export type BatchEventType = BatchEvent['type'];

/** One item of a batch: the inputs for one execution, with its profile and metadata resolved. */
export interface BatchItem {
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly profile?: string;
  readonly metadata?: Metadata;
  /**
   * The item's secrets (Extend's `secrets` of a workflow run), sealed: the JSON of the object under
   * the deployment's secrets key. Only the executor opens them, to send them to the target; no read
   * model copies them.
   */
  readonly secrets?: SealedSecret;
}

/** A chunk of a batch's items, on the stream `batchitems-<batchId>`; bounded in count and bytes. */
export type BatchItemsChunkRecorded = {
  readonly type: 'BatchItemsChunkRecorded';
  readonly data: { readonly batchId: string; readonly fromIndex: number; readonly items: readonly BatchItem[] };
};

/**
 * The last event of an items stream whose batch was never created: its intake failed (an invalid
 * row, a limit, a client gone) after some chunks were written. Those chunks belong to no batch, and
 * the read models drop the rows they made. `reason` is the failure's kind (the error's name), never
 * its message, which may quote an input.
 */
export type BatchItemsDiscarded = {
  readonly type: 'BatchItemsDiscarded';
  readonly data: { readonly batchId: string; readonly reason: string; readonly occurredAt: string };
};
