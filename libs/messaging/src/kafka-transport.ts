import { Kafka, Partitioners, logLevel, type Admin, type Consumer, type EachBatchPayload, type KafkaMessage, type Producer } from 'kafkajs';
import type { HandledEvents } from '@flotilla/state';
import { deliverOnce, handleWithRetries } from './message-processing';
import type { ConsumeOptions, DeadLetter, EventMessage, MessageConsumer, MessageHandler, MessageTransport } from './message';
import { OrderedWindow } from './ordered-window';
import { consoleKafkaLog, kafkaLogCreator, patchKafkajsRequestQueue, type KafkaLog } from './kafkajs-quirks';

export interface KafkaSettings {
  readonly brokers: readonly string[];
  /** Names this process to the brokers (logs, quotas). */
  readonly clientId: string;
  readonly topic?: string;
  /** Partitions of the topics this process creates; default 6 (DEFAULT_TOPIC_SETTINGS). */
  readonly partitions?: number;
  /** Replicas of each partition of the topics this process creates; default 1, a single broker. */
  readonly replicationFactor?: number;
  /** `retention.ms` of the events topic when this process creates it; -1 keeps records forever. */
  readonly retentionMs?: number;
  /** `retention.ms` of the dead-letter topic when this process creates it; -1 keeps records forever. */
  readonly deadLetterRetentionMs?: number;
  /** Consumer group ids are `<groupPrefix>.<group>`; default `flotilla`. */
  readonly groupPrefix?: string;
  /** First delay between a handler's attempts; doubled each time. */
  readonly retryBaseDelayMs?: number;
  /** Where kafkajs' log lines go (by default JSON lines on the console, as kafkajs writes them). */
  readonly log?: KafkaLog;
  /**
   * How often a request or a connection is retried before it fails; default 1000 (a broker restart
   * must not end a service). A probe that must answer at once (readiness) sets 0.
   */
  readonly retries?: number;
}

/**
 * The topics' settings when configuration says nothing: 6 partitions (up to 6 members of a group
 * share the work), one replica (a single broker; a cluster wants 3), events kept 7 days (Kafka's
 * default: the event store is the truth, the topic only carries it) and dead letters 30 days (time
 * for someone to look at them).
 */
export const DEFAULT_TOPIC_SETTINGS = {
  partitions: 6,
  replicationFactor: 1,
  retentionMs: 7 * 24 * 3_600_000,
  deadLetterRetentionMs: 30 * 24 * 3_600_000,
} as const;

export const EVENTS_TOPIC = 'flotilla.events';
export const deadLetterTopic = (topic: string): string => `${topic}.dlq`;

/**
 * The kafkajs client as every part of the product configures it: reconnects for a long while (a
 * broker restart must not end a service), logs only warnings, through `settings.log`, with the broker
 * answers its callers handle (an existing topic, a coordinator not ready yet) at debug
 * (kafkajs-quirks.ts). kafkajs' request queue is patched once so it no longer spins a negative timer.
 */
export const createKafka = (settings: KafkaSettings): Kafka => {
  patchKafkajsRequestQueue();
  return new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(settings.log ?? consoleKafkaLog),
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: settings.retries ?? 1000 },
  });
};

/**
 * Creates the events topic and its dead-letter topic when they do not exist yet, with the
 * configured partitions, replication factor and retention. Every service calls this at start, so
 * several may create a topic at once: the one that loses the race gets TOPIC_ALREADY_EXISTS, which
 * kafkajs' createTopics takes as done (and its log line is at debug). An existing topic is left as
 * it is; one with fewer partitions than configured gets a warning (Kafka never removes partitions,
 * and adding them moves keys to other partitions, which breaks their order: an operator's call).
 */
export const ensureTopics = async (kafka: Kafka, settings: KafkaSettings): Promise<void> => {
  const topic = settings.topic ?? EVENTS_TOPIC;
  const partitions = settings.partitions ?? DEFAULT_TOPIC_SETTINGS.partitions;
  const wanted = [
    { topic, retentionMs: settings.retentionMs ?? DEFAULT_TOPIC_SETTINGS.retentionMs },
    { topic: deadLetterTopic(topic), retentionMs: settings.deadLetterRetentionMs ?? DEFAULT_TOPIC_SETTINGS.deadLetterRetentionMs },
  ];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter(({ topic: name }) => !existing.has(name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map(({ topic: name, retentionMs }) => ({
          topic: name,
          numPartitions: partitions,
          replicationFactor: settings.replicationFactor ?? DEFAULT_TOPIC_SETTINGS.replicationFactor,
          configEntries: [{ name: 'retention.ms', value: String(retentionMs) }],
        })),
      });
    }
    const present = wanted.filter(({ topic: name }) => existing.has(name)).map(({ topic: name }) => name);
    if (present.length > 0) {
      const { topics } = await admin.fetchTopicMetadata({ topics: present });
      for (const found of topics)
        if (found.partitions.length < partitions)
          kafka
            .logger()
            .namespace('Topics')
            .warn(
              `Topic ${found.name} has ${found.partitions.length} partitions, fewer than the ${partitions} configured ` +
                '(KAFKA_PARTITIONS): no more than that many members of a group share the work. It is left as it is; add partitions with ' +
                "Kafka's tools if wanted (keys then move to other partitions).",
              { topic: found.name, partitions: found.partitions.length, configured: partitions },
            );
    }
  } finally {
    await admin.disconnect();
  }
};

