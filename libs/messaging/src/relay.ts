import { allEvents } from '@flotilla/domain';
import type { EventStore, GlobalPosition, StoredEvent, Subscription } from '@flotilla/event-store';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { CheckpointStore } from '@flotilla/state';
import { EVENTS_TOPIC, ensureTopics, type KafkaSettings } from './kafka-transport';
import { toMessage, type EventMessage } from './message';
import { RelayLease, type RelayLeaseOptions } from './relay-lease';

/** The streams published to Kafka: decisions and definitions. Item chunks and snapshots stay in the store. */
export const RELAYED_STREAM_PREFIXES = ['batch-', 'workflow-', 'webhooks-'];

const CHECKPOINT = 'relay';

/** The most events `lag` counts: past it the relay is simply far behind. */
export const RELAY_LAG_CAP = 10_000;

/**
 * The Kafka record key. A batch's events share its id as key, so they keep their order on one
 * partition, except ExecutionTriggered, keyed by execution id: dispatching needs no order, and
 * spreading a batch's executions over the partitions is what lets several executors share one
 * batch's work.
 */
export const partitionKeyOf = (message: EventMessage): string => {
  const executionId = (message.data as { executionId?: unknown } | null)?.executionId;
  return message.type === 'ExecutionTriggered' && typeof executionId === 'string' ? executionId : message.key;
};

/**
 * An event as it is published: in the current schema of its type, so downstream consumers of the
 * topic never meet an old shape, and without its store-only fields (a webhook's sealed secret:
 * whoever reads the topic must not be able to sign, nor to attack the ciphertext). Events written
 * with the current schema and nothing to withhold (nearly all) are published as they are.
 */
export const publishedFormOf = (event: StoredEvent): StoredEvent => {
  const current = allEvents.read(event);
  if (current === null) return event;
  const data = allEvents.publishable(current.type, current.data);
  if (data === event.data) return event;
  const upcast = current.data !== event.data;
  return {
    ...event,
    data,
    metadata: upcast ? { ...event.metadata, schemaVersion: allEvents.schemaVersionOf(current.type) } : event.metadata,
  };
};

/**
 * Publishes what was appended to the event store to Kafka. Services never write to both (no dual
 * writes): they append to the store, and the relay, subscribed to the store from its stored
 * checkpoint, publishes each event keyed by batch id and only then moves the checkpoint. A crash in
 * between publishes some events again on restart (consumers deduplicate by event id); nothing is
 * lost. If the broker is away, publishing fails, the subscription ends, and the relay starts again
 * from its checkpoint a moment later.
 *
 * Several processes may run it (RELAY=1 on two hosts): only the holder of the lease (./relay-lease.ts)
 * publishes, the others stand by and take over within the lease's TTL when the holder dies. A holder
 * that cannot renew in time stops publishing before its lease runs out.
 */
export class Relay {
  private subscription: Subscription | null = null;
  private producer: Producer | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private leaseTurn: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly lease: RelayLease;

  constructor(
    private readonly store: EventStore,
    private readonly kafka: Kafka,
    private readonly settings: KafkaSettings,
    private readonly checkpoints: CheckpointStore,
    private readonly onError: (error: unknown) => void = () => undefined,
    private readonly log: (message: string) => void = () => undefined,
    leaseOptions: RelayLeaseOptions = {},
  ) {
    this.lease = new RelayLease(store, settings.topic ?? EVENTS_TOPIC, leaseOptions);
  }

  /** Whether this process is the one publishing now. */
  get isLeader(): boolean {
    return this.lease.isHeld && this.subscription !== null;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await ensureTopics(this.kafka, this.settings);
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
    await this.leaseTick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    await this.leaseTurn;
    await this.subscription?.stop().catch(() => undefined);
    this.subscription = null;
    await this.lease.release(this.publishedUpTo()).catch(() => undefined);
    await this.producer?.disconnect();
    this.producer = null;
  }

