import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BatchRepository, ItemsReader, newId } from '@flotilla/application';
import { isBatch, type Batch } from '@flotilla/domain';
import { type EventMessage, type MessageConsumer, type MessageTransport } from '@flotilla/messaging';
import { CLOCK, MESSAGE_TRANSPORT, type Clock } from '@flotilla/platform';
import { DeliveryLog } from './delivery-log';
import { isSuccess, post } from './http-post';
import { SIGNATURE_HEADER } from './signature';
import { NOTIFIED_BATCH_EVENT_TYPES, webhookTypeOf, type Webhook, type WebhookEventType } from './webhook';
import { WebhookRegistry } from './webhook-registry';

/** What a webhook receives, as the JSON body of the POST. */
export interface WebhookPayload {
  /** The batch event's id: the same on every attempt and every redelivery, so receivers can deduplicate. */
  readonly id: string;
  readonly type: WebhookEventType;
  readonly occurredAt: string;
  readonly batchId: string;
  /** For `execution.*` events. */
  readonly executionId?: string;
  /** The batch's metadata; for an execution, merged with its item's metadata (the item's wins). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The batch event's data, as stored. */
  readonly data: unknown;
}

export interface NotifierOptions {
  /** Attempts per delivery, the first included. Default 5. */
  readonly maxAttempts?: number;
  /** Wait before the second attempt, doubled before each further one (1 s, 2 s, 4 s, 8 s by default). */
  readonly baseDelayMs?: number;
  /** An attempt without a response by then has failed. Default 10 s. */
  readonly timeoutMs?: number;
  /** Messages handled at once (messages of one batch are handled in order, one at a time). Default 32. */
  readonly concurrency?: number;
}

export const NOTIFIER_OPTIONS = Symbol('NotifierOptions');
export const NOTIFIER_GROUP = 'notifier';

const DEFAULTS: Required<NotifierOptions> = { maxAttempts: 5, baseDelayMs: 1000, timeoutMs: 10_000, concurrency: 32 };

/** The fields of the batch events the notifier consumes that it reads (execution events carry both optional ones). */
interface NotifiedEventData {
  readonly batchId: string;
  readonly executionId?: string;
  readonly index?: number;
}

/**
 * Sends each batch event to the webhooks subscribed to it. Consumes the batch events from the
 * message transport; for each one, POSTs a signed payload to every matching webhook, concurrently,
 * retrying with exponential backoff, and records every attempt on the webhook's delivery log.
 *
 * A message is finished only when every delivery for it has been delivered or given up; until
 * then the transport does not commit past it, so a restart sends it again (at least once: the
 * payload's `id` lets receivers drop the duplicate).
 */
