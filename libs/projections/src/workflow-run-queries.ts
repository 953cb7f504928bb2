import type { ExecutionState } from '@flotilla/domain';
import type { StateDb } from '@flotilla/state';

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
  readonly state?: ExecutionState;
  readonly limit: number;
  readonly pageToken?: string;
}

const RUN_SELECT =
  'SELECT e.batch_id, e.idx, e.state, e.triggered_at, e.finished_at, e.cancelled_at, e.output, e.error, e.status_code, ' +
  'e.attempts, i.inputs, i.metadata, b.metadata AS batch_metadata, b.workflow_id, b.workflow_version, b.created_at, b.created_position ' +
  'FROM executions e JOIN execution_items i ON i.batch_id = e.batch_id AND i.idx = e.idx JOIN batches b ON b.id = e.batch_id';

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

export const INVALID_RUN_PAGE_TOKEN = 'nextPageToken is not one this API returned: pass the nextPageToken of the previous page as it is';

export class WorkflowRunQueries {
  constructor(private readonly db: StateDb) {}

  /** One page of runs and the token of the next, if any. */
  list(filter: RunFilter): { rows: RunRow[]; nextPageToken: string | null } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.batchId !== undefined) {
      where.push('e.batch_id = ?');
      params.push(filter.batchId);
    }
    if (filter.workflowId !== undefined) {
      where.push('b.workflow_id = ?');
      params.push(filter.workflowId);
    }
    if (filter.state !== undefined) {
      where.push('e.state = ?');
      params.push(filter.state);
    }
    if (filter.pageToken !== undefined) {
      const after = decodeRunPageToken(filter.pageToken);
      if (after === null) throw new Error(INVALID_RUN_PAGE_TOKEN);
      where.push('(b.created_position < ? OR (b.created_position = ? AND e.idx > ?))');
      params.push(after.createdPosition, after.createdPosition, after.index);
    }
    const rows = this.db.all<RunRow>(
      `${RUN_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY b.created_position DESC, e.idx LIMIT ?`,
      ...params,
      filter.limit + 1,
    );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      rows: page,
      nextPageToken: rows.length > filter.limit && last ? encodeRunPageToken(last.created_position, last.idx) : null,
    };
  }

  get(batchId: string, index: number): RunRow | null {
    return this.db.get<RunRow>(`${RUN_SELECT} WHERE e.batch_id = ? AND e.idx = ?`, batchId, index) ?? null;
  }
}
