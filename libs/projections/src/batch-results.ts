import type { BatchSource, ExecutionState } from '@flotilla/domain';
import type { StateDb } from '@flotilla/state';
import type { ExecutionResult } from './batch-views';

interface ResultRow {
  idx: number;
  state: ExecutionState;
  execute_at: number | null;
  triggered_at: string | null;
  finished_at: string | null;
  cancelled_at: string | null;
  attempts: number;
  output: string | null;
  error: string | null;
  inputs: string;
  profile: string | null;
  metadata: string | null;
}

const RESULT_SELECT =
  'SELECT e.idx, e.state, e.execute_at, e.triggered_at, e.finished_at, e.cancelled_at, e.attempts, e.output, e.error, ' +
  'i.inputs, i.profile, i.metadata FROM executions e JOIN execution_items i ON i.batch_id = e.batch_id AND i.idx = e.idx';

/**
 * The results of a batch for exports, a page at a time: keyset on the index, so a million
 * executions are read in bounded memory, and a page reads whatever outcomes exist at that moment.
 */
export class BatchResults {
  constructor(private readonly db: StateDb) {}

  /** How the batch's items were given (its CSV columns); null for a JSON batch or one created before sources were recorded. */
  source(batchId: string): BatchSource | null {
    const row = this.db.get<{ source: string | null }>('SELECT source FROM execution_plans WHERE batch_id = ?', batchId);
    return row?.source ? (JSON.parse(row.source) as BatchSource) : null;
  }

  /** Every metadata key of the batch's items, in the order they first appear. */
  metadataKeys(batchId: string): string[] {
    return this.db
      .all<{ key: string }>(
        `SELECT j.key AS key FROM execution_items i, json_each(i.metadata) j WHERE i.batch_id = ?
         GROUP BY j.key ORDER BY min(i.idx), min(j.id)`,
        batchId,
      )
      .map((row) => row.key);
  }

  /** Up to `limit` results after index `after` (-1 for the first page), in index order. */
  page(batchId: string, filter: { status?: ExecutionState; after: number; limit: number }): ExecutionResult[] {
    const rows = filter.status
      ? this.db.all<ResultRow>(
          `${RESULT_SELECT} WHERE e.batch_id = ? AND e.state = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`,
          batchId,
          filter.status,
          filter.after,
          filter.limit,
        )
      : this.db.all<ResultRow>(
          `${RESULT_SELECT} WHERE e.batch_id = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`,
          batchId,
          filter.after,
          filter.limit,
        );
    return rows.map((row) => ({
      id: `${batchId}.${row.idx}`,
      index: row.idx,
      status: row.state,
      inputs: JSON.parse(row.inputs) as Record<string, unknown>,
      profile: row.profile,
      metadata: row.metadata ? (JSON.parse(row.metadata) as Record<string, unknown>) : {},
      attempts: row.attempts,
      output: row.output === null ? null : (JSON.parse(row.output) as unknown),
      error: row.error,
      executeAt: row.execute_at === null ? null : new Date(row.execute_at).toISOString(),
      triggeredAt: row.triggered_at,
      finishedAt: row.finished_at ?? row.cancelled_at,
    }));
  }
}