/**
 * The distributed transport: each consumer group is a Kafka consumer group on the events topic,
 * keyed by batch so a batch's events stay in order on one partition. kafkajs is used directly
 * rather than through the NestJS transport because the handlers need what that transport hides:
 * batch-level control to run messages concurrently while committing offsets strictly in order,
 * heartbeats during long handlers, and dead-lettering that commits past a poison message instead of
 * blocking its partition.
 */
export class KafkaTransport implements MessageTransport {
  private readonly kafka: Kafka;
  private readonly topic: string;
  private producer: Producer | null = null;
  private readonly consumers = new Set<MessageConsumer>();
  /** The consumer groups this process consumes, by their Kafka group id: what `lagByGroup` reports on. */
  private readonly groups = new Map<string, string>();
  private admin: Admin | null = null;

  constructor(
    private readonly settings: KafkaSettings,
    private readonly handled: HandledEvents,
    private readonly options: { onDeadLetter?: (letter: DeadLetter) => void } = {},
  ) {
    this.kafka = createKafka(settings);
    this.topic = settings.topic ?? EVENTS_TOPIC;
  }

  async consume(options: ConsumeOptions, handler: MessageHandler): Promise<MessageConsumer> {
    await ensureTopics(this.kafka, this.settings);
    const wanted = new Set(options.eventTypes);
    const policy = { maxAttempts: options.maxAttempts ?? 5, baseDelayMs: this.settings.retryBaseDelayMs ?? 200 };
    let stopping = false;
    let current: Consumer | null = null;
    let restartTimer: NodeJS.Timeout | null = null;
    let caughtUpResolve: () => void = () => undefined;
    const caughtUp = new Promise<void>((resolve) => (caughtUpResolve = resolve));

    const groupId = `${this.settings.groupPrefix ?? 'flotilla'}.${options.group}`;
    this.groups.set(options.group, groupId);
    const start = async (): Promise<void> => {
      const consumer = this.kafka.consumer({
        groupId,
        // A member that died (kill -9) is noticed within the session timeout; live members heartbeat
        // every second, and during long handlers too (processBatch), so 10 s is plenty.
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
        maxWaitTimeInMs: 50,
        allowAutoTopicCreation: false,
        retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 1000 },
      });
      current = consumer;
      consumer.on(consumer.events.GROUP_JOIN, () => caughtUpResolve());
      // kafkajs gives up on a consumer after a crash it deems not retriable, such as not finding the
      // group coordinator while the broker restarts. A service must never stop consuming: start a
      // new consumer, which resumes from the committed offsets.
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart || stopping) return;
        restartTimer = setTimeout(() => void start().catch(() => (restartTimer = setTimeout(() => void start(), 2000))), 1000);
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await consumer.run({
        eachBatchAutoResolve: false,
        autoCommitInterval: 200,
        partitionsConsumedConcurrently: 6,
        eachBatch: (payload) =>
          this.processBatch(
            payload,
            options,
            wanted,
            handler,
            () => stopping,
            (message, error, attempts) =>
              this.deadLetter({ group: options.group, message, error, attempts, failedAt: new Date().toISOString() }),
            policy,
          ),
      });
    };
    await start();

    const handle: MessageConsumer = {
      caughtUp,
      stop: async () => {
        stopping = true;
        if (restartTimer) clearTimeout(restartTimer);
        this.consumers.delete(handle);
        await current?.disconnect();
      },
    };
    this.consumers.add(handle);
    return handle;
  }

  /**
   * For each consumer group of this process, the records of the events topic it has not committed
   * yet: the sum over the partitions of the end offset minus the group's committed offset (the
   * start offset where it has committed none).
   */
  async lagByGroup(): Promise<Map<string, number>> {
    if (this.admin === null) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    const admin = this.admin;
    const ends = await admin.fetchTopicOffsets(this.topic);
    const lags = new Map<string, number>();
    for (const [group, groupId] of this.groups) {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [this.topic] });
      const byPartition = new Map((committed?.partitions ?? []).map((partition) => [partition.partition, Number(partition.offset)]));
      let lag = 0;
      for (const end of ends) {
        const at = byPartition.get(end.partition) ?? -1;
        lag += Math.max(0, Number(end.high) - (at < 0 ? Number(end.low) : at));
      }
      lags.set(group, lag);
    }
    return lags;
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = null;
    await Promise.all([...this.consumers].map((consumer) => consumer.stop()));
    await this.producer?.disconnect();
    this.producer = null;
  }

  /**
   * Runs one fetched batch of a partition through an ordered window: up to `concurrency` messages at
   * once (one at a time per batch id unless ordering is 'none'), offsets resolved only up to the
   * first unfinished message, heartbeats while anything runs.
   */
  private async processBatch(
    { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload,
    options: ConsumeOptions,
    wanted: ReadonlySet<string>,
    handler: MessageHandler,
    isStopping: () => boolean,
    deadLetter: (message: EventMessage, error: string, attempts: number) => Promise<void>,
    policy: { maxAttempts: number; baseDelayMs: number },
  ): Promise<void> {
    const window = new OrderedWindow(options.concurrency ?? 1, (offset) => resolveOffset(offset.toString()));
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 1_000);
    try {
      // Every group reads the whole topic: a record whose `event-type` header (the relay sets it) names
      // a type this group does not want is passed over unparsed. Most records are another group's.
      const messages = batch.messages.map((record): { record: KafkaMessage; message: Read } => ({
        record,
        message: unwanted(record, wanted) ? UNWANTED : parse(record),
      }));
      // Which of these the group handled already: one look for the whole batch, not one per message.
      const alreadyHandled = this.handled.handledAmong(
        options.group,
        messages.flatMap(({ message }) => (message === null || message === UNWANTED || !wanted.has(message.type) ? [] : [message.id])),
      );
      for (const { record, message } of messages) {
        if (!isRunning() || isStale() || isStopping()) break;
        const offset = BigInt(record.offset);
        if (message === UNWANTED) {
          window.mark(offset);
          continue;
        }
        if (message === null) {
          // Not an event at all: nothing can handle it, so straight to the dead letters.
          await deadLetter(rawMessage(record), 'Malformed message: the value is not an event envelope (JSON with id and type)', 0);
          window.mark(offset);
          continue;
        }
        if (!wanted.has(message.type)) {
          window.mark(offset);
          continue;
        }
        await deliverOnce(window, this.handled, alreadyHandled, offset, message, options, (delivery) =>
          handleWithRetries(
            options.group,
            message,
            handler,
            policy,
            (letter) => deadLetter(letter.message, letter.error, letter.attempts),
            isStopping,
            delivery,
          ),
        );
      }
      // Deferred messages included: the next fetch of this partition waits for them to be settled, so
      // over Kafka a deferred message holds its fetched batch as a long handler would (the depth a
      // consumer holds is one fetch per partition, not `concurrency`), but costs only its entry.
      await window.drain();
      await commitOffsetsIfNecessary();
    } finally {
      clearInterval(beat);
    }
  }

  private async deadLetter(letter: DeadLetter): Promise<void> {
    this.options.onDeadLetter?.(letter);
    const producer = await this.producerOf();
    await producer.send({
      topic: deadLetterTopic(this.topic),
      acks: -1,
      messages: [
        {
          key: letter.message.key,
          value: JSON.stringify(letter),
          headers: { group: letter.group, error: letter.error.slice(0, 1000), 'event-id': letter.message.id },
        },
      ],
    });
  }

  private async producerOf(): Promise<Producer> {
    if (this.producer === null) {
      this.producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
      await this.producer.connect();
    }
    return this.producer;
  }
}

