import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BatchCommandHandler, BatchTeams, ItemsReader, WorkflowRepository, newId } from '@flotilla/application';
import { consumeEvents, type MessageConsumer, type MessageTransport, type TypedMessage } from '@flotilla/messaging';
import { CLOCK, CONFIG, MESSAGE_TRANSPORT, type Clock, type PlatformConfig } from '@flotilla/platform';
import { extendDeliveries } from './extend-payloads';
import { DeliveryLog } from './delivery-log';
import { DeliveryQueue, type NewDelivery, type QueuedDelivery } from './delivery-queue';
import { WebhookPoster, isSuccess } from './http-post';
import {
  backoffDelay,
  extendTypeOf,
  isBatch,
  notifiedBatchEvents,
  qualifiedWorkflowId,
  webhookTypeOf,
  type Batch,
  type RegisteredEvent,
  type WebhookEventType,
  type Metadata,
} from '@flotilla/domain';
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
  readonly metadata: Metadata;
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
  /** Messages enqueued at once (messages of one batch are handled in order, one at a time). Default 32. */
  readonly concurrency?: number;
  /** Delivery attempts in flight at once, over every webhook. Default 64. */
  readonly deliveryConcurrency?: number;
  /** Delivery attempts in flight at once to one webhook (each for a different batch). Default 8. */
  readonly webhookConcurrency?: number;
}

export const NOTIFIER_OPTIONS = Symbol('NotifierOptions');
export const NOTIFIER_GROUP = 'notifier';

const DEFAULTS: Required<NotifierOptions> = {
  maxAttempts: 5,
  baseDelayMs: 1000,
  timeoutMs: 10_000,
  concurrency: 32,
  deliveryConcurrency: 64,
  webhookConcurrency: 8,
};

/**
 * After a failure that is not the receiver's (the delivery log or the queue could not be written), a lane is
 * tried again this much later.
 */
const RETRY_LANE_MS = 1000;
/** How often enqueued keys older than their retention are forgotten, while running. */
const PRUNE_EVERY_MS = 3600 * 1000;

/** A batch event the notifier consumes, typed and upcast. */
type NotifiedMessage = TypedMessage<RegisteredEvent<typeof notifiedBatchEvents>>;

/** A lane in memory: the deliveries of one batch to one webhook; the rows themselves stay in the queue. */
interface Lane {
  readonly key: string;
  readonly webhookId: string;
  readonly batchId: string;
  /** When the lane's head may be attempted (its retry time, or when it was enqueued). */
  dueAt: number;
  /** An attempt of the head is in flight. */
  busy: boolean;
}

const laneKey = (webhookId: string, batchId: string): string => `${webhookId}\n${batchId}`;

/**
 * Sends each batch event to the webhooks subscribed to it, in two steps that never wait on each other.
 *
 * Enqueue: the notifier consumes the batch events from the message transport and, for each one,
 * enqueues one delivery per matching webhook in the durable queue (DeliveryQueue, in this process's
 * state database) in one transaction, idempotent by (webhook, event). Only then does the handler
 * return and the transport move past the message; from there on a crash loses nothing.
 *
 * Deliver: the queue is drained in lanes, one per webhook and batch. A lane sends its deliveries one
 * at a time in event order: a delivery waiting for its retry holds back the later ones of that lane
 * and nothing else, so a slow or failing receiver delays only its own deliveries. Each attempt POSTs
 * a signed payload, is recorded on the webhook's delivery log, and on failure is retried with
 * exponential backoff until `maxAttempts`; a delivered or given-up delivery leaves the queue.
 *
 * Concurrency is bounded twice: at most `webhookConcurrency` attempts in flight to one webhook (so
 * a burst of batches does not flood one receiver, and a hanging receiver holds at most that many
 * slots) and at most `deliveryConcurrency` over all webhooks (sockets and memory). A lane waiting
 * for its retry holds no slot. Lanes are started oldest first, skipping webhooks at their bound,
 * so the other receivers keep flowing while one sits at its bound.
 */
