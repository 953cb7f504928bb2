import { batchEvents, type BatchEvent } from '@flotilla/domain';
import type { Recorded } from '@flotilla/event-store';
import type { Projection } from './projection';
import type { StateDb } from '@flotilla/state';

/** The audit history of each batch: every event of its stream, with who did it and why. */
export class BatchHistoryProjection implements Projection<BatchEvent> {
  readonly name = 'batch-history';
  readonly version = 1;
  readonly tables = ['batch_history'] as const;
  /** Every batch event: a new event type is in the history without a change here. */
  readonly events = batchEvents;

  reset(db: StateDb): void {
    db.run('DELETE FROM batch_history');
  }

  apply(event: Recorded<BatchEvent>, db: StateDb): void {
    if (!event.streamName.startsWith('batch-')) return;
    // Operator actions carry who and why in their data; every event may carry them in its metadata.
    const said = event.data as { readonly actor?: string; readonly reason?: string };
    db.run(
      'INSERT OR IGNORE INTO batch_history (batch_id, position, type, occurred_at, actor, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
      event.data.batchId,
      positionKey(event.position),
      event.type,
      event.data.occurredAt,
      said.actor ?? event.metadata.actor ?? null,
      said.reason ?? event.metadata.reason ?? null,
      JSON.stringify(event.data),
    );
  }
}

/** Positions are stored as fixed-width decimal text so they sort as numbers (they may exceed 64 bits). */
export const positionKey = (position: bigint): string => position.toString().padStart(40, '0');
