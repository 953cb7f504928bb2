// The shapes of the webhook routes' answers the console reads (libs/notification/src/webhooks.dto.ts). No secret: the API never returns it.
import type { AnyWebhookEventType, WebhookFormat } from '@flotilla/domain';

export type { Page } from '../workflows/types';

export interface WebhookView {
  id: string;
  url: string;
  events: AnyWebhookEventType[];
  /** Only batches of this workflow are notified; null: every batch. */
  workflowId: string | null;
  format: WebhookFormat;
  createdAt: string;
}

/** One attempt of one delivery (an event to a webhook); GET /v1/webhooks/:id/deliveries answers them newest first. */
export interface DeliveryAttempt {
  deliveryId: string;
  eventId: string;
  eventType: AnyWebhookEventType;
  batchId: string;
  executionId: string | null;
  /** 1-based. */
  attempt: number;
  /** Null when no response arrived (timeout, connection error). */
  statusCode: number | null;
  error: string | null;
  delivered: boolean;
  durationMs: number;
  /** When the outcome of the attempt was known. */
  occurredAt: string;
  /** Null when delivered or given up. */
  nextAttemptAt: string | null;
}
