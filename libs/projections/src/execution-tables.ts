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

/**
 * When the execution row `row` is due under its batch's current plan (`execution_plans`, aliased
 * `p`): the plan's wave formula over the row's rank in the plan, which is its index less the plan's
 * first. A row holds no time of its own while it is pending and plan-timed, so that a new plan (a
 * resume, a catch-up, a reconfiguration) is one write of the plan's row instead of one per pending
 * execution (a million-row UPDATE held the event loop for seconds); a row that leaves pending keeps
 * the time it had (`FREEZE_EXECUTE_AT`). Integer columns: the division is the wave number.
 */
export const plannedAtOf = (row: string): string => planTimeOfRank(`${row}.idx - p.plan_first_idx`);

/** The wave formula of the plan `p` in SQL: when its execution of rank `rank` (an expression) is due. */
export const planTimeOfRank = (rank: string): string => `p.plan_anchor_ms + ((${rank}) / p.plan_max_concurrent) * p.plan_interval_ms`;

/** An execution row's due time in a read (`e` joined with its plan by `WITH_PLAN`): its own, or its plan's. */
export const EXECUTE_AT = `COALESCE(e.execute_at, ${plannedAtOf('e')})`;
export const WITH_PLAN = 'LEFT JOIN execution_plans p ON p.batch_id = e.batch_id';

/**
 * The SET term of an UPDATE of `executions` that moves rows out of pending: each keeps the time its
 * plan gave it. A subquery, read only for a plan-timed row: an UPDATE ... FROM the plans made a
 * trigger's update eight times as costly.
 */
export const FREEZE_EXECUTE_AT =
  `execute_at = COALESCE(execute_at, (SELECT ${plannedAtOf('executions')} FROM execution_plans p ` +
  'WHERE p.batch_id = executions.batch_id))';
