import type { StateDb } from './state-db';

/** An async execution's callback deadline: past it, the execution fails. */
export interface CallbackDeadline {
  readonly batchId: string;
  readonly index: number;
  readonly attempt: number;
  /** ms since the epoch. */
  readonly deadline: number;
}

/**
 * The scheduler's durable lists, derived from the events it consumes: which batches still need
 * timers (their due times themselves come from the batch state, rebuilt from its stream), and
 * which accepted async executions await their callback until when.
 */
export class TimerStore {
  /**
   * The batches that may have a deadline stored. An outcome of every execution removes its deadline,
   * but only async executions ever get one: without this, each outcome of a sync execution cost a
   * write transaction on the state database (a DELETE that found nothing), the most frequent write
   * the scheduler made. Loaded from the table, so deadlines stored before a restart are still seen.
   */
  private readonly batchesWithDeadlines: Set<string>;

  constructor(private readonly db: StateDb) {
    this.batchesWithDeadlines = new Set(
      db.all<{ batch_id: string }>('SELECT DISTINCT batch_id FROM scheduler_callback_deadlines').map((row) => row.batch_id),
    );
  }

  activeBatches(): string[] {
    return this.db.all<{ batch_id: string }>('SELECT batch_id FROM scheduler_active_batches').map((row) => row.batch_id);
  }

  addActiveBatch(batchId: string): void {
    this.db.run('INSERT OR IGNORE INTO scheduler_active_batches (batch_id) VALUES (?)', batchId);
  }

  removeActiveBatch(batchId: string): void {
    this.db.run('DELETE FROM scheduler_active_batches WHERE batch_id = ?', batchId);
    if (this.db.get('SELECT 1 FROM scheduler_callback_deadlines WHERE batch_id = ? LIMIT 1', batchId) === undefined) {
      this.batchesWithDeadlines.delete(batchId);
    }
  }

  setDeadline({ batchId, index, attempt, deadline }: CallbackDeadline): void {
    this.batchesWithDeadlines.add(batchId);
    this.db.run(
      'INSERT OR REPLACE INTO scheduler_callback_deadlines (batch_id, idx, attempt, deadline) VALUES (?, ?, ?, ?)',
      batchId,
      index,
      attempt,
      deadline,
    );
  }

  removeDeadline(batchId: string, index: number): void {
    if (!this.batchesWithDeadlines.has(batchId)) return;
    this.db.run('DELETE FROM scheduler_callback_deadlines WHERE batch_id = ? AND idx = ?', batchId, index);
  }

  /** The earliest deadline, or null when no callback is awaited. */
  nextDeadline(): number | null {
    return this.db.get<{ deadline: number | null }>('SELECT MIN(deadline) AS deadline FROM scheduler_callback_deadlines')?.deadline ?? null;
  }

  /** Deadlines at or before `nowMs`, earliest first, at most `limit`. */
  dueDeadlines(nowMs: number, limit: number): CallbackDeadline[] {
    return this.db
      .all<{ batch_id: string; idx: number; attempt: number; deadline: number }>(
        'SELECT batch_id, idx, attempt, deadline FROM scheduler_callback_deadlines WHERE deadline <= ? ORDER BY deadline LIMIT ?',
        nowMs,
        limit,
      )
      .map((row) => ({ batchId: row.batch_id, index: row.idx, attempt: row.attempt, deadline: row.deadline }));
  }
}
