import { INVALID_CURSOR_MESSAGE, RuleViolation, decodePageCursor, encodePageCursor, webhookDeliveryEvents } from '@flotilla/domain';
import { type EventStore } from '@flotilla/event-store';
import { type WebhookDeliveryAttempted } from '@flotilla/domain';
import { deliveriesStream } from './webhook-streams';
import type { DeliveryAttemptResponse } from './webhooks.dto';

/**
 * One delivery attempt as the API shows it (absent facts are null, so every item has the same shape): its one
 * shape is the response class.
 */
export type DeliveryAttempt = Readonly<DeliveryAttemptResponse>;

export interface DeliveryPage {
  readonly items: readonly DeliveryAttempt[];
  /** Pass it back as `cursor` for the next (older) page; null when there is none. */
  readonly nextCursor: string | null;
}

export const DEFAULT_DELIVERY_PAGE = 50;
export const MAX_DELIVERY_PAGE = 200;

/**
 * The delivery attempts of each webhook, on `webhookdeliveries-<webhookId>`. Read newest first:
 * whoever looks at deliveries is asking what happened lately. The cursor (a page cursor, opaque to
 * clients) holds the stream revision of the last item returned; revisions never change, so paging
 * stays exact while new attempts arrive (they land before the first page, not inside the one being read).
 */
export class DeliveryLog {
  constructor(private readonly store: EventStore) {}

  async record(attempt: WebhookDeliveryAttempted['data']): Promise<void> {
    const event: WebhookDeliveryAttempted = { type: 'WebhookDeliveryAttempted', data: attempt };
    await this.store.appendToStream(deliveriesStream(attempt.webhookId), [event]);
  }

  /** Attempts older than `cursor` (all when absent), newest first. `RuleViolation` for a bad limit or cursor. */
  async read(webhookId: string, page: { limit?: number; cursor?: string } = {}): Promise<DeliveryPage> {
    const limit = page.limit ?? DEFAULT_DELIVERY_PAGE;
    const problems = [];
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DELIVERY_PAGE) {
      problems.push({
        code: 'invalid_limit',
        field: 'limit',
        message: `limit must be an integer from 1 to ${MAX_DELIVERY_PAGE}, not ${limit}`,
      });
    }
    const before = page.cursor === undefined ? undefined : revisionOf(page.cursor);
    if (before === null) problems.push({ code: 'invalid_cursor', field: 'cursor', message: INVALID_CURSOR_MESSAGE });
    if (problems.length > 0 || before === null) throw new RuleViolation('The page request is invalid', problems);
    if (before === 0) return { items: [], nextCursor: null };

    const items: DeliveryAttempt[] = [];
    let lastRevision = -1;
    let more = false;
    // One more than asked for says whether there is a next page without a second read.
    const events = this.store.readStream(deliveriesStream(webhookId), {
      direction: 'backwards',
      fromRevision: before === undefined ? 'end' : before - 1,
      maxCount: limit + 1,
    });
    for await (const event of events) {
      if (items.length === limit) {
        more = true;
        break;
      }
      // This class is the stream's only writer: every event on it is an attempt.
      const attempt = webhookDeliveryEvents.read(event);
      if (attempt !== null) items.push(attemptOf(attempt.data));
      lastRevision = event.revision;
    }
    return { items, nextCursor: more ? encodePageCursor(lastRevision) : null };
  }
}

/** The stream revision a cursor stands for; null when it is not a cursor this log handed out. */
const revisionOf = (cursor: string): number | null => {
  const position = decodePageCursor(cursor);
  return position !== null && Number.isSafeInteger(Number(position)) ? Number(position) : null;
};

const attemptOf = (data: WebhookDeliveryAttempted['data']): DeliveryAttempt => ({
  deliveryId: data.deliveryId,
  eventId: data.eventId,
  eventType: data.eventType,
  batchId: data.batchId,
  executionId: data.executionId ?? null,
  attempt: data.attempt,
  statusCode: data.statusCode ?? null,
  error: data.error ?? null,
  delivered: data.delivered,
  durationMs: data.durationMs,
  occurredAt: data.occurredAt,
  nextAttemptAt: data.nextAttemptAt ?? null,
});