@Injectable()
export class Notifier implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(Notifier.name);
  private readonly policy: Required<NotifierOptions>;
  private readonly shutdown = new AbortController();
  private consumer: MessageConsumer | null = null;
  private stopping = false;
  /** Every non-empty lane, in the order they became non-empty. */
  private readonly lanes = new Map<string, Lane>();
  private readonly inFlightByWebhook = new Map<string, number>();
  private readonly attempts = new Set<Promise<void>>();
  private pumpScheduled = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly registry: WebhookRegistry,
    private readonly deliveryLog: DeliveryLog,
    private readonly queue: DeliveryQueue,
    private readonly batches: BatchCommandHandler,
    private readonly items: ItemsReader,
    @Inject(MESSAGE_TRANSPORT) private readonly transport: MessageTransport,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() @Inject(NOTIFIER_OPTIONS) options: NotifierOptions | null,
    private readonly workflows: WorkflowRepository,
    @Inject(CONFIG) private readonly config: PlatformConfig,
    private readonly poster: WebhookPoster,
    private readonly batchTeams: BatchTeams,
  ) {
    this.policy = {
      maxAttempts: options?.maxAttempts ?? DEFAULTS.maxAttempts,
      baseDelayMs: options?.baseDelayMs ?? DEFAULTS.baseDelayMs,
      timeoutMs: options?.timeoutMs ?? DEFAULTS.timeoutMs,
      concurrency: options?.concurrency ?? DEFAULTS.concurrency,
      deliveryConcurrency: options?.deliveryConcurrency ?? DEFAULTS.deliveryConcurrency,
      webhookConcurrency: options?.webhookConcurrency ?? DEFAULTS.webhookConcurrency,
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    // What was queued before a stop or a crash goes first: its lanes are older than any new one.
    for (const head of this.queue.lanes()) this.addLane(head.webhookId, head.batchId, head.dueAt);
    this.schedulePump();
    this.pruneTimer = setInterval(() => this.queue.prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    this.consumer = await consumeEvents(
      this.transport,
      { group: NOTIFIER_GROUP, events: notifiedBatchEvents, ordering: 'key', concurrency: this.policy.concurrency },
      (message) => this.enqueue(message),
    );
  }

  /**
   * Runs before the shared store and state database close. The consumer stops first (its handlers
   * only enqueue, so that is quick); then the attempts in flight are cut short. Such an attempt is
   * not an outcome of the receiver's, so it is not recorded and its delivery stays queued, to be
   * sent after a restart; waiting out the timeouts could take a while.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    const consumer = this.consumer;
    this.consumer = null;
    const stopped = consumer?.stop();
    this.shutdown.abort(new Error('The notifier is shutting down; the delivery stays queued'));
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    await stopped;
    await Promise.allSettled([...this.attempts]);
    this.poster.close();
  }

  /**
   * The message handler: enqueues the event's deliveries and returns, so the transport can move on.
   * A `flotilla` webhook gets the event as it is; an `extend` webhook gets a workflow run per run
   * the event concerns (see extend-payloads.ts).
   */
  private async enqueue(message: NotifiedMessage): Promise<void> {
    const type = webhookTypeOf(message.type);
    const extendType = extendTypeOf(message.type);
    const subscribed = (await this.registry.list()).filter((webhook) =>
      webhook.format === 'extend'
        ? extendType !== undefined && webhook.events.includes(extendType)
        : type !== undefined && webhook.events.includes(type),
    );
    // Most events interest no webhook: decide that before loading the batch.
    if (subscribed.length === 0) return;
    // Execution events name their execution; batch events do not.
    const data: { batchId: string; executionId?: string; index?: number } = message.data;
    // The batch as it is now, not as it was at the event: only its settings are used, and they never change.
    const batch = await this.batches.load(data.batchId);
    if (!isBatch(batch)) throw new Error(`Batch ${data.batchId} of event ${message.id} does not exist`);
    // A webhook hears only its own team's batches, whichever workflow it names. It names the workflow
    // as its team does: `onboard` is the team's `alpha:onboard` (ids are per team), or a workflow stored
    // bare (the default team's, or one from before ids were per team).
    const team = await this.batchTeams.teamOf(data.batchId);
    const { workflowId } = batch.settings;
    const targets = subscribed.filter(
      (webhook) =>
        this.registry.teamOfListed(webhook) === team &&
        (webhook.workflowId === null || webhook.workflowId === workflowId || qualifiedWorkflowId(team, webhook.workflowId) === workflowId),
    );
    if (targets.length === 0) return;

    const now = this.clock.now().getTime();
    const deliveries: NewDelivery[] = [];
    const flotillaTargets = targets.filter((webhook) => webhook.format !== 'extend');
    if (type !== undefined && flotillaTargets.length > 0) {
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
      for (const webhook of flotillaTargets) {
        deliveries.push({
          webhookId: webhook.id,
          eventId: message.id,
          deliveryId: newId('dlv', now),
          eventType: type,
          batchId: data.batchId,
          executionId: data.executionId ?? null,
          body,
        });
      }
    }
    const extendTargets = targets.filter((webhook) => webhook.format === 'extend');
    if (extendTargets.length > 0) {
      const runs = await extendDeliveries(message, batch, {
        items: this.items,
        workflows: this.workflows,
        publicUrl: this.config.publicUrl,
      });
      for (const webhook of extendTargets) {
        for (const run of runs) {
          deliveries.push({
            webhookId: webhook.id,
            eventId: run.eventId,
            deliveryId: newId('dlv', now),
            eventType: run.eventType,
            batchId: data.batchId,
            executionId: run.executionId,
            body: run.body,
          });
        }
      }
    }
    for (const added of this.queue.enqueue(deliveries, now)) this.addLane(added.webhookId, added.batchId, now);
    this.schedulePump();
  }

  private async metadataOf(batch: Batch, index: number | undefined): Promise<Metadata> {
    if (index === undefined) return batch.settings.metadata;
    const item = await this.items.get(batch.items, index);
    return { ...batch.settings.metadata, ...item.metadata };
  }

  /** A lane already known keeps its head and due time: what was just enqueued queues behind them. */
  private addLane(webhookId: string, batchId: string, dueAt: number): void {
    const key = laneKey(webhookId, batchId);
    if (!this.lanes.has(key)) this.lanes.set(key, { key, webhookId, batchId, dueAt, busy: false });
  }

  /** Coalesces the pumps asked for in one turn (a message's enqueue, a burst of finished attempts) into one pass. */
  private schedulePump(): void {
    if (this.pumpScheduled || this.stopping) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Starts every lane whose head is due, within the bounds; wakes again at the next due time. */
  private pump(): void {
    if (this.stopping) return;
    const now = this.clock.now().getTime();
    let nextDue = Infinity;
    for (const lane of this.lanes.values()) {
      // Full: a finished attempt pumps again, and recomputes the next due time then.
      if (this.attempts.size >= this.policy.deliveryConcurrency) break;
      if (lane.busy) continue;
      if (lane.dueAt > now) {
        nextDue = Math.min(nextDue, lane.dueAt);
        continue;
      }
      if ((this.inFlightByWebhook.get(lane.webhookId) ?? 0) >= this.policy.webhookConcurrency) continue;
      this.start(lane);
    }
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    if (nextDue === Infinity) return;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = null;
        this.pump();
      },
      Math.max(0, nextDue - now),
    );
  }

  private start(lane: Lane): void {
    lane.busy = true;
    this.inFlightByWebhook.set(lane.webhookId, (this.inFlightByWebhook.get(lane.webhookId) ?? 0) + 1);
    const attempt: Promise<void> = this.attemptHead(lane)
      .catch((error: unknown) => {
        if (this.shutdown.signal.aborted) return;
        this.logger.warn({
          msg: `Delivering to webhook ${lane.webhookId} failed, trying again in ${RETRY_LANE_MS} ms: ${String(error)}`,
          webhookId: lane.webhookId,
          batchId: lane.batchId,
        });
        lane.dueAt = this.clock.now().getTime() + RETRY_LANE_MS;
      })
      .finally(() => {
        lane.busy = false;
        const left = (this.inFlightByWebhook.get(lane.webhookId) ?? 1) - 1;
        if (left === 0) this.inFlightByWebhook.delete(lane.webhookId);
        else this.inFlightByWebhook.set(lane.webhookId, left);
        this.attempts.delete(attempt);
        this.schedulePump();
      });
    this.attempts.add(attempt);
  }

  /**
   * Makes one attempt of the lane's head, records it, and moves the lane on: to the retry time, or
   * (delivered or given up) to the next delivery, dropping the lane when it is empty.
   *
   * The attempt is recorded on the delivery log before the queue notes it; a crash between the two
   * makes the attempt again after the restart, under the same number (at least once, as before).
   */
  private async attemptHead(lane: Lane): Promise<void> {
    const delivery = this.queue.head(lane.webhookId, lane.batchId);
    if (delivery === undefined) {
      this.lanes.delete(lane.key);
      return;
    }
    const signal = this.shutdown.signal;
    const webhook = await this.registry.get(delivery.webhookId);
    signal.throwIfAborted();
    const attempt = delivery.attempts + 1;
    const headers = {
      'Content-Type': 'application/json',
      // Signed afresh each attempt: the timestamp is part of the signature and receivers reject old ones.
      ...this.registry.signatureHeaders(webhook, Math.floor(this.clock.now().getTime() / 1000), delivery.body),
      'X-Webhook-Id': webhook.id,
      'X-Event-Id': delivery.eventId,
    };
    const outcome = await this.poster.post(webhook.url, delivery.body, headers, this.policy.timeoutMs, signal);
    // Cut short by the shutdown: not an outcome of the receiver's, so not recorded; it stays queued.
    signal.throwIfAborted();
    const delivered = isSuccess(outcome);
    const retry = !delivered && attempt < this.policy.maxAttempts;
    const now = this.clock.now();
    const nextAttemptAt = now.getTime() + this.backoffMs(attempt);
    // The queue counts the attempt before the log records it: a crash in between then loses a log
    // line, never the count, so attempts go on from the right number (and maxAttempts holds) after
    // a restart. The other way round, the log already showed attempt N when the restart made it again.
    if (retry) this.queue.retryAt(delivery.seq, attempt, nextAttemptAt);
    await this.deliveryLog.record({
      ...aboutDelivery(delivery),
      attempt,
      ...(outcome.statusCode === undefined ? {} : { statusCode: outcome.statusCode }),
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      durationMs: outcome.durationMs,
      delivered,
      ...(retry ? { nextAttemptAt: new Date(nextAttemptAt).toISOString() } : {}),
      occurredAt: now.toISOString(),
    });
    // Ids and the outcome only: the body carries the batch's metadata and outputs, never logged.
    this.logger.debug({
      msg:
        `Delivery ${delivery.deliveryId} of ${delivery.eventType} to webhook ${delivery.webhookId}, attempt ${attempt}: ` +
        (delivered ? 'delivered' : (outcome.error ?? `HTTP ${outcome.statusCode}`)),
      ...aboutDelivery(delivery),
      attempt,
      statusCode: outcome.statusCode ?? null,
      durationMs: outcome.durationMs,
      delivered,
    });
    if (retry) {
      // The pump that follows every attempt arms the wake-up for it.
      lane.dueAt = nextAttemptAt;
      return;
    }
    if (!delivered) this.giveUp(delivery, attempt, outcome.error);
    this.queue.remove(delivery.seq);
    const next = this.queue.head(lane.webhookId, lane.batchId);
    if (next === undefined) this.lanes.delete(lane.key);
    else lane.dueAt = next.dueAt;
  }

  /** The domain's backoff: `baseDelayMs` before the second attempt, doubled before each further one. */
  private backoffMs(attempt: number): number {
    return backoffDelay(attempt, { baseMs: this.policy.baseDelayMs });
  }

  private giveUp(delivery: QueuedDelivery, attempts: number, error: string | undefined): void {
    this.logger.warn({
      msg:
        `Gave up delivering ${delivery.eventType} ${delivery.eventId} to webhook ${delivery.webhookId} ` +
        `after ${attempts} attempts: ${error}`,
      ...aboutDelivery(delivery),
      attempts,
    });
  }
}

/** The fields of a log line about a delivery: which webhook, event, batch and execution. */
const aboutDelivery = (delivery: QueuedDelivery) => ({
  webhookId: delivery.webhookId,
  deliveryId: delivery.deliveryId,
  eventId: delivery.eventId,
  eventType: delivery.eventType,
  batchId: delivery.batchId,
  ...(delivery.executionId === null ? {} : { executionId: delivery.executionId }),
});
