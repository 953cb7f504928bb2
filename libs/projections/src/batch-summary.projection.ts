import { batchEvents, teamOfMetadata, type ReconfigurableSetting, type RegisteredEvent } from '@flotilla/domain';
import type { Recorded } from '@flotilla/event-store';
import type { Projection } from './projection';
import type { StateDb } from '@flotilla/state';
import { positionKey } from './batch-history.projection';

type CountDeltas = { pending: number; triggered: number; cancelled: number; completed: number; failed: number };
const zero = (): CountDeltas => ({ pending: 0, triggered: 0, cancelled: 0, completed: 0, failed: 0 });

/**
 * One row per batch: its settings, status, lifecycle times and progress counts. Per-execution
 * events only move counters; they are summed in memory and written once per transaction, so a
 * wave of a thousand executions costs one UPDATE, not a thousand.
 */
const summaryEvents = batchEvents.subset(
  'BatchCreated',
  'BatchStarted',
  'ExecutionTriggered',
  'ExecutionCompleted',
  'ExecutionFailed',
  'ExecutionCancelled',
  'ExecutionRescheduled',
  'BatchPaused',
  'BatchResumed',
  'BatchReconfigured',
  'BatchReplanned',
  'BatchHeld',
  'BatchReleased',
  'BatchCancelled',
  'BatchCompleted',
  'BatchSettled',
  'BatchRetried',
  'BatchThrottled',
  'BatchThrottleLifted',
);
type SummaryEvent = RegisteredEvent<typeof summaryEvents>;

/** The summary's column of each setting a reconfiguration may change. */
const SETTING_COLUMNS: readonly (readonly [ReconfigurableSetting, string])[] = [
  ['maxConcurrent', 'max_concurrent'],
  ['batchIntervalSeconds', 'batch_interval_seconds'],
  ['priority', 'priority'],
  ['maxFailurePercent', 'max_failure_percent'],
  ['maxFailures', 'max_failures'],
];

export class BatchSummaryProjection implements Projection<SummaryEvent> {
  readonly name = 'batch-summary';
  readonly version = 2;
  readonly tables = ['batches'] as const;
  readonly events = summaryEvents;
  private readonly deltas = new Map<string, CountDeltas>();

  reset(db: StateDb): void {
    db.run('DELETE FROM batches');
    this.deltas.clear();
  }

