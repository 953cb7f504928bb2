import {
  costOf,
  encodePageCursor,
  positionOfCursor,
  type BatchStatus,
  type CatchUp,
  type ExecutionState,
  type HoldSource,
} from '@flotilla/domain';
import type { StateDb } from '@flotilla/state';
import type { BatchView, ExecutionView, Page, WavesView } from './batch-views';
import { historyPageJson, type StoredHistoryEntry } from './history-json';
import { EXECUTE_AT, EXECUTIONS, EXECUTIONS_BY_STATE, WITH_PLAN } from './execution-tables';

/** Read side of batches: what the REST API returns (the shapes in batch-views.ts), straight from the read-model tables. */

/** Most points GET /v1/batches/{id}/waves answers: waves are grouped into spans beyond it. */
export const MAX_WAVE_POINTS = 500;

const BATCH_STATUSES: readonly BatchStatus[] = ['pending', 'running', 'paused', 'completed', 'cancelled'];

interface BatchRow {
  id: string;
  name: string;
  status: BatchStatus;
  workflow_id: string;
  workflow_version: number;
  start_at: string;
  max_concurrent: number;
  batch_interval_seconds: number;
  default_profile: string | null;
  profile_pool: string | null;
  metadata: string;
  total: number;
  pending: number;
  triggered: number;
  cancelled: number;
  completed: number;
  failed: number;
  created_at: string;
  created_position: string;
  started_at: string | null;
  paused_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  plan_ends_at: string | null;
  max_failure_percent: number | null;
  max_failures: number | null;
  priority: number;
  parent_batch_id: string | null;
  retries: string;
  /** From the workflow version's declared cost; null when it declares none. */
  per_execution: number | null;
  currency: string | null;
  catch_up: CatchUp;
  settled_at: string | null;
  held_by: HoldSource | null;
  held_reason: string | null;
  held_at: string | null;
  throttled_until: string | null;
}

interface ExecutionRow {
  batch_id: string;
  idx: number;
  state: ExecutionState;
  execute_at: number | null;
  triggered_at: string | null;
  called_at: string | null;
  inputs: string;
  profile: string | null;
  metadata: string | null;
  attempts: number;
  last_error: string | null;
  output: string | null;
  error: string | null;
  status_code: number | null;
  finished_at: string | null;
}

/** A batch's row with its workflow version's declared cost, if any. */
const BATCH_SELECT =
  'SELECT b.*, c.per_execution, c.currency FROM batches b ' +
  'LEFT JOIN workflow_costs c ON c.workflow_id = b.workflow_id AND c.version = b.workflow_version';

const executionSelect = (executions: string): string =>
  `SELECT e.batch_id, e.idx, e.state, ${EXECUTE_AT} AS execute_at, e.triggered_at, e.called_at, i.inputs, i.profile, i.metadata, ` +
  'e.attempts, e.last_error, e.output, e.error, e.status_code, e.finished_at ' +
  `FROM ${executions} JOIN execution_items i ON i.batch_id = e.batch_id AND i.idx = e.idx ${WITH_PLAN}`;

export class BatchQueries {
  constructor(private readonly db: StateDb) {}

  /**
   * The batches of a workflow a hold or release may concern: those not settled, and those still
   * held (a batch may settle while held). Ids only, in creation order.
   */
  holdableBatchIdsOf(workflowId: string): string[] {
    return this.db
      .all<{ id: string }>(
        'SELECT id FROM batches WHERE workflow_id = ? AND (settled_at IS NULL OR held_by IS NOT NULL) ORDER BY created_position',
        workflowId,
      )
      .map((row) => row.id);
  }

  /** How many batches there are in each status; a status no batch has is counted 0. */
  countByStatus(): Map<BatchStatus, number> {
    const counts = new Map<BatchStatus, number>(BATCH_STATUSES.map((status) => [status, 0]));
    for (const row of this.db.all<{ status: BatchStatus; count: number }>('SELECT status, COUNT(*) AS count FROM batches GROUP BY status'))
      counts.set(row.status, Number(row.count));
    return counts;
  }

  getBatch(id: string): BatchView | null {
    const row = this.db.get<BatchRow>(`${BATCH_SELECT} WHERE b.id = ?`, id);
    return row ? this.toBatchView(row) : null;
  }

  /** The team's batches not yet finished (pending, running or paused), for its maxRunningBatches. */
  /**
   * The intakes whose last chunk was recorded before `beforeMs` and whose batch the read model has not
   * seen created (nor their items discarded), oldest first: abandoned ones, once older than a live intake's chunks are ever apart.
   */
  unfinishedIntakesBefore(beforeMs: number, limit: number): string[] {
    return this.db
      .all<{ batch_id: string }>(
        'SELECT batch_id FROM unfinished_intakes WHERE last_chunk_ms < ? ORDER BY last_chunk_ms LIMIT ?',
        beforeMs,
        limit,
      )
      .map((row) => row.batch_id);
  }

  countUnfinishedBatches(team: string): number {
    return (
      this.db.get<{ count: number }>(
        `SELECT COUNT(*) AS count FROM batches WHERE team = ? AND status IN ('pending', 'running', 'paused')`,
        team,
      )?.count ?? 0
    );
  }