@Injectable()
export class Notifier implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(Notifier.name);
  private readonly policy: Required<NotifierOptions>;
  private readonly shutdown = new AbortController();
  private consumer: MessageConsumer | null = null;

  constructor(
    private readonly registry: WebhookRegistry,
    private readonly deliveryLog: DeliveryLog,
    private readonly batches: BatchRepository,
    private readonly items: ItemsReader,
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() @Inject(NOTIFIER_OPTIONS) options: NotifierOptions | null,
  ) {
    this.policy = {
      maxAttempts: options?.maxAttempts ?? DEFAULTS.maxAttempts,
      baseDelayMs: options?.baseDelayMs ?? DEFAULTS.baseDelayMs,
      timeoutMs: options?.timeoutMs ?? DEFAULTS.timeoutMs,
      concurrency: options?.concurrency ?? DEFAULTS.concurrency,
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    this.consumer = await this.transport.consume(
      { group: NOTIFIER_GROUP, eventTypes: NOTIFIED_BATCH_EVENT_TYPES, ordering: 'key', concurrency: this.policy.concurrency },
      (message) => this.handle(message),
    );
  }

  /**
   * Runs before the shared store closes. The consumer is told to stop first, so that the messages
   * whose deliveries are then cut short count as interrupted (left uncommitted, sent again after a
   * restart) rather than as failed; waiting out their backoff could take a minute.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer === null) return;
    const stopped = consumer.stop();
    this.shutdown.abort(new Error('The notifier is shutting down; the message will be delivered again after a restart'));
    await stopped;
  }

  private async handle(message: EventMessage): Promise<void> {
    const type = webhookTypeOf(message.type);
    if (type === undefined) return;
    const subscribed = (await this.registry.list()).filter((webhook) => webhook.events.includes(type));
    // Most events interest no webhook: decide that before loading the batch.
    if (subscribed.length === 0) return;
    const data = message.data as NotifiedEventData;
    // The batch as it is now, not as it was at the event: only its settings are used, and they never change.
    const batch = await this.batches.load(data.batchId);
    if (!isBatch(batch)) throw new Error(`Batch ${data.batchId} of event ${message.id} does not exist`);
    const targets = subscribed.filter((webhook) => webhook.workflowId === null || webhook.workflowId === batch.settings.workflowId);
    if (targets.length === 0) return;

    const payload: WebhookPayload = {
      id: message.id,
      type,
      occurredAt: message.occurredAt,
      batchId: data.batchId,
      ...(data.executionId === undefined ? {} : { executionId: data.executionId }),
      metadata: await this.metadataOf(batch, data.index),
      data: message.data,
    };
    const body = JSON.stringify(payload);
    const results = await Promise.allSettled(targets.map((webhook) => this.deliver(webhook, payload, body)));
    const failure = results.find((result) => result.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }

  private async metadataOf(batch: Batch, index: number | undefined): Promise<Readonly<Record<string, string>>> {
    if (index === undefined) return batch.settings.metadata;
    const item = await this.items.get(batch.items, index);
    return { ...batch.settings.metadata, ...item.metadata };
  }

  /**
   * Attempts one delivery until a 2xx or `maxAttempts`. Resolves either way (a given-up delivery
   * is recorded, not retried forever); rejects only when the attempt cannot be recorded or the
   * notifier is shutting down, so that the message is handled again.
   */
  private async deliver(webhook: Webhook, payload: WebhookPayload, body: string): Promise<void> {
    const signal = this.shutdown.signal;
    const deliveryId = newId('dlv', this.clock.now().getTime());
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      const headers = {
        'Content-Type': 'application/json',
        // Signed afresh each attempt: the timestamp is part of the signature and receivers reject old ones.
        [SIGNATURE_HEADER]: this.registry.sign(webhook.id, Math.floor(this.clock.now().getTime() / 1000), body),
        'X-Webhook-Id': webhook.id,
        'X-Event-Id': payload.id,
      };
      const outcome = await post(webhook.url, body, headers, this.policy.timeoutMs, signal);
      // Cut short by the shutdown: not an outcome of the receiver's, so not recorded.
      signal.throwIfAborted();
      const delivered = isSuccess(outcome);
      const retry = !delivered && attempt < this.policy.maxAttempts;
      const delayMs = this.policy.baseDelayMs * 2 ** (attempt - 1);
      const now = this.clock.now();
      await this.deliveryLog.record({
        webhookId: webhook.id,
        deliveryId,
        eventId: payload.id,
        eventType: payload.type,
        batchId: payload.batchId,
        ...(payload.executionId === undefined ? {} : { executionId: payload.executionId }),
        attempt,
        ...(outcome.statusCode === undefined ? {} : { statusCode: outcome.statusCode }),
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
        durationMs: outcome.durationMs,
        delivered,
        ...(retry ? { nextAttemptAt: new Date(now.getTime() + delayMs).toISOString() } : {}),
        occurredAt: now.toISOString(),
      });
      if (delivered) return;
      if (!retry) {
        this.logger.warn(`Gave up delivering ${payload.type} ${payload.id} to webhook ${webhook.id} after ${attempt} attempts: ${outcome.error}`);
        return;
      }
      await sleep(delayMs, undefined, { signal });
    }
  }
}