  /**
   * Events in the store not yet published: those past the checkpoint that the relay publishes,
   * counted up to `cap` (a scrape must stay cheap however far behind the relay is). On a standby,
   * counted from where the lease holder last said it was.
   */
  async lag(cap = RELAY_LAG_CAP): Promise<number> {
    let count = 0;
    const after = this.publishedUpTo() ?? 'start';
    for await (const _event of this.store.readAll({ after, filter: { streamPrefixes: RELAYED_STREAM_PREFIXES }, maxCount: cap })) count++;
    return count;
  }

  /** Resolves once everything stored when it was called has been published. */
  get caughtUp(): Promise<void> {
    return this.subscription?.caughtUp ?? Promise.resolve();
  }

  /** The furthest position known published: this process's checkpoint or the lease holder's. */
  private publishedUpTo(): GlobalPosition | null {
    const own = this.checkpoints.get(CHECKPOINT) ?? null;
    const leased = this.lease.publishedUpTo;
    return own === null ? leased : leased === null || own > leased ? own : leased;
  }

  /** One turn of the lease: renew or take it, start or stop publishing accordingly, then again in a third of the TTL. */
  private leaseTick(): Promise<void> {
    this.leaseTurn = this.leaseTurn.then(async () => {
      if (this.stopped) return;
      const wasLeader = this.subscription !== null;
      let held = false;
      try {
        held = await this.lease.acquireOrRenew(this.publishedUpTo());
      } catch (error) {
        // The store is away: a holder cannot know it still holds the lease, so it stops publishing.
        this.onError(error);
      }
      if (held && !wasLeader) {
        this.log(`Relay lease taken by ${this.lease.holder}: publishing from ${String(this.publishedUpTo() ?? 'the start')}`);
        this.subscribe();
      } else if (!held && wasLeader) {
        this.log(`Relay lease lost by ${this.lease.holder}: standing by`);
        await this.unsubscribe();
      }
      if (!this.stopped) this.leaseTimer = setTimeout(() => void this.leaseTick(), Math.max(100, Math.floor(this.lease.ttlMs / 3)));
    });
    return this.leaseTurn;
  }

  private async unsubscribe(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.stop().catch(() => undefined);
  }

  private subscribe(): void {
    const topic = this.settings.topic ?? EVENTS_TOPIC;
    const subscription = this.store.subscribeToAll(
      { after: this.publishedUpTo() ?? 'start', filter: { streamPrefixes: RELAYED_STREAM_PREFIXES }, maxBatchSize: 500 },
      {
        onEvents: async (events) => {
          // Never publish past the lease: a holder paused longer than its TTL may have been replaced.
          if (!this.lease.isHeld) throw new RelayLeaseExpired();
          await this.publish(topic, events);
          const last = events[events.length - 1];
          if (last) this.checkpoints.set(CHECKPOINT, last.position);
        },
        onCheckpoint: (position) => this.checkpoints.set(CHECKPOINT, position),
        onError: (error) => {
          if (this.subscription !== subscription) return;
          this.subscription = null;
          if (error instanceof RelayLeaseExpired) return;
          this.onError(error);
          if (!this.stopped) this.restartTimer = setTimeout(() => this.resubscribe(), 1000);
        },
      },
    );
    this.subscription = subscription;
    subscription.caughtUp.catch(() => undefined);
  }

  private resubscribe(): void {
    if (!this.stopped && this.subscription === null && this.lease.isHeld) this.subscribe();
  }

  private async publish(topic: string, events: readonly StoredEvent[]): Promise<void> {
    if (this.producer === null) throw new Error('The relay is not started');
    await this.producer.send({
      topic,
      acks: -1,
      messages: events.map((event) => {
        const message = toMessage(publishedFormOf(event));
        return {
          key: partitionKeyOf(message),
          value: JSON.stringify(message),
          headers: { 'event-type': message.type, 'event-id': message.id },
        };
      }),
    });
  }
}

/** The lease ran out before a batch could be published: stop, the lease turn decides what next. */
class RelayLeaseExpired extends Error {
  override readonly name = 'RelayLeaseExpired';
  constructor() {
    super('The relay lease expired before publishing');
  }
}
