import { allEvents } from '@flotilla/domain';
import type { EventStore, StoredEvent, Subscription } from '@flotilla/event-store';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { CheckpointStore } from '@flotilla/state';
import { EVENTS_TOPIC, ensureTopics, type KafkaSettings } from './kafka-transport';
import { toMessage, type EventMessage } from './message';

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
 * An event as the current schema of its type: downstream consumers of the topic never meet an old
 * shape. Events written with the current schema (nearly all) are published as they are.
 */
export const upcastForPublishing = (event: StoredEvent): StoredEvent => {
  const current = allEvents.read(event);
  if (current === null || current.data === event.data) return event;
  return { ...event, data: current.data, metadata: { ...event.metadata, schemaVersion: allEvents.schemaVersionOf(current.type) } };
};

/**
 * Publishes what was appended to the event store to Kafka. Services never write to both (no dual
 * writes): they append to the store, and the relay, subscribed to the store from its stored
 * checkpoint, publishes each event keyed by batch id and only then moves the checkpoint. A crash in
 * between publishes some events again on restart (consumers deduplicate by event id); nothing is
 * lost. If the broker is away, publishing fails, the subscription ends, and the relay starts again
 * from its checkpoint a moment later.
 */
export class Relay {
  private subscription: Subscription | null = null;
  private producer: Producer | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly store: EventStore,
    private readonly kafka: Kafka,
    private readonly settings: KafkaSettings,
    private readonly checkpoints: CheckpointStore,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await ensureTopics(this.kafka, this.settings);
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
    this.subscribe();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.subscription?.stop().catch(() => undefined);
    this.subscription = null;
    await this.producer?.disconnect();
    this.producer = null;
  }

  /**
   * Events in the store not yet published: those past the checkpoint that the relay publishes,
   * counted up to `cap` (a scrape must stay cheap however far behind the relay is).
   */
  async lag(cap = RELAY_LAG_CAP): Promise<number> {
    let count = 0;
    const after = this.checkpoints.get(CHECKPOINT) ?? 'start';
    for await (const _event of this.store.readAll({ after, filter: { streamPrefixes: RELAYED_STREAM_PREFIXES }, maxCount: cap })) count++;
    return count;
  }

  /** Resolves once everything stored when it was called has been published. */
  get caughtUp(): Promise<void> {
    return this.subscription?.caughtUp ?? Promise.resolve();
  }

  private subscribe(): void {
    const topic = this.settings.topic ?? EVENTS_TOPIC;
    this.subscription = this.store.subscribeToAll(
      { after: this.checkpoints.get(CHECKPOINT) ?? 'start', filter: { streamPrefixes: RELAYED_STREAM_PREFIXES }, maxBatchSize: 500 },
      {
        onEvents: async (events) => {
          await this.publish(topic, events);
          const last = events[events.length - 1];
          if (last) this.checkpoints.set(CHECKPOINT, last.position);
        },
        onCheckpoint: (position) => this.checkpoints.set(CHECKPOINT, position),
        onError: (error) => {
          this.onError(error);
          this.subscription = null;
          if (!this.stopped) this.restartTimer = setTimeout(() => this.subscribe(), 1000);
        },
      },
    );
    this.subscription.caughtUp.catch(() => undefined);
  }

  private async publish(topic: string, events: readonly StoredEvent[]): Promise<void> {
    if (this.producer === null) throw new Error('The relay is not started');
    await this.producer.send({
      topic,
      acks: -1,
      messages: events.map((event) => {
        const message = toMessage(upcastForPublishing(event));
        return {
          key: partitionKeyOf(message),
          value: JSON.stringify(message),
          headers: { 'event-type': message.type, 'event-id': message.id },
        };
      }),
    });
  }
}
