import { batchEvents, batchItemsEvents, type RegisteredEvent } from '@flotilla/domain';
import type { Recorded } from '@flotilla/event-store';
import { type Projection, isoToMs } from './projection';
import type { StateDb } from '@flotilla/state';

/** Rows per INSERT statement when copying an items chunk: one statement per row cost more than the insert itself. */
const ROWS_PER_INSERT = 100;

/**
 * The executions of each batch. Items chunks land in `execution_items` (inputs, profile,
 * metadata) as they arrive; `BatchCreated` then creates every `executions` row (state, schedule,
 * attempts, outcome) with one INSERT ... SELECT, so items of a batch whose creation never finished
 * stay invisible and no row is written twice. `state` is the domain's execution state (pending,
 * triggered, cancelled, completed, failed) so it can be filtered on directly.
 *
 * Batch-wide events are set operations: a cancel cancels every pending row in one UPDATE; a new
 * plan (a resume, a reconfiguration of the waves, a catch-up) re-plans them with the wave formula
 * in SQL, in original order, with the figures `execution_plans` holds for the batch.
 */
const executionsEvents = batchItemsEvents.with(
  batchEvents.subset(
    'BatchCreated',
    'ExecutionTriggered',
    'ExecutionCallsStarted',
    'ExecutionAccepted',
    'ExecutionAttemptFailed',
    'ExecutionCompleted',
    'ExecutionFailed',
    'ExecutionCancelled',
    'ExecutionRescheduled',
    'BatchResumed',
    'BatchReconfigured',
    'BatchReplanned',
    'BatchCancelled',
  ),
);
type ExecutionsEvent = RegisteredEvent<typeof executionsEvents>;

export class BatchExecutionsProjection implements Projection<ExecutionsEvent> {
  readonly name = 'batch-executions';
  readonly version = 2;
  readonly tables = ['execution_items', 'executions', 'execution_plans'] as const;
  readonly events = executionsEvents;

  reset(db: StateDb): void {
    db.run('DELETE FROM execution_items');
    db.run('DELETE FROM executions');
    db.run('DELETE FROM execution_plans');
  }

