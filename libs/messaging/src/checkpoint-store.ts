import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { GlobalPosition } from '@flotilla/event-store';

/** Where a consumer group has got to in the event stream; kept in the process's local SQLite database. */
export class SqliteCheckpointStore {
  private readonly read: StatementSync;
  private readonly write: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec('CREATE TABLE IF NOT EXISTS consumer_checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL)');
    this.read = db.prepare('SELECT position FROM consumer_checkpoints WHERE name = ?');
    this.write = db.prepare(
      'INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position',
    );
  }

  get(name: string): GlobalPosition | null {
    const row = this.read.get(name) as { position: string } | undefined;
    return row ? BigInt(row.position) : null;
  }

  set(name: string, position: GlobalPosition): void {
    this.write.run(name, position.toString());
  }
}
