import type { StateDb } from './state-db';

/** A week is far longer than any redelivery takes. */
const RETENTION_MS = 7 * 24 * 3600 * 1000;

/**
 * Remembers which events a consumer group has handled, so a message delivered again (after a
 * crash, a rebalance or a relay that published twice) is skipped: every consumer is idempotent by
 * event id, whatever its handler does. Both transports use it.
 */
export class HandledEvents {
  /** Remembered but not yet written (the writes are batched: see StateDb.later). */
  private readonly pending = new Set<string>();
  private flushing = false;

  constructor(
    private readonly db: StateDb,
    now = Date.now(),
  ) {
    db.run('DELETE FROM handled_events WHERE handled_at < ?', now - RETENTION_MS);
  }

  seen(group: string, id: string): boolean {
    return (
      this.pending.has(`${group}\u0000${id}`) ||
      this.db.get('SELECT 1 FROM handled_events WHERE grp = ? AND event_id = ?', group, id) !== undefined
    );
  }

  remember(group: string, id: string): void {
    this.pending.add(`${group}\u0000${id}`);
    this.db.later('INSERT OR IGNORE INTO handled_events (grp, event_id, handled_at) VALUES (?, ?, ?)', group, id, Date.now());
    if (!this.flushing) {
      this.flushing = true;
      // After the state database's own flush (scheduled by `later` before this): then they are in the table.
      setImmediate(() => {
        this.flushing = false;
        this.pending.clear();
      });
    }
  }
}