  apply(event: Recorded<ExecutionsEvent>, db: StateDb): void {
    const batchId = event.data.batchId;
    switch (event.type) {
      case 'BatchItemsChunkRecorded': {
        const { fromIndex, items } = event.data;
        for (let from = 0; from < items.length; from += ROWS_PER_INSERT) {
          const rows = items.slice(from, from + ROWS_PER_INSERT);
          const values: (string | number | null)[] = [];
          rows.forEach((item, offset) =>
            values.push(
              batchId,
              fromIndex + from + offset,
              JSON.stringify(item.inputs),
              item.profile ?? null,
              JSON.stringify(item.metadata ?? {}),
            ),
          );
          db.run(
            `INSERT OR IGNORE INTO execution_items (batch_id, idx, inputs, profile, metadata) VALUES ` +
              `${rows.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
            ...values,
          );
        }
        return;
      }
      case 'BatchCreated': {
        // node:sqlite binds JS numbers as REAL: CAST keeps the wave number an integer division.
        const data = event.data;
        const intervalMs = Math.round(data.batchIntervalSeconds * 1000);
        db.run(
          'INSERT OR REPLACE INTO execution_plans (batch_id, max_concurrent, interval_ms, source) VALUES (?, ?, ?, ?)',
          batchId,
          data.maxConcurrent,
          intervalMs,
          data.source === undefined ? null : JSON.stringify(data.source),
        );
        db.run(
          `INSERT OR IGNORE INTO executions (batch_id, idx, state, execute_at)
           SELECT batch_id, idx, 'pending', ? + (idx / CAST(? AS INTEGER)) * ? FROM execution_items WHERE batch_id = ?`,
          isoToMs(data.startAt),
          data.maxConcurrent,
          intervalMs,
          batchId,
        );
        return;
      }
      case 'ExecutionTriggered':
        return db.run(
          `UPDATE executions SET state = 'triggered', triggered_at = ?, attempts = 1 WHERE batch_id = ? AND idx = ?`,
          event.data.occurredAt,
          batchId,
          event.data.index,
        );
      case 'ExecutionCallsStarted': {
        // The earliest start is kept: a redelivered execution's first call (after a restart) is not its first.
        const { indexes, at } = event.data;
        for (let from = 0; from < indexes.length; from += ROWS_PER_INSERT) {
          const some = indexes.slice(from, from + ROWS_PER_INSERT);
          db.run(
            `UPDATE executions SET called_at = COALESCE(called_at, ?) WHERE batch_id = ? AND idx IN (${some.map(() => '?').join(', ')})`,
            at,
            batchId,
            ...some,
          );
        }
        return;
      }
      case 'ExecutionAccepted':
        return db.run('UPDATE executions SET attempts = ? WHERE batch_id = ? AND idx = ?', event.data.attempt, batchId, event.data.index);
      case 'ExecutionAttemptFailed':
        return db.run(
          'UPDATE executions SET attempts = ?, last_error = ? WHERE batch_id = ? AND idx = ?',
          event.data.attempt + 1,
          event.data.error,
          batchId,
          event.data.index,
        );
      case 'ExecutionCompleted':
        return db.run(
          `UPDATE executions SET state = 'completed', output = ?, attempts = ?, finished_at = ? WHERE batch_id = ? AND idx = ?`,
          JSON.stringify(event.data.output ?? null),
          event.data.attempts,
          event.data.occurredAt,
          batchId,
          event.data.index,
        );
      case 'ExecutionFailed':
        return db.run(
          `UPDATE executions SET state = 'failed', error = ?, status_code = ?, attempts = ?, finished_at ` +
            `= ? WHERE batch_id = ? AND idx = ?`,
          event.data.error,
          event.data.statusCode ?? null,
          event.data.attempts,
          event.data.occurredAt,
          batchId,
          event.data.index,
        );
      case 'ExecutionCancelled':
        return db.run(
          `UPDATE executions SET state = 'cancelled', cancelled_at = ? WHERE batch_id = ? AND idx = ?`,
          event.data.occurredAt,
          batchId,
          event.data.index,
        );
      case 'ExecutionRescheduled':
        return db.run(
          'UPDATE executions SET execute_at = ? WHERE batch_id = ? AND idx = ?',
          isoToMs(event.data.executeAt),
          batchId,
          event.data.index,
        );
      case 'BatchCancelled':
        return db.run(
          `UPDATE executions SET state = 'cancelled', cancelled_at = ? WHERE batch_id = ? AND state = 'pending'`,
          event.data.occurredAt,
          batchId,
        );
      case 'BatchResumed':
      case 'BatchReplanned':
        return replan(db, batchId, isoToMs(event.data.occurredAt));
      case 'BatchReconfigured': {
        // The figures are kept whatever the status: a paused batch's resume plans with them.
        const { maxConcurrent, batchIntervalSeconds } = event.data.changes;
        if (maxConcurrent !== undefined)
          db.run('UPDATE execution_plans SET max_concurrent = ? WHERE batch_id = ?', maxConcurrent.to, batchId);
        if (batchIntervalSeconds !== undefined)
          db.run('UPDATE execution_plans SET interval_ms = ? WHERE batch_id = ?', Math.round(batchIntervalSeconds.to * 1000), batchId);
        if (event.data.planStartsAt !== null) replan(db, batchId, isoToMs(event.data.planStartsAt));
        return;
      }
      default: {
        const unhandled: never = event;
        void unhandled;
      }
    }
  }
}

/**
 * A new plan of a batch's pending executions from `anchorMs`: the j-th of them in index order runs at
 * anchor + floor(j / maxConcurrent) * interval, with the batch's current figures. The one SQL of it,
 * for every event that starts a plan.
 */
const replan = (db: StateDb, batchId: string, anchorMs: number | null): void => {
  const plan = db.get<{ max_concurrent: number; interval_ms: number }>(
    'SELECT max_concurrent, interval_ms FROM execution_plans WHERE batch_id = ?',
    batchId,
  );
  if (plan === undefined) return;
  db.run(
    `WITH ranked AS (
       SELECT idx, row_number() OVER (ORDER BY idx) - 1 AS rank FROM executions WHERE batch_id = ? AND state = 'pending'
     )
     UPDATE executions SET execute_at = ? + (ranked.rank / CAST(? AS INTEGER)) * ?
     FROM ranked WHERE executions.batch_id = ? AND executions.idx = ranked.idx`,
    batchId,
    anchorMs,
    plan.max_concurrent,
    plan.interval_ms,
    batchId,
  );
};
