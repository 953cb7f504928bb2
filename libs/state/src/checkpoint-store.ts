import type { StateDb } from './state-db';

/** Where a consumer (a transport's group, the relay) has got to in the event stream: a global position. */
export class CheckpointStore {
  constructor(private readonly db: StateDb) {}

  get(name: string): bigint | null {
    const row = this.db.get<{ position: string }>('SELECT position FROM consumer_checkpoints WHERE name = ?', name);
    return row ? BigInt(row.position) : null;
  }

  set(name: string, position: bigint): void {
    this.db.run(
      'INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position',
      name,
      position.toString(),
    );
  }
}
