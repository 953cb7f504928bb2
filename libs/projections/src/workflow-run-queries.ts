import type { ExecutionState } from '@flotilla/domain';
import type { StateDb } from '@flotilla/state';
import { EXECUTIONS, EXECUTIONS_BY_STATE } from './execution-tables';

/**
 * The executions of every batch as workflow runs, from the read-model tables: newest batch first,
 * each batch's runs in index order. The facts only; the API adds the workflow's names.
 */

export interface RunRow {
  batch_id: string;
  idx: number;
  state: ExecutionState;
  triggered_at: string | null;
  finished_at: string | null;
  cancelled_at: string | null;
  output: string | null;
  error: string | null;
  status_code: number | null;
  attempts: number;
  inputs: string;
  metadata: string | null;
  batch_metadata: string;
  workflow_id: string;
  workflow_version: number;
  created_at: string;
  created_position: string;
}

export interface RunFilter {
  readonly batchId?: string;
  readonly workflowId?: string;
  /** Only the runs of this team's batches. */
  readonly team?: string;
  readonly state?: ExecutionState;
  readonly limit: number;
  readonly pageToken?: string;
}

const runSelect = (executions: string): string =>
  'SELECT e.batch_id, e.idx, e.state, e.triggered_at, e.finished_at, e.cancelled_at, e.output, e.error, e.status_code, ' +
  'e.attempts, i.inputs, i.metadata, b.metadata AS batch_metadata, b.workflow_id, b.workflow_version, b.created_at, b.created_position ' +
  `FROM ${executions} JOIN execution_items i ON i.batch_id = e.batch_id AND i.idx = e.idx JOIN batches b ON b.id = e.batch_id`;

/**
 * Page tokens: base64url of `runs1:<batch created position>:<index>` of the last run of the page.
 * Opaque to clients; anything this API did not hand out is refused (`InvalidRunPageToken`).
 */
const TOKEN_TEXT = /^runs1:(\d{1,40}):(\d{1,10})$/;

export const encodeRunPageToken = (createdPosition: string, index: number): string =>
  Buffer.from(`runs1:${createdPosition}:${index}`).toString('base64url');

export const decodeRunPageToken = (token: string): { createdPosition: string; index: number } | null => {
  if (!/^[A-Za-z0-9_-]{1,120}$/.test(token)) return null;
  const match = TOKEN_TEXT.exec(Buffer.from(token, 'base64url').toString());
  if (match === null || match[1] === undefined || match[2] === undefined) return null;
  const decoded = { createdPosition: match[1], index: Number(match[2]) };
  return encodeRunPageToken(decoded.createdPosition, decoded.index) === token ? decoded : null;
};

/** Batches read from the summary table at a time while a page is filled. */
const BATCHES_PER_READ = 100;

export const INVALID_RUN_PAGE_TOKEN = 'nextPageToken is not one this API returned: pass the nextPageToken of the previous page as it is';

export class WorkflowRunQueries {
  constructor(private readonly db: StateDb) {}

  /**
   * One page of runs and the token of the next, if any. The batches are walked newest first, and
   * each batch's runs read through its primary key (or `executions_by_state` with a status) from
   * where the page left off, so a page costs a few indexed reads however many executions there are,
   * never a sort of them all.
   */
  list(filter: RunFilter): { rows: RunRow[]; nextPageToken: string | null } {
    const after = filter.pageToken === undefined ? null : decodeRunPageToken(filter.pageToken);
    if (filter.pageToken !== undefined && after === null) throw new Error(INVALID_RUN_PAGE_TOKEN);
    const wanted = filter.limit + 1;
    const rows: RunRow[] = [];
    for (const batch of this.batches(filter, after?.createdPosition)) {
      const fromIndex = after !== null && batch.created_position === after.createdPosition ? after.index : -1;
      rows.push(...this.runsOf(batch.id, filter.state, fromIndex, wanted - rows.length));
      if (rows.length >= wanted) break;
    }
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      rows: page,
      nextPageToken: rows.length > filter.limit && last ? encodeRunPageToken(last.created_position, last.idx) : null,
    };
  }

  /** The batches to walk, newest first, from the one a page token names (inclusive); read in keyset pages. */
  private *batches(filter: RunFilter, fromPosition: string | undefined): Generator<{ id: string; created_position: string }> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.batchId !== undefined) {
      where.push('id = ?');
      params.push(filter.batchId);
    }
    if (filter.workflowId !== undefined) {
      where.push('workflow_id = ?');
      params.push(filter.workflowId);
    }
    if (filter.team !== undefined) {
      where.push('team = ?');
      params.push(filter.team);
    }
    const select = (bound: string): string =>
      `SELECT id, created_position FROM batches WHERE ${[...where, bound].join(' AND ')} ORDER BY created_position DESC LIMIT ?`;
    let bound =
      fromPosition === undefined ? { sql: '1 = 1', params: [] as string[] } : { sql: 'created_position <= ?', params: [fromPosition] };
    for (;;) {
      const batches = this.db.all<{ id: string; created_position: string }>(
        select(bound.sql),
        ...params,
        ...bound.params,
        BATCHES_PER_READ,
      );
      yield* batches;
      const last = batches[batches.length - 1];
      if (last === undefined || batches.length < BATCHES_PER_READ) return;
      bound = { sql: 'created_position < ?', params: [last.created_position] };
    }
  }

  private runsOf(batchId: string, state: ExecutionState | undefined, afterIndex: number, limit: number): RunRow[] {
    return state === undefined
      ? this.db.all<RunRow>(
          `${runSelect(EXECUTIONS)} WHERE e.batch_id = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`,
          batchId,
          afterIndex,
          limit,
        )
      : this.db.all<RunRow>(
          `${runSelect(EXECUTIONS_BY_STATE)} WHERE e.batch_id = ? AND e.state = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`,
          batchId,
          state,
          afterIndex,
          limit,
        );
  }

  get(batchId: string, index: number): RunRow | null {
    return this.db.get<RunRow>(`${runSelect(EXECUTIONS)} WHERE e.batch_id = ? AND e.idx = ?`, batchId, index) ?? null;
  }
}
