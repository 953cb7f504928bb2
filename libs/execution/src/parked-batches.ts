import { StateDb } from '@flotilla/state';

/**
 * The batches some of whose triggered executions this executor holds as parked (ADR 0005): past
 * the per-batch window (EXECUTOR_BATCH_WINDOW) an execution's message is acknowledged at once and
 * only its index is kept, a bit in memory. The mark here, one row per batch in the executor's state
 * file, is what a restart needs to find them again from the batch state, since no message stands
 * for them any more: it is written, synced to disk, before the first such message is acknowledged,
 * and removed once none of the batch's parked executions is left.
 */
export class ParkedBatches {
  /** The batches marked, as known in memory: a mark is written once per episode, not per execution. */
  private readonly marked = new Set<string>();

  /** Without a state file of its own (the tests that make a dispatcher by hand), over one in memory. */
  constructor(private readonly db: StateDb = new StateDb()) {
    for (const row of db.all<{ batch_id: string }>('SELECT batch_id FROM parked_batches')) this.marked.add(row.batch_id);
  }

  /** Marks the batch, durably, before the caller acknowledges the message of an execution it parks. */
  mark(batchId: string): void {
    if (this.marked.has(batchId)) return;
    this.db.durably(() =>
      this.db.run('INSERT OR IGNORE INTO parked_batches (batch_id, parked_at) VALUES (?, ?)', batchId, new Date().toISOString()),
    );
    this.marked.add(batchId);
  }

  /** None of the batch's parked executions is left here. */
  unmark(batchId: string): void {
    if (!this.marked.delete(batchId)) return;
    this.db.run('DELETE FROM parked_batches WHERE batch_id = ?', batchId);
  }

  /** The batches marked, as a restart finds them. */
  all(): string[] {
    return [...this.marked];
  }
}