  apply(event: Recorded<SummaryEvent>, db: StateDb): void {
    const { batchId, occurredAt: at } = event.data;
    switch (event.type) {
      case 'BatchCreated': {
        const data = event.data;
        db.run(
          `INSERT OR IGNORE INTO batches (id, name, status, workflow_id, workflow_version, start_at, max_concurrent, batch_interval_seconds,
             default_profile, profile_pool, metadata, total, pending, created_at, created_position, plan_ends_at,
             max_failure_percent, max_failures, priority, parent_batch_id, catch_up, team)
           VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          batchId,
          data.name,
          data.workflowId,
          data.workflowVersion,
          data.startAt,
          data.maxConcurrent,
          data.batchIntervalSeconds,
          data.defaultProfile ?? null,
          data.profilePool ? JSON.stringify(data.profilePool) : null,
          JSON.stringify(data.metadata ?? {}),
          data.total,
          data.total,
          at,
          positionKey(event.position),
          data.planEndsAt ?? null,
          data.maxFailurePercent ?? null,
          data.maxFailures ?? null,
          data.priority,
          data.parentBatchId ?? null,
          data.catchUp,
          teamOfMetadata(event.metadata),
        );
        return;
      }
      case 'BatchStarted':
        return db.run(`UPDATE batches SET status = 'running', started_at = ? WHERE id = ?`, at, batchId);
      case 'BatchPaused':
        return db.run(`UPDATE batches SET status = 'paused', paused_at = ? WHERE id = ?`, at, batchId);
      case 'BatchResumed':
        return db.run(
          `UPDATE batches SET status = 'running', paused_at = NULL, plan = ?, plan_ends_at = ? WHERE id = ?`,
          event.data.plan,
          event.data.planEndsAt ?? null,
          batchId,
        );
      case 'BatchReplanned':
        return db.run(
          'UPDATE batches SET plan = ?, plan_ends_at = ? WHERE id = ?',
          event.data.plan,
          event.data.planEndsAt ?? null,
          batchId,
        );
      case 'BatchHeld':
        return db.run(
          'UPDATE batches SET held_by = ?, held_reason = ?, held_at = ? WHERE id = ?',
          event.data.by,
          event.data.reason,
          at,
          batchId,
        );
      case 'BatchReleased':
        return db.run(
          'UPDATE batches SET held_by = NULL, held_reason = NULL, held_at = NULL, plan = ?, plan_ends_at = ? WHERE id = ?',
          event.data.plan,
          event.data.planEndsAt ?? null,
          batchId,
        );
      case 'BatchReconfigured': {
        const { changes } = event.data;
        // Each changed setting to its column; a threshold changed to null is cleared.
        const columns: [string, number | null][] = [];
        for (const [field, column] of SETTING_COLUMNS) {
          const change = changes[field];
          if (change !== undefined) columns.push([column, change.to]);
        }
        return db.run(
          `UPDATE batches SET ${[...columns.map(([column]) => `${column} = ?`), 'plan = ?', 'plan_ends_at = ?'].join(', ')} WHERE id = ?`,
          ...columns.map(([, value]) => value),
          event.data.plan,
          event.data.planEndsAt ?? null,
          batchId,
        );
      }
      case 'ExecutionRescheduled':
        return db.run('UPDATE batches SET plan_ends_at = ? WHERE id = ?', event.data.planEndsAt ?? null, batchId);
      case 'BatchCompleted':
        return db.run(`UPDATE batches SET status = 'completed', completed_at = ? WHERE id = ?`, at, batchId);
      case 'BatchSettled':
        return db.run('UPDATE batches SET settled_at = ?, throttled_until = NULL WHERE id = ?', at, batchId);
      case 'BatchThrottled':
        return db.run('UPDATE batches SET throttled_until = ? WHERE id = ?', event.data.until, batchId);
      case 'BatchThrottleLifted':
        return db.run('UPDATE batches SET throttled_until = NULL WHERE id = ?', batchId);
      case 'BatchRetried':
        return db.run("UPDATE batches SET retries = json_insert(retries, '$[#]', ?) WHERE id = ?", event.data.retryBatchId, batchId);
      case 'BatchCancelled': {
        this.flushBatch(db, batchId);
        const cancelled = event.data.cancelledExecutions;
        return db.run(
          `UPDATE batches SET status = 'cancelled', cancelled_at = ?, throttled_until = NULL, pending = pending - ?,
             cancelled = cancelled + ? WHERE id = ?`,
          at,
          cancelled,
          cancelled,
          batchId,
        );
      }
      case 'ExecutionTriggered':
        return this.count(batchId, { pending: -1, triggered: 1 });
      case 'ExecutionCancelled':
        db.run('UPDATE batches SET plan_ends_at = ? WHERE id = ?', event.data.planEndsAt ?? null, batchId);
        return this.count(batchId, { pending: -1, cancelled: 1 });
      case 'ExecutionCompleted':
        return this.count(batchId, { completed: 1 });
      case 'ExecutionFailed':
        return this.count(batchId, { failed: 1 });
      default: {
        const unhandled: never = event;
        void unhandled;
      }
    }
  }

  flush(db: StateDb): void {
    for (const batchId of [...this.deltas.keys()]) this.flushBatch(db, batchId);
  }

  discard(): void {
    this.deltas.clear();
  }

  private count(batchId: string, delta: Partial<CountDeltas>): void {
    let deltas = this.deltas.get(batchId);
    if (deltas === undefined) this.deltas.set(batchId, (deltas = zero()));
    for (const [key, value] of Object.entries(delta) as [keyof CountDeltas, number][]) deltas[key] += value;
  }

  private flushBatch(db: StateDb, batchId: string): void {
    const deltas = this.deltas.get(batchId);
    if (deltas === undefined) return;
    this.deltas.delete(batchId);
    db.run(
      `UPDATE batches SET pending = pending + ?, triggered = triggered + ?, cancelled = cancelled + ?,
         completed = completed + ?, failed = failed + ?
       WHERE id = ?`,
      deltas.pending,
      deltas.triggered,
      deltas.cancelled,
      deltas.completed,
      deltas.failed,
      batchId,
    );
  }
}