  /** The team a batch belongs to, or undefined for an unknown batch. */
  teamOfBatch(id: string): string | undefined {
    return this.db.get<{ team: string }>('SELECT team FROM batches WHERE id = ?', id)?.team;
  }

  /** Newest first; `team` keeps to one team's batches. */
  listBatches(filter: { status?: BatchStatus; workflowId?: string; team?: string; limit: number; cursor?: string }): Page<BatchView> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const condition = (sql: string, value: string): void => {
      where.push(sql);
      params.push(value);
    };
    if (filter.status) condition('b.status = ?', filter.status);
    if (filter.workflowId) condition('b.workflow_id = ?', filter.workflowId);
    if (filter.team !== undefined) condition('b.team = ?', filter.team);
    const after = positionOfCursor(filter.cursor);
    if (after !== undefined) condition('b.created_position < ?', after);
    const rows = this.db.all<BatchRow>(
      `${BATCH_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY b.created_position DESC LIMIT ?`,
      ...params,
      filter.limit + 1,
    );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => this.toBatchView(row)),
      nextCursor: rows.length > filter.limit && last ? encodePageCursor(last.created_position) : null,
    };
  }

  /** In index order. `status` filters on the execution state, outcomes included (completed, failed). */
  listExecutions(batchId: string, filter: { status?: ExecutionState; limit: number; cursor?: string }): Page<ExecutionView> {
    const after = Number(positionOfCursor(filter.cursor) ?? -1);
    const rows = filter.status
      ? this.db.all<ExecutionRow>(
          `${executionSelect(EXECUTIONS_BY_STATE)} WHERE e.batch_id = ? AND e.state = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`,
          batchId,
          filter.status,
          after,
          filter.limit + 1,
        )
      : this.db.all<ExecutionRow>(
          `${executionSelect(EXECUTIONS)} WHERE e.batch_id = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`,
          batchId,
          after,
          filter.limit + 1,
        );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { items: page.map(toExecutionView), nextCursor: rows.length > filter.limit && last ? encodePageCursor(last.idx) : null };
  }

  /**
   * The batch's waves, planned against what became of them: executions grouped by due time, in
   * spans of the batch interval, or of a multiple of it so that there are at most MAX_WAVE_POINTS.
   * Two scans of the batch's executions (the span, then the groups): a chart's worth, not a page's.
   */
  waves(batchId: string): WavesView {
    const span = this.db.get<{ first: number | null; last: number | null; interval_ms: number | null }>(
      `SELECT MIN(${EXECUTE_AT}) AS first, MAX(${EXECUTE_AT}) AS last, p.interval_ms FROM executions e ${WITH_PLAN} ` +
        'WHERE e.batch_id = ?',
      batchId,
    );
    if (span?.first == null || span.last == null) return { items: [], bucketSeconds: 0 };
    const interval = Math.max(span.interval_ms ?? 0, 1000);
    const bucketMs = interval * Math.max(1, Math.ceil((span.last - span.first + 1) / interval / MAX_WAVE_POINTS));
    const rows = this.db.all<{ bucket: number | null; state: ExecutionState; count: number }>(
      `SELECT (${EXECUTE_AT} - ?) / ? AS bucket, e.state AS state, COUNT(*) AS count FROM executions e ${WITH_PLAN} ` +
        'WHERE e.batch_id = ? GROUP BY bucket, e.state ORDER BY bucket',
      span.first,
      bucketMs,
      batchId,
    );
    const waves = new Map<number, WavesView['items'][number]>();
    for (const { bucket, state, count } of rows) {
      if (bucket === null) continue;
      const at = Math.floor(bucket);
      let wave = waves.get(at);
      if (wave === undefined) {
        const executeAt = new Date(span.first + at * bucketMs).toISOString();
        waves.set(at, (wave = { executeAt, planned: 0, pending: 0, triggered: 0, completed: 0, failed: 0, cancelled: 0 }));
      }
      wave.planned += count;
      if (state === 'pending') wave.pending += count;
      else if (state === 'cancelled') wave.cancelled += count;
      else {
        wave.triggered += count;
        if (state === 'completed') wave.completed += count;
        if (state === 'failed') wave.failed += count;
      }
    }
    return { items: [...waves.values()], bucketSeconds: bucketMs / 1000 };
  }

  getExecution(batchId: string, index: number): ExecutionView | null {
    const row = this.db.get<ExecutionRow>(`${executionSelect(EXECUTIONS)} WHERE e.batch_id = ? AND e.idx = ?`, batchId, index);
    return row ? toExecutionView(row) : null;
  }

  /** The stored position of a batch's newest history entry (a cursor's position), or null before the first. */
  newestHistoryPosition(batchId: string): string | null {
    const row = this.db.get<{ position: string | null }>('SELECT MAX(position) AS position FROM batch_history WHERE batch_id = ?', batchId);
    return row?.position ?? null;
  }

  /**
   * A page of a batch's history as the JSON text of a `Page<HistoryEntry>`: each event's data is
   * written through as stored (JSON.stringify's compact text), not parsed and serialised again, so
   * a page of 1,000 events costs one query and some string joins. `historyPageJson` holds the text
   * to what JSON.stringify of the parsed page gives.
   */
  historyJson(batchId: string, filter: { limit: number; cursor?: string; order?: 'asc' | 'desc' }): string {
    const cursor = positionOfCursor(filter.cursor);
    // Newest first pages backwards from the cursor; the statement text differs by order, so each is cached apart.
    const statement =
      filter.order === 'desc'
        ? this.db.prepare(
            'SELECT position, type, occurred_at, actor, reason, data FROM batch_history WHERE batch_id = ? AND ' +
              'position < ? ORDER BY position DESC LIMIT ?',
          )
        : this.db.prepare(
            'SELECT position, type, occurred_at, actor, reason, data FROM batch_history WHERE batch_id = ? AND ' +
              'position > ? ORDER BY position LIMIT ?',
          );
    // The statements are cached by their text, which only this method uses: arrays are what they always answer.
    statement.setReturnArrays(true);
    // Positions are fixed-width digits: '~' sorts after every one of them.
    const bound = cursor ?? (filter.order === 'desc' ? '~' : '');
    const rows = statement.all(batchId, bound, filter.limit + 1) as unknown as StoredHistoryEntry[];
    return historyPageJson(rows, filter.limit);
  }

  private toBatchView(row: BatchRow): BatchView {
    const counts = {
      total: row.total,
      pending: row.pending,
      triggered: row.triggered,
      cancelled: row.cancelled,
      completed: row.completed,
      failed: row.failed,
    };
    return {
      id: row.id,
      name: row.name,
      status: row.status,
      workflowId: row.workflow_id,
      workflowVersion: row.workflow_version,
      startAt: row.start_at,
      maxConcurrent: row.max_concurrent,
      batchIntervalSeconds: row.batch_interval_seconds,
      priority: row.priority,
      defaultProfile: row.default_profile,
      profilePool: row.profile_pool ? (JSON.parse(row.profile_pool) as string[]) : null,
      metadata: JSON.parse(row.metadata) as Record<string, unknown>,
      maxFailurePercent: row.max_failure_percent,
      maxFailures: row.max_failures,
      catchUp: row.catch_up,
      progress: { ...counts, percent: row.total === 0 ? 0 : Math.round((row.triggered / row.total) * 10000) / 100 },
      estimatedCompletionAt: estimatedCompletion(row),
      createdAt: row.created_at,
      startedAt: row.started_at,
      pausedAt: row.paused_at,
      completedAt: row.completed_at,
      cancelledAt: row.cancelled_at,
      settledAt: row.settled_at,
      heldBy: row.held_by,
      heldReason: row.held_reason,
      heldAt: row.held_at,
      throttledUntil: row.throttled_until,
      parentBatchId: row.parent_batch_id,
      retries: JSON.parse(row.retries) as string[],
      ...costsOf(row),
    };
  }
}

