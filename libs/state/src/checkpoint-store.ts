import type { StateDb } from './state-db';

/**
 * Where a consumer (a transport's group, the relay) has got to in the event stream: a global position.
 * Moved once per message or so, so the writes are batched (StateDb.later); what this process set is
 * remembered here, so reads never see an older position than the last one set.
 */
export class CheckpointStore {
  private readonly latest = new Map<string, bigint>();

  constructor(private readonly db: StateDb) {}

  get(name: string): bigint | null {
    const known = this.latest.get(name);
    if (known !== undefined) return known;
    const row = this.db.get<{ position: string }>('SELECT position FROM consumer_checkpoints WHERE name = ?', name);
    return row ? BigInt(row.position) : null;
  }

  set(name: string, position: bigint): void {
    this.latest.set(name, position);
    this.db.laterReplacing(
      `checkpoint:${name}`,
      'INSERT INTO consumer_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position',
      name,
      position.toString(),
    );
  }
}
