import { DEFAULT_CATCH_UP } from './catch-up';
import { DEFAULT_BATCH_PRIORITY } from './priority';
import type { BatchEvent, BatchSettingChanges, HoldSource, BatchSettings, BatchSource, ItemsLocation } from './batch.events';
import { ExecutionTable, type ExecutionTableSnapshot } from './execution-table';

export type BatchStatus = 'pending' | 'running' | 'paused' | 'completed' | 'cancelled';

/**
 * Counts over the executions of a batch. `pending + triggered + cancelled = total`;
 * `completed` and `failed` count the outcomes of triggered executions.
 */
export interface ExecutionCounts {
  total: number;
  pending: number;
  triggered: number;
  cancelled: number;
  completed: number;
  failed: number;
}

export interface Batch {
  readonly status: BatchStatus;
  readonly id: string;
  readonly settings: BatchSettings;
  readonly items: ItemsLocation;
  /** How the items were given, when that shapes the exports (a CSV upload's columns). */
  readonly source?: BatchSource;
  /** The batch whose failed executions this one re-runs. */
  readonly parentBatchId?: string;
  readonly createdAt: string;
  readonly startedAt: string | null;
  /** When it completed or was cancelled. */
  readonly endedAt: string | null;
  /** Plan number: 0 from the start time, +1 at every new plan (resume, reconfiguration of the waves, catch-up). */
  readonly plan: number;
  /** Wave due times up to this one (ms) have been declared in the current plan. */
  readonly declaredThroughMs: number;
  readonly counts: Readonly<ExecutionCounts>;
  /**
   * The outcomes recorded before the last resume: failure tolerance counts only the outcomes after
   * it, so a resume lets the batch go on (docs/events.md, "Failure tolerance").
   */
  readonly outcomesBeforeResume: { readonly completed: number; readonly failed: number };
  /** Whether the batch was ever resumed: failure tolerance then counts "since the last resume". */
  readonly resumed: boolean;
  /** When every execution had an outcome or was cancelled (BatchSettled). */
  readonly settledAt: string | null;
  /** Set from BatchHeld to BatchReleased: no execution of the batch is called meanwhile, whatever its status. */
  readonly held: BatchHold | null;
  /** While a throttling episode is open (BatchThrottled, until BatchThrottleLifted): its `until`; else null. */
  readonly throttledUntil: string | null;
  readonly executions: ExecutionTable;
}

export interface BatchHold {
  readonly by: HoldSource;
  readonly reason: string;
  readonly since: string;
}

export type BatchState = { readonly status: 'initial' } | Batch;

export const initialBatchState = (): BatchState => ({ status: 'initial' });

export const isBatch = (state: BatchState): state is Batch => state.status !== 'initial';

const ms = (iso: string): number => Date.parse(iso);

/**
 * Folds one event into the state of its batch. Unknown events leave the state as it is.
 *
 * The execution table inside the state is updated in place (see `ExecutionTable`): treat the state
 * passed in as consumed and keep the one returned.
 */
export const evolve = (state: BatchState, event: BatchEvent): BatchState => {
  if (event.type === 'BatchCreated') {
    // What is not a setting stays out of `settings`, so settings can be carried into another batch as they are.
    const {
      batchId,
      total,
      items,
      source,
      parentBatchId,
      planEndsAt: _planEnd,
      occurredAt,
      actor: _actor,
      reason: _reason,
      ...settings
    } = event.data;
    return {
      status: 'pending',
      id: batchId,
      settings,
      items,
      ...(source === undefined ? {} : { source }),
      ...(parentBatchId === undefined ? {} : { parentBatchId }),
      createdAt: occurredAt,
      startedAt: null,
      endedAt: null,
      plan: 0,
      declaredThroughMs: Number.NEGATIVE_INFINITY,
      counts: { total, pending: total, triggered: 0, cancelled: 0, completed: 0, failed: 0 },
      outcomesBeforeResume: { completed: 0, failed: 0 },
      resumed: false,
      settledAt: null,
      held: null,
      throttledUntil: null,
      executions: new ExecutionTable(total, ms(settings.startAt), settings),
    };
  }
  if (!isBatch(state)) return state;
  const counts = state.counts as ExecutionCounts;
  switch (event.type) {
    case 'BatchStarted':
      return { ...state, status: 'running', startedAt: event.data.occurredAt };
    case 'WaveDue':
      return { ...state, declaredThroughMs: Math.max(state.declaredThroughMs, ms(event.data.dueAt)) };
    case 'ExecutionTriggered':
      if (!state.executions.isPending(event.data.index)) return state;
      state.executions.markTriggered(event.data.index);
      counts.pending--;
      counts.triggered++;
      return state;
    case 'ExecutionCompleted':
    case 'ExecutionFailed': {
      const current = state.executions.stateOf(event.data.index);
      if (current !== 'triggered') return state;
      const outcome = event.type === 'ExecutionCompleted' ? 'completed' : 'failed';
      state.executions.markOutcome(event.data.index, outcome);
      counts[outcome]++;
      return state;
    }
    case 'ExecutionCancelled':
      if (!state.executions.isPending(event.data.index)) return state;
      state.executions.markCancelled(event.data.index);
      counts.pending--;
      counts.cancelled++;
      return state;
    case 'ExecutionRescheduled':
      state.executions.reschedule(event.data.index, ms(event.data.executeAt));
      return state;
    case 'BatchPaused':
      return { ...state, status: 'paused' };
    case 'BatchResumed':
      return {
        ...newPlan(state, event.data.plan, ms(event.data.occurredAt), state.settings),
        status: 'running',
        outcomesBeforeResume: { completed: counts.completed, failed: counts.failed },
        resumed: true,
      };
    case 'BatchReplanned':
      return newPlan(state, event.data.plan, ms(event.data.occurredAt), state.settings);
    case 'BatchReconfigured': {
      const settings = reconfigured(state.settings, event.data.changes);
      const { planStartsAt } = event.data;
      return planStartsAt === null ? { ...state, settings } : newPlan(state, event.data.plan, ms(planStartsAt), settings);
    }
    case 'BatchHeld':
      return { ...state, held: { by: event.data.by, reason: event.data.reason, since: event.data.occurredAt } };
    case 'BatchReleased': {
      const { planStartsAt } = event.data;
      const released = { ...state, held: null };
      return planStartsAt === null ? released : newPlan(released, event.data.plan, ms(planStartsAt), state.settings);
    }
    case 'BatchCancelled': {
      const cancelled = state.executions.cancelAllPending();
      counts.pending -= cancelled;
      counts.cancelled += cancelled;
      return { ...state, status: 'cancelled', endedAt: event.data.occurredAt, throttledUntil: null };
    }
    case 'BatchCompleted':
      return { ...state, status: 'completed', endedAt: event.data.occurredAt };
    case 'BatchSettled':
      // Nothing is called any more: an episode still open ends with the batch.
      return { ...state, settledAt: event.data.occurredAt, throttledUntil: null };
    case 'BatchRetried':
      return state;
    case 'BatchThrottled':
      return { ...state, throttledUntil: event.data.until };
    case 'BatchThrottleLifted':
      return { ...state, throttledUntil: null };
    case 'ExecutionAttemptFailed':
      state.executions.recordFailedAttempt(event.data.index, event.data.attempt);
      return state;
    case 'ExecutionCallsStarted':
      // For the read side (calledAt): no decision depends on it.
      return state;
    case 'ExecutionAccepted':
      state.executions.markAccepted(event.data.index, event.data.attempt);
      return state;
    default: {
      const unknownEvent: never = event;
      void unknownEvent;
      return state;
    }
  }
};

