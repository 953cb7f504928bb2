import { type StateDb } from '@flotilla/state';
import { type AnyWebhookEventType } from '@flotilla/domain';

/** A delivery to enqueue: one event for one webhook, with its body as it will be signed and sent. */
export interface NewDelivery {
  readonly webhookId: string;
  readonly eventId: string;
  readonly deliveryId: string;
  readonly eventType: AnyWebhookEventType;
  readonly batchId: string;
  readonly executionId: string | null;
  readonly body: string;
}

/** A queued delivery: `attempts` made (and recorded) so far, and when the next one is due. */
export interface QueuedDelivery extends NewDelivery {
  readonly seq: number;
  readonly attempts: number;
  readonly dueAt: number;
}

/** A lane: the deliveries of one batch to one webhook, which go one at a time in event order. */
export interface LaneHead {
  readonly webhookId: string;
  readonly batchId: string;
  readonly dueAt: number;
}

/**
 * Enqueued keys are remembered this long after the latest enqueue (not after now: a process down for a month
 * still recognises its redeliveries).
 */
const KEY_RETENTION_MS = 7 * 24 * 3600 * 1000;

interface Row {
  seq: number;
  webhook_id: string;
  event_id: string;
  delivery_id: string;
  event_type: AnyWebhookEventType;
  batch_id: string;
  execution_id: string | null;
  body: string;
  attempts: number;
  due_at: number;
}

const deliveryOf = (row: Row): QueuedDelivery => ({
  seq: row.seq,
  webhookId: row.webhook_id,
  eventId: row.event_id,
  deliveryId: row.delivery_id,
  eventType: row.event_type,
  batchId: row.batch_id,
  executionId: row.execution_id,
  body: row.body,
  attempts: row.attempts,
  dueAt: row.due_at,
});

/**
 * The notifier's durable queue of webhook deliveries, in this process's state database. It
 * survives a crash: what was enqueued is sent after a restart. Every method is synchronous
 * (node:sqlite), so nothing interleaves with another caller between its statements.
 */
export class DeliveryQueue {
  constructor(private readonly db: StateDb) {
    this.prune();
  }

  /**
   * Enqueues the deliveries not enqueued before (by webhook and event), due at `nowMs`, in one
   * transaction: all of them or none. Returns the ones it added.
   */
  enqueue(deliveries: readonly NewDelivery[], nowMs: number): NewDelivery[] {
    return this.db.transaction(() => {
      const added: NewDelivery[] = [];
      const remember = this.db.prepare('INSERT OR IGNORE INTO webhook_delivery_keys (webhook_id, event_id, enqueued_at) VALUES (?, ?, ?)');
      for (const delivery of deliveries) {
        if (Number(remember.run(delivery.webhookId, delivery.eventId, nowMs).changes) === 0) continue;
        this.db.run(
          `INSERT INTO webhook_delivery_queue (webhook_id, event_id, delivery_id, event_type, batch_id, execution_id, body, due_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          delivery.webhookId,
          delivery.eventId,
          delivery.deliveryId,
          delivery.eventType,
          delivery.batchId,
          delivery.executionId,
          delivery.body,
          nowMs,
        );
        added.push(delivery);
      }
      return added;
    });
  }

  /** The head of every non-empty lane, oldest first. SQLite takes the bare `due_at` from the row of `MIN(seq)`. */
  lanes(): LaneHead[] {
    return this.db
      .all<{ webhook_id: string; batch_id: string; due_at: number }>(
        'SELECT webhook_id, batch_id, MIN(seq) AS seq, due_at FROM webhook_delivery_queue GROUP BY webhook_id, batch_id ORDER BY seq',
      )
      .map((row) => ({ webhookId: row.webhook_id, batchId: row.batch_id, dueAt: row.due_at }));
  }

  /** The next delivery of a lane, or undefined when the lane is empty. */
  head(webhookId: string, batchId: string): QueuedDelivery | undefined {
    const row = this.db.get<Row>(
      'SELECT * FROM webhook_delivery_queue WHERE webhook_id = ? AND batch_id = ? ORDER BY seq LIMIT 1',
      webhookId,
      batchId,
    );
    return row === undefined ? undefined : deliveryOf(row);
  }

  /** Records that `attempts` attempts were made, and when the next one is due. */
  retryAt(seq: number, attempts: number, dueAtMs: number): void {
    this.db.run('UPDATE webhook_delivery_queue SET attempts = ?, due_at = ? WHERE seq = ?', attempts, dueAtMs, seq);
  }

  /** Delivered or given up: out of the queue. Its key stays, so a redelivered event does not come back. */
  remove(seq: number): void {
    this.db.run('DELETE FROM webhook_delivery_queue WHERE seq = ?', seq);
  }

  /** Deliveries still queued (for one webhook, or all). */
  size(webhookId?: string): number {
    const row =
      webhookId === undefined
        ? this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM webhook_delivery_queue')
        : this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM webhook_delivery_queue WHERE webhook_id = ?', webhookId);
    return row?.n ?? 0;
  }

  /** Forgets keys enqueued a week before the latest one: far longer than any redelivery takes. */
  prune(): void {
    this.db.run(
      'DELETE FROM webhook_delivery_keys WHERE enqueued_at < (SELECT MAX(enqueued_at) FROM webhook_delivery_keys) - ?',
      KEY_RETENTION_MS,
    );
  }
}