/** The execute time of the last pending execution, as the plan's events announce it; null while paused or when none is pending. */
const estimatedCompletion = (row: BatchRow): string | null =>
  (row.status === 'pending' || row.status === 'running') && row.pending > 0 ? row.plan_ends_at : null;

const toExecutionView = (row: ExecutionRow): ExecutionView => {
  const status = row.state === 'completed' || row.state === 'failed' ? 'triggered' : row.state;
  const outcome: ExecutionView['outcome'] =
    row.state === 'completed'
      ? { status: 'completed', output: row.output === null ? null : (JSON.parse(row.output) as unknown), finishedAt: row.finished_at ?? '' }
      : row.state === 'failed'
        ? {
            status: 'failed',
            error: row.error ?? '',
            ...(row.status_code === null ? {} : { statusCode: row.status_code }),
            finishedAt: row.finished_at ?? '',
          }
        : null;
  return {
    id: `${row.batch_id}.${row.idx}`,
    batchId: row.batch_id,
    index: row.idx,
    status,
    executeAt: row.execute_at === null ? null : new Date(row.execute_at).toISOString(),
    triggeredAt: row.triggered_at,
    queuedAt: row.triggered_at,
    calledAt: row.called_at,
    inputs: JSON.parse(row.inputs) as Record<string, unknown>,
    profile: row.profile,
    metadata: row.metadata ? (JSON.parse(row.metadata) as Record<string, unknown>) : {},
    attempts: row.attempts,
    lastError: row.last_error,
    outcome,
  };
};

/**
 * What the batch will cost if every execution not cancelled runs, and what the executions triggered
 * so far have cost, from the workflow version's declared cost; both null when it declares none.
 */
const costsOf = (row: BatchRow): Pick<BatchView, 'estimatedCost' | 'costSoFar'> => {
  if (row.per_execution === null || row.currency === null) return { estimatedCost: null, costSoFar: null };
  const cost = { perExecution: row.per_execution, currency: row.currency };
  return { estimatedCost: costOf(row.total - row.cancelled, cost), costSoFar: costOf(row.triggered, cost) };
};
