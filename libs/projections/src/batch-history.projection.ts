import type { StoredEvent } from '@flotilla/event-store';
import { batchEventTypes } from '@flotilla/domain';
import { type Projection, field } from './projection';
import type { ReadModelDb } from './read-model-db';

/** The audit history of each batch: every event of its stream, with who did it and why. */
export class BatchHistoryProjection implements Projection {
  readonly name = 'batch-history';
  readonly version = 1;
  readonly eventTypes = batchEventTypes;

  setup(db: ReadModelDb): void {
    db.db.exec(`
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
    `);
  }

  reset(db: ReadModelDb): void {
    db.db.exec('DROP TABLE IF EXISTS batch_history');
  }

  apply(event: StoredEvent, db: ReadModelDb): void {
    if (!event.streamName.startsWith('batch-')) return;
    db.run(
      'INSERT OR IGNORE INTO batch_history (batch_id, position, type, occurred_at, actor, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
      field<string>(event, 'batchId'),
      positionKey(event.position),
      event.type,
      field<string>(event, 'occurredAt') ?? event.recordedAt.toISOString(),
      field<string | undefined>(event, 'actor') ?? event.metadata.actor ?? null,
      field<string | undefined>(event, 'reason') ?? event.metadata.reason ?? null,
      JSON.stringify(event.data),
    );
  }
}

/** Positions are stored as fixed-width decimal text so they sort as numbers (they may exceed 64 bits). */
export const positionKey = (position: bigint): string => position.toString().padStart(40, '0');
