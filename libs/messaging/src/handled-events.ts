import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Remembers which events a consumer group has handled, so a message delivered again (after a
 * crash, a rebalance or a relay that published twice) is skipped: every consumer is idempotent by
 * event id, whatever its handler does. Kept in the process's state database; both transports use it.
 */
export class HandledEvents {
  private readonly has: StatementSync;
  private readonly add: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS handled_events (grp TEXT NOT NULL, event_id TEXT NOT NULL, handled_at INTEGER NOT NULL, PRIMARY KEY (grp, event_id)) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS handled_events_by_time ON handled_events (handled_at);`);
    // A week is far longer than any redelivery takes.
    db.prepare('DELETE FROM handled_events WHERE handled_at < ?').run(Date.now() - 7 * 24 * 3600 * 1000);
    this.has = db.prepare('SELECT 1 FROM handled_events WHERE grp = ? AND event_id = ?');
    this.add = db.prepare('INSERT OR IGNORE INTO handled_events (grp, event_id, handled_at) VALUES (?, ?, ?)');
  }

  seen(group: string, id: string): boolean {
    return this.has.get(group, id) !== undefined;
  }

  remember(group: string, id: string): void {
    this.add.run(group, id, Date.now());
  }
}
