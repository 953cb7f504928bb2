import { batchEvents, batchItemsEvents, type RegisteredEvent } from '@flotilla/domain';
import type { Recorded } from '@flotilla/event-store';
import { type Projection, isoToMs } from './projection';
import type { StateDb } from '@flotilla/state';
import { FREEZE_EXECUTE_AT, planTimeOfRank } from './execution-tables';

/** Rows per INSERT statement when copying an items chunk: one statement per row cost more than the insert itself. */
const ROWS_PER_INSERT = 100;
/**
 * Rows of each table deleted per slice of a discard (settle): about 10 ms of the event loop, where
 * deleting a refused million in one transaction held it, and every request, for 5 s.
 */
const ROWS_PER_DISCARD_SLICE = 2000;

/**
 * The executions of each batch. Items chunks land in `execution_items` (inputs, profile,
 * metadata) as they arrive, each with its `executions` rows (state, schedule, attempts, outcome),
 * pending; `BatchCreated` adds the batch's plan. Every read goes through a batch, which exists from
 * `BatchCreated` on, so the rows of a batch whose creation never finished stay invisible, as its
 * items do, and after `BatchItemsDiscarded` (a refused or abandoned intake) `settle` deletes them,
 * a slice at a time; until one of the two, `unfinished_intakes` has the time of the batch's last
 * chunk. `state` is the domain's execution state (pending, triggered, cancelled, completed, failed)
 * so it can be filtered on directly.
 *
 * Batch-wide events are set operations: a cancel cancels every pending row in one UPDATE. A pending
 * row holds no time of its own: `execution_plans` holds the batch's current plan (its start, its
 * first index and its wave figures) and reads compute the time from it (`EXECUTE_AT`), so a new plan
 * (a resume, a release, a reconfiguration of the waves, a catch-up) writes one row. Only a pending
 * row rescheduled on its own, or one of a plan with holes in it (below), holds its own time, and a
 * row that leaves pending keeps the time it was due at.
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
    'BatchReleased',
    'BatchCancelled',
  ),
);
type ExecutionsEvent = RegisteredEvent<typeof executionsEvents>;

export class BatchExecutionsProjection implements Projection<ExecutionsEvent> {
  readonly name = 'batch-executions';
  /** 5: the unfinished intakes (4: a chunk's executions rows are written with its items); rebuilt on start. */
  readonly version = 5;
  readonly tables = ['execution_items', 'executions', 'execution_plans', 'discarded_item_batches', 'unfinished_intakes'] as const;
  readonly events = executionsEvents;
  /**
   * False once `settle` found no discarded batch left, until the next discard: so the runner's call
   * after each transaction costs no query in the usual case, where nothing is ever discarded.
   */
  private mayHaveDiscarded = true;

  reset(db: StateDb): void {
    db.run('DELETE FROM execution_items');
    db.run('DELETE FROM executions');
    db.run('DELETE FROM execution_plans');
    db.run('DELETE FROM discarded_item_batches');
    db.run('DELETE FROM unfinished_intakes');
    this.mayHaveDiscarded = true;
  }

  settle(db: StateDb): boolean {
    if (!this.mayHaveDiscarded) return false;
    const next = db.get<{ batch_id: string }>('SELECT batch_id FROM discarded_item_batches LIMIT 1');
    if (next === undefined) {
      this.mayHaveDiscarded = false;
      return false;
    }
    const batchId = next.batch_id;
    db.transaction(() => {
      let left = false;
      for (const table of ['execution_items', 'executions']) {
        const first = db.get<{ idx: number | null }>(`SELECT min(idx) AS idx FROM ${table} WHERE batch_id = ?`, batchId)?.idx ?? null;
        if (first === null) continue;
        db.run(`DELETE FROM ${table} WHERE batch_id = ? AND idx < ?`, batchId, first + ROWS_PER_DISCARD_SLICE);
        left = true;
      }
      if (!left) db.run('DELETE FROM discarded_item_batches WHERE batch_id = ?', batchId);
    });
    return true;
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
        // The chunk's executions rows too, so that BatchCreated has none to write: a million of them
        // in its one transaction held the event loop, and every other request, for about 1.2 s.
        db.run(
          `INSERT OR IGNORE INTO executions (batch_id, idx, state) SELECT batch_id, idx, 'pending' FROM execution_items ` +
            'WHERE batch_id = ? AND idx >= ? AND idx < ?',
          batchId,
          fromIndex,
          fromIndex + items.length,
        );
        // Until BatchCreated or BatchItemsDiscarded: the time of the store, so a rebuild writes the same.
        db.run(
          'INSERT INTO unfinished_intakes (batch_id, last_chunk_ms) VALUES (?, ?) ' +
            'ON CONFLICT (batch_id) DO UPDATE SET last_chunk_ms = excluded.last_chunk_ms',
          batchId,
          event.recordedAt.getTime(),
        );
        return;
      }
      case 'BatchItemsDiscarded':
        // Only a batch that does not exist (no plan: BatchCreated writes it) is marked, for `settle` to
        // delete its rows: one created after all, by a CreateBatch whose outcome its writer could not
        // know, keeps them.
        this.mayHaveDiscarded = true;
        db.run('DELETE FROM unfinished_intakes WHERE batch_id = ?', batchId);
        return db.run(
          'INSERT OR IGNORE INTO discarded_item_batches (batch_id) ' +
            'SELECT ? WHERE NOT EXISTS (SELECT 1 FROM execution_plans WHERE batch_id = ?)',
          batchId,
          batchId,
        );
      case 'BatchCreated': {
        // node:sqlite binds JS numbers as REAL; the plan's INTEGER columns store them as integers, so
        // the wave formula over them (EXECUTE_AT) divides to a whole wave number.
        const data = event.data;
        const intervalMs = Math.round(data.batchIntervalSeconds * 1000);
        db.run('DELETE FROM unfinished_intakes WHERE batch_id = ?', batchId);
        db.run(
          'INSERT OR REPLACE INTO execution_plans (batch_id, max_concurrent, interval_ms, source, plan_anchor_ms, plan_first_idx, ' +
            'plan_max_concurrent, plan_interval_ms) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
          batchId,
          data.maxConcurrent,
          intervalMs,
          data.source === undefined ? null : JSON.stringify(data.source),
          isoToMs(data.startAt),
          data.maxConcurrent,
          intervalMs,
        );
        return;
      }
      case 'ExecutionTriggered':
        return db.run(
          `UPDATE executions SET state = 'triggered', triggered_at = ?, attempts = 1, ${FREEZE_EXECUTE_AT} ` +
            'WHERE batch_id = ? AND idx = ?',
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
          `UPDATE executions SET state = 'cancelled', cancelled_at = ?, ${FREEZE_EXECUTE_AT} ` + 'WHERE batch_id = ? AND idx = ?',
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
          `UPDATE executions SET state = 'cancelled', cancelled_at = ?, ${FREEZE_EXECUTE_AT} ` + `WHERE batch_id = ? AND state = 'pending'`,
          event.data.occurredAt,
          batchId,
        );
      case 'BatchResumed':
      case 'BatchReplanned':
        return replan(db, batchId, isoToMs(event.data.occurredAt), event.data.pending);
      case 'BatchReleased':
        if (event.data.planStartsAt !== null) replan(db, batchId, isoToMs(event.data.planStartsAt), event.data.pending);
        return;
      case 'BatchReconfigured': {
        // The figures are kept whatever the status: a paused batch's resume plans with them.
        const { maxConcurrent, batchIntervalSeconds } = event.data.changes;
        if (maxConcurrent !== undefined)
          db.run('UPDATE execution_plans SET max_concurrent = ? WHERE batch_id = ?', maxConcurrent.to, batchId);
        if (batchIntervalSeconds !== undefined)
          db.run('UPDATE execution_plans SET interval_ms = ? WHERE batch_id = ?', Math.round(batchIntervalSeconds.to * 1000), batchId);
        if (event.data.planStartsAt !== null) replan(db, batchId, isoToMs(event.data.planStartsAt), event.data.pending);
        return;
      }
      default: {
        const unhandled: never = event;
        void unhandled;
      }
    }
  }
}

