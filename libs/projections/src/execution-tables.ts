/**
 * How the execution reads name the `executions` table (aliased `e`): as it is, or through
 * `executions_by_state` (batch_id, state, idx) when they filter on a state.
 *
 * Why the index is named rather than left to the planner: the state database has no statistics
 * (no ANALYZE), and for `WHERE e.batch_id = ? AND e.state = ? AND e.idx > ? ORDER BY e.idx LIMIT ?`
 * SQLite then prefers the primary key (batch_id, idx), which gives index order without a lookup
 * per row, and tests the state row by row. When few executions are in that state it reads the
 * whole rest of the batch to fill a page: about 150 ms for `status=completed` on a pending
 * million-item batch. Through the index the page is a seek and a range of at most `limit + 1`
 * entries, whatever the depth or the state.
 */
export const EXECUTIONS = 'executions e';
export const EXECUTIONS_BY_STATE = 'executions e INDEXED BY executions_by_state';
