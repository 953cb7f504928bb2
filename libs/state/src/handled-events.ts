import type { StateDb } from './state-db';

/** A week is far longer than any redelivery takes. */
const IDS_PER_QUERY = 500;

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

  /** Of `ids`, the ones the group has handled: one query per few hundred, for a batch of messages at once. */
  handledAmong(group: string, ids: readonly string[]): ReadonlySet<string> {
    const handled = new Set<string>();
    for (const id of ids) if (this.pending.has(`${group}\u0000${id}`)) handled.add(id);
    for (let from = 0; from < ids.length; from += IDS_PER_QUERY) {
      const chunk = ids.slice(from, from + IDS_PER_QUERY);
      const rows = this.db.all<{ event_id: string }>(
        `SELECT event_id FROM handled_events WHERE grp = ? AND event_id IN (${chunk.map(() => '?').join(', ')})`,
        group,
        ...chunk,
      );
      for (const row of rows) handled.add(row.event_id);
    }
    return handled;
  }

  remember(group: string, id: string): void {
    this.pending.add(`${group}\u0000${id}`);
    this.db.later('INSERT OR IGNORE INTO handled_events (grp, event_id, handled_at) VALUES (?, ?, ?)', group, id, Date.now());
    if (!this.flushing) {
      this.flushing = true;
      // Once the state database has applied them, they are in the table.
      this.db.afterFlush(() => {
        this.flushing = false;
        this.pending.clear();
      });
    }
  }
}