/** A batch's pending rows, through the index that holds them in index order. */
const PENDING_ROWS = "executions INDEXED BY executions_by_state WHERE batch_id = ? AND state = 'pending'";

/**
 * A new plan of a batch's `pending` executions from `anchorMs`, with the batch's current figures:
 * the j-th of them in index order runs at anchor + floor(j / maxConcurrent) * interval. The one
 * place a plan is made, for every event that starts one.
 *
 * When the pending executions are a run of consecutive indexes (nothing in their span left pending
 * on its own: the usual case, waves leave in index order), the j-th is the plan's first index plus
 * j, so the plan's row is all there is to write; rescheduled executions rejoin it. Otherwise (some
 * in the span were cancelled or triggered out of turn) every pending row is given its time.
 */
const replan = (db: StateDb, batchId: string, anchorMs: number | null, pending: number): void => {
  // Two statements: SQLite reads a lone MIN or MAX from the end of the index, both at once by a scan.
  const first = db.get<{ idx: number | null }>(`SELECT MIN(idx) AS idx FROM ${PENDING_ROWS}`, batchId)?.idx ?? null;
  const last = db.get<{ idx: number | null }>(`SELECT MAX(idx) AS idx FROM ${PENDING_ROWS}`, batchId)?.idx ?? null;
  db.run(
    'UPDATE execution_plans SET plan_anchor_ms = ?, plan_first_idx = ?, plan_max_concurrent = max_concurrent, ' +
      'plan_interval_ms = interval_ms WHERE batch_id = ?',
    anchorMs,
    first ?? 0,
    batchId,
  );
  if (first === null || last === null || last - first + 1 === pending) {
    db.run(
      `UPDATE executions INDEXED BY executions_timed_pending SET execute_at = NULL ` +
        `WHERE batch_id = ? AND state = 'pending' AND execute_at IS NOT NULL`,
      batchId,
    );
    return;
  }
  db.run(
    `WITH ranked AS (
       SELECT idx, row_number() OVER (ORDER BY idx) - 1 AS rank FROM ${PENDING_ROWS}
     )
     UPDATE executions SET execute_at = ${planTimeOfRank('ranked.rank')}
     FROM ranked, execution_plans p WHERE p.batch_id = executions.batch_id AND executions.batch_id = ? AND executions.idx = ranked.idx`,
    batchId,
    batchId,
  );
};
