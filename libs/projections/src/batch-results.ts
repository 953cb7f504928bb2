import type { BatchSource, ExecutionState } from '@flotilla/domain';
import type { StateDb } from '@flotilla/state';
import type { ExecutionResult } from './batch-views';
import { EXECUTE_AT, EXECUTIONS, EXECUTIONS_BY_STATE, WITH_PLAN } from './execution-tables';

/**
 * An execution as the read model holds it, JSON columns as text: a row as an array, in the order
 * of resultSelect, since building an object per row took 40% of the read.
 */
export type StoredResult = readonly [
  idx: number,
  state: ExecutionState,
  executeAt: number | null,
  triggeredAt: string | null,
  finishedAt: string | null,
  cancelledAt: string | null,
  attempts: number,
  output: string | null,
  error: string | null,
  inputs: string,
  profile: string | null,
  metadata: string | null,
];

const resultSelect = (executions: string): string =>
  `SELECT e.idx, e.state, ${EXECUTE_AT}, e.triggered_at, e.finished_at, e.cancelled_at, e.attempts, e.output, e.error, ` +
  `i.inputs, i.profile, i.metadata FROM ${executions} JOIN execution_items i ON i.batch_id = e.batch_id AND i.idx = e.idx ${WITH_PLAN}`;

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

  /**
   * Up to `limit` rows after index `after` (-1 for the first page), in index order, as stored: JSON
   * columns still text, so an export that writes JSON copies them instead of parsing and
   * re-serialising each one.
   */
  page(batchId: string, filter: { status?: ExecutionState; after: number; limit: number }): StoredResult[] {
    const statement = this.db.prepare(
      filter.status
        ? `${resultSelect(EXECUTIONS_BY_STATE)} WHERE e.batch_id = ? AND e.state = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`
        : `${resultSelect(EXECUTIONS)} WHERE e.batch_id = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`,
    );
    // The statement is cached by its text, which only this class uses: arrays are what it always answers.
    statement.setReturnArrays(true);
    const rows = filter.status
      ? statement.all(batchId, filter.status, filter.after, filter.limit)
      : statement.all(batchId, filter.after, filter.limit);
    return rows as unknown as StoredResult[];
  }
}

/** Executions of one wave share their execute time: one ISO string per wave, not one Date per row. */
export class IsoTimes {
  private lastMs = Number.NaN;
  private lastIso = '';

  of(ms: number | null): string | null {
    if (ms === null) return null;
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }
}

/** The one shape of a result (ExecutionResult), from a stored row. */
export const toExecutionResult = (batchId: string, row: StoredResult, times: IsoTimes): ExecutionResult => {
  const [idx, state, executeAt, triggeredAt, finishedAt, cancelledAt, attempts, output, error, inputs, profile, metadata] = row;
  return {
    id: `${batchId}.${idx}`,
    index: idx,
    status: state,
    inputs: JSON.parse(inputs) as Record<string, unknown>,
    profile,
    metadata: metadata ? (JSON.parse(metadata) as Record<string, unknown>) : {},
    attempts,
    output: output === null ? null : (JSON.parse(output) as unknown),
    error,
    executeAt: times.of(executeAt),
    triggeredAt,
    finishedAt: finishedAt ?? cancelledAt,
  };
};

const text = (value: string | null): string => (value === null ? 'null' : JSON.stringify(value));

/**
 * `JSON.stringify(toExecutionResult(...))`, written without parsing the stored JSON columns (they
 * were written by JSON.stringify, so they are already compact JSON): same keys, same order, same
 * text; a unit test holds the two to that.
 */
export const executionResultJson = (batchId: string, row: StoredResult, times: IsoTimes): string => {
  const [idx, state, executeAt, triggeredAt, finishedAt, cancelledAt, attempts, output, error, inputs, profile, metadata] = row;
  return (
    `{"id":${JSON.stringify(`${batchId}.${idx}`)},"index":${idx},"status":"${state}","inputs":${inputs},` +
    `"profile":${text(profile)},"metadata":${metadata || '{}'},"attempts":${attempts},"output":${output ?? 'null'},` +
    `"error":${text(error)},"executeAt":${text(times.of(executeAt))},"triggeredAt":${text(triggeredAt)},` +
    `"finishedAt":${text(finishedAt ?? cancelledAt)}}`
  );
};