/**
 * The one way a batch starts a new plan (resume, reconfiguration of the waves, catch-up): the
 * still-pending executions, in their original order, from `anchorMs` with the figures of `settings`,
 * and no wave of it declared yet.
 */
const newPlan = (state: Batch, plan: number, anchorMs: number, settings: BatchSettings): Batch => {
  state.executions.replan(anchorMs, settings);
  return { ...state, settings, plan, declaredThroughMs: Number.NEGATIVE_INFINITY };
};

/** The settings with a reconfiguration's changes applied; a failure threshold changed to null is removed. */
export const reconfigured = (settings: BatchSettings, changes: BatchSettingChanges): BatchSettings => {
  const next: Record<string, unknown> = { ...settings };
  for (const [key, change] of Object.entries(changes) as [string, { to: unknown } | undefined][]) {
    if (change === undefined) continue;
    if (change.to === null) delete next[key];
    else next[key] = change.to;
  }
  return next as unknown as BatchSettings;
};

/** Progress as the batch card shows it. `percent` is triggered / total, 0..100 with two decimals. */
export interface BatchProgress extends ExecutionCounts {
  readonly percent: number;
}

export const progressOf = (counts: Readonly<ExecutionCounts>): BatchProgress => ({
  ...counts,
  percent: counts.total === 0 ? 0 : Math.round((counts.triggered / counts.total) * 10000) / 100,
});

/** When the last pending execution is due; null while paused or when nothing is pending. */
export const estimatedCompletionOf = (batch: Batch): string | null => {
  if (batch.status === 'paused' || batch.status === 'completed' || batch.status === 'cancelled') return null;
  const last = batch.executions.lastExecuteAt();
  return last === null ? null : new Date(last).toISOString();
};

/** A batch's state as plain data, for snapshots: the execution table as typed arrays, the rest as is. */
export type BatchSnapshot = Omit<Batch, 'executions' | 'outcomesBeforeResume' | 'settledAt' | 'resumed' | 'held' | 'throttledUntil'> & {
  // Optional: snapshots taken before holds existed lack it (and were not held).
  readonly held?: BatchHold | null;
  readonly executions: ExecutionTableSnapshot;
  // Optional: snapshots taken before failure tolerance, the settled signal and reconfiguration lack them.
  readonly outcomesBeforeResume?: Batch['outcomesBeforeResume'];
  readonly settledAt?: string | null;
  readonly resumed?: boolean;
  // Snapshots taken before throttling was recorded lack it: no episode was open then.
  readonly throttledUntil?: string | null;
};

export const toBatchSnapshot = (batch: Batch): BatchSnapshot => ({
  ...batch,
  counts: { ...batch.counts },
  executions: batch.executions.toSnapshot(),
});

export const fromBatchSnapshot = (snapshot: BatchSnapshot): Batch => ({
  ...snapshot,
  // Snapshots taken before priority and catchUp existed hold settings without them.
  settings: {
    ...snapshot.settings,
    priority: snapshot.settings.priority ?? DEFAULT_BATCH_PRIORITY,
    catchUp: snapshot.settings.catchUp ?? DEFAULT_CATCH_UP,
  },
  outcomesBeforeResume: snapshot.outcomesBeforeResume ?? { completed: 0, failed: 0 },
  // Before reconfiguration and catch-up, only a resume made a new plan.
  resumed: snapshot.resumed ?? snapshot.plan > 0,
  settledAt: snapshot.settledAt ?? null,
  held: snapshot.held ?? null,
  throttledUntil: snapshot.throttledUntil ?? null,
  counts: { ...snapshot.counts },
  executions: ExecutionTable.fromSnapshot(snapshot.executions, snapshot.settings),
});