/** Stands for a record passed over on its header alone. */
const UNWANTED: unique symbol = Symbol('unwanted');

/** A record as read: an event, passed over on its header, or not an event at all. */
type Read = EventMessage | typeof UNWANTED | null;

/** The record's `event-type` header names a type outside `wanted`; a record without the header is parsed to tell. */
const unwanted = (record: KafkaMessage, wanted: ReadonlySet<string>): boolean => {
  const type = record.headers?.['event-type'];
  return type !== undefined && !Array.isArray(type) && !wanted.has(type.toString());
};

const parse = (record: KafkaMessage): EventMessage | null => {
  try {
    const value = JSON.parse(record.value?.toString() ?? '') as Partial<EventMessage> | null;
    if (value === null || typeof value !== 'object' || typeof value.id !== 'string' || typeof value.type !== 'string') return null;
    return { ...value, key: value.key ?? record.key?.toString() ?? '' } as EventMessage;
  } catch {
    return null;
  }
};

/** A stand-in envelope for a record that is not an event, so it can still be dead-lettered with its bytes. */
const rawMessage = (record: KafkaMessage): EventMessage => ({
  schemaVersion: 1,
  id: `offset-${record.offset}`,
  type: 'Unreadable',
  key: record.key?.toString() ?? '',
  stream: '',
  revision: -1,
  position: '',
  occurredAt: new Date(Number(record.timestamp)).toISOString(),
  data: record.value?.toString() ?? null,
  metadata: {},
});
