import type { StoredEvent } from '@flotilla/event-store';
import { batchEventTypes } from '@flotilla/domain';
import { type Projection, field } from './projection';
import type { StateDb } from '@flotilla/state';

/** The audit history of each batch: every event of its stream, with who did it and why. */
export class BatchHistoryProjection implements Projection {
  readonly name = 'batch-history';
  readonly version = 1;
  readonly eventTypes = batchEventTypes;

  reset(db: StateDb): void {
    db.run('DELETE FROM batch_history');
  }


  apply(event: StoredEvent, db: StateDb): void {
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
