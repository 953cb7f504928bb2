/**
 * The schema of a process's state database, as numbered migrations applied in order, once each, and
 * recorded in `schema_migrations`. This list is the only place that creates or changes tables.
 *
 * Migration 1 is the schema as the product created it before migrations existed (main at 4463914),
 * with IF NOT EXISTS throughout: a database written by that code adopts it without a change, and a
 * new one gets the same tables. Every later change is a new entry at the end; entries are never
 * edited once released.
 */
export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

export const STATE_MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'baseline: read models, consumer checkpoints, handled events, scheduler timers',
    sql: `
      CREATE TABLE IF NOT EXISTS projection_checkpoints (name TEXT PRIMARY KEY, version INTEGER NOT NULL, position TEXT);

      CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        workflow_version INTEGER NOT NULL,
        start_at TEXT NOT NULL,
        max_concurrent INTEGER NOT NULL,
        batch_interval_seconds REAL NOT NULL,
        default_profile TEXT,
        profile_pool TEXT,
        metadata TEXT NOT NULL,
        total INTEGER NOT NULL,
        pending INTEGER NOT NULL,
        triggered INTEGER NOT NULL DEFAULT 0,
        cancelled INTEGER NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        created_position TEXT NOT NULL,
        started_at TEXT,
        paused_at TEXT,
        completed_at TEXT,
        cancelled_at TEXT,
        plan INTEGER NOT NULL DEFAULT 0,
        plan_ends_at TEXT
      );
      CREATE INDEX IF NOT EXISTS batches_by_status ON batches (status, created_position);
      CREATE INDEX IF NOT EXISTS batches_by_workflow ON batches (workflow_id, created_position);

      CREATE TABLE IF NOT EXISTS execution_items (
        batch_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        inputs TEXT NOT NULL,
        profile TEXT,
        metadata TEXT,
        PRIMARY KEY (batch_id, idx)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS executions (
        batch_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        state TEXT NOT NULL,
        execute_at INTEGER,
        triggered_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        output TEXT,
        error TEXT,
        status_code INTEGER,
        finished_at TEXT,
        cancelled_at TEXT,
        PRIMARY KEY (batch_id, idx)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS executions_by_state ON executions (batch_id, state, idx);
      CREATE TABLE IF NOT EXISTS execution_plans (
        batch_id TEXT PRIMARY KEY,
        max_concurrent INTEGER NOT NULL,
        interval_ms INTEGER NOT NULL
      );

      CREATE TABLE IF NOT EXISTS batch_history (
        batch_id TEXT NOT NULL,
        position TEXT NOT NULL,
        type TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        actor TEXT,
        reason TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (batch_id, position)
      ) WITHOUT ROWID;

      CREATE TABLE IF NOT EXISTS consumer_checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL);

      CREATE TABLE IF NOT EXISTS handled_events (
        grp TEXT NOT NULL, event_id TEXT NOT NULL, handled_at INTEGER NOT NULL, PRIMARY KEY (grp, event_id)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS handled_events_by_time ON handled_events (handled_at);

      CREATE TABLE IF NOT EXISTS scheduler_active_batches (batch_id TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS scheduler_callback_deadlines (
        batch_id TEXT NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL, deadline INTEGER NOT NULL,
        PRIMARY KEY (batch_id, idx)
      );
      CREATE INDEX IF NOT EXISTS scheduler_deadlines_by_time ON scheduler_callback_deadlines (deadline);
    `,
  },
  {
    id: 2,
    name: 'webhook deliveries queued per subscription',
    sql: `
      -- What is still to be sent, in enqueue order (seq), which for one batch is event order.
      CREATE TABLE webhook_delivery_queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        execution_id TEXT,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at INTEGER NOT NULL
      );
      CREATE INDEX webhook_delivery_queue_by_lane ON webhook_delivery_queue (webhook_id, batch_id, seq);
      -- Every (webhook, event) ever enqueued, so a redelivered message enqueues nothing twice.
      CREATE TABLE webhook_delivery_keys (
        webhook_id TEXT NOT NULL, event_id TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
        PRIMARY KEY (webhook_id, event_id)
      ) WITHOUT ROWID;
      CREATE INDEX webhook_delivery_keys_by_time ON webhook_delivery_keys (enqueued_at);
    `,
  },
  {
    id: 3,
    name: 'batch summary: failure tolerance settings and settled time',
    sql: `
      ALTER TABLE batches ADD COLUMN max_failure_percent REAL;
      ALTER TABLE batches ADD COLUMN max_failures INTEGER;
      ALTER TABLE batches ADD COLUMN settled_at TEXT;
    `,
  },
  {
    id: 4,
    name: 'the source of a batch (its CSV columns), for exports',
    sql: `
      -- JSON text of BatchCreated's source; null for JSON batches and batches created before it was recorded.
      ALTER TABLE execution_plans ADD COLUMN source TEXT;
    `,
  },
  {
    id: 5,
    name: 'batch summary: priority, the batch a retry came from and the retries of a batch; workflow costs',
    sql: `
      -- Batches created before priority existed run at the default one.
      ALTER TABLE batches ADD COLUMN priority INTEGER NOT NULL DEFAULT 50;
      ALTER TABLE batches ADD COLUMN parent_batch_id TEXT;
      -- JSON array of the ids of the batches that re-ran this one's failures, oldest first.
      ALTER TABLE batches ADD COLUMN retries TEXT NOT NULL DEFAULT '[]';
      -- The declared cost of each workflow version (projected from WorkflowVersionAdded).
      CREATE TABLE workflow_costs (
        workflow_id TEXT NOT NULL, version INTEGER NOT NULL, per_execution REAL NOT NULL, currency TEXT NOT NULL,
        PRIMARY KEY (workflow_id, version)
      ) WITHOUT ROWID;
    `,
  },
  {
    id: 6,
    name: 'batch summary: catch-up mode',
    sql: `
      -- Batches created before catchUp existed catch up paced, the default.
      ALTER TABLE batches ADD COLUMN catch_up TEXT NOT NULL DEFAULT 'paced';
    `,
  },
  {
    id: 7,
    name: 'batch summary: what holds a batch (its workflow), why and since when',
    sql: `
      -- Set from BatchHeld to BatchReleased; null when not held.
      ALTER TABLE batches ADD COLUMN held_by TEXT;
      ALTER TABLE batches ADD COLUMN held_reason TEXT;
      ALTER TABLE batches ADD COLUMN held_at TEXT;
    `,
  },
  {
    id: 8,
    name: 'batch summary: until when the target throttles the batch',
    sql: `
      -- Set from BatchThrottled to BatchThrottleLifted (and cleared when the batch settles or is cancelled); null when not throttled.
      ALTER TABLE batches ADD COLUMN throttled_until TEXT;
    `,
  },
  {
    id: 9,
    name: 'executions: when the first call to the target started',
    sql: `
      -- From ExecutionCallsStarted; null until the execution got a call slot (and for executions called before it was recorded).
      ALTER TABLE executions ADD COLUMN called_at TEXT;
    `,
  },
  {
    id: 10,
    name: 'executor: batches with executions parked beyond the per-batch window',
    sql: `
      -- A row while some of the batch's triggered executions wait here with no message behind them
      -- (their messages were acknowledged once the row was written): a restart finds them from the batch state.
      CREATE TABLE parked_batches (batch_id TEXT PRIMARY KEY, parked_at TEXT NOT NULL) WITHOUT ROWID;
    `,
  },
  {
    id: 11,
    name: 'batch summary: the team a batch belongs to',
    sql: `
      -- From the team of the key that created the batch (BatchCreated's metadata); batches from before keys are 'default'.
      ALTER TABLE batches ADD COLUMN team TEXT NOT NULL DEFAULT 'default';
      CREATE INDEX batches_by_team ON batches (team, created_position);
    `,
  },
  {
    id: 12,
    name: 'executions: the current plan as a formula instead of a time per pending row',
    sql: `
      -- The plan in force (a plan-timed pending row is due at plan_anchor_ms + ((idx - plan_first_idx) / plan_max_concurrent)
      -- * plan_interval_ms); max_concurrent and interval_ms stay the batch's figures, which a paused batch's resume plans with.
      ALTER TABLE execution_plans ADD COLUMN plan_anchor_ms INTEGER;
      ALTER TABLE execution_plans ADD COLUMN plan_first_idx INTEGER;
      ALTER TABLE execution_plans ADD COLUMN plan_max_concurrent INTEGER;
      ALTER TABLE execution_plans ADD COLUMN plan_interval_ms INTEGER;
      -- The pending rows with a time of their own (rescheduled, or planned row by row): what a new plan resets.
      CREATE INDEX executions_timed_pending ON executions (batch_id, idx) WHERE state = 'pending' AND execute_at IS NOT NULL;
    `,
  },
  {
    id: 13,
    name: 'executions: the batches whose items were discarded, while their rows are deleted',
    sql: `
      -- A batch that never was (its intake was refused after some chunks were written): its execution_items and
      -- executions rows are deleted a slice at a time (BatchExecutionsProjection.settle), and then this row.
      CREATE TABLE discarded_item_batches (batch_id TEXT PRIMARY KEY) WITHOUT ROWID;
    `,
  },
  {
    id: 14,
    name: 'executions: the intakes with chunks written and no batch yet, by the time of their last chunk',
    sql: `
      -- An intake's row from its first chunk until its batch is created or its items discarded: one that stays
      -- long after its last chunk was abandoned (its process died mid-upload), and AbandonedIntakes discards it.
      CREATE TABLE unfinished_intakes (batch_id TEXT PRIMARY KEY, last_chunk_ms INTEGER NOT NULL) WITHOUT ROWID;
    `,
  },
];
