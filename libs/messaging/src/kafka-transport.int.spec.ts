import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '@flotilla/event-store';
import { Partitioners, type Kafka } from 'kafkajs';
import { CheckpointStore, HandledEvents, StateDb } from '@flotilla/state';
import { KafkaTransport, createKafka, deadLetterTopic, ensureTopics, type KafkaSettings } from './kafka-transport';
import type { KafkaLogEntry } from './kafkajs-quirks';
import type { DeadLetter, EventMessage } from './message';
import { Relay } from './relay';
import { until } from '@flotilla/testing/poll';
import { describeTransportContract } from './testing/transport-contract';

/** Against the real broker from the global setup (KAFKA_BROKERS). */
const brokers = (): string[] => {
  const value = process.env['KAFKA_BROKERS'];
  if (!value) throw new Error('No Kafka broker: the global setup must provide KAFKA_BROKERS');
  return value.split(',');
};

/** Everything on the dead-letter topic of `topic`, as it arrives, read by a group of its own. */
const readDeadLetters = async (kafka: Kafka, topic: string): Promise<{ letters: DeadLetter[]; close: () => Promise<void> }> => {
  const letters: DeadLetter[] = [];
  const reader = kafka.consumer({ groupId: `dlq-reader-${randomUUID()}` });
  await reader.connect();
  await reader.subscribe({ topics: [deadLetterTopic(topic)], fromBeginning: true });
  await reader.run({ eachMessage: async ({ message }) => void letters.push(JSON.parse(message.value?.toString() ?? 'null')) });
  return { letters, close: () => reader.disconnect() };
};

describeTransportContract('KafkaTransport over a real broker (relay from the store to a fresh topic)', {
  severalConsumersOfAGroup: 'share',
  open: async ({ store, dir }) => {
    const settings: KafkaSettings = {
      brokers: brokers(),
      clientId: 'contract',
      topic: `contract.${randomUUID()}`,
      partitions: 3,
      groupPrefix: `contract-${randomUUID()}`,
      retryBaseDelayMs: 10,
    };
    const closers: (() => Promise<unknown>)[] = [];
    const dbs = new Map<string, StateDb>();
    const stateDb = (process: string): StateDb => {
      let db = dbs.get(process);
      if (db === undefined) dbs.set(process, (db = new StateDb(join(dir, `${process}.state.sqlite`))));
      return db;
    };
    const relay = new Relay(store, createKafka(settings), settings, new CheckpointStore(stateDb('relay process')));
    await relay.start();
    closers.push(() => relay.stop());
    let deadLetters: Promise<DeadLetter[]> | null = null;
    return {
      transport: async (process) => {
        const transport = new KafkaTransport(settings, new HandledEvents(stateDb(process)));
        closers.push(() => transport.close());
        return transport;
      },
      deadLetters: async (group) => {
        deadLetters ??= readDeadLetters(createKafka(settings), settings.topic ?? '').then((reader) => {
          closers.push(reader.close);
          return reader.letters;
        });
        return (await deadLetters).filter((letter) => letter.group === group);
      },
      dispose: async () => {
        for (const close of closers.splice(0).reverse()) await close();
        for (const db of dbs.values()) db.close();
      },
    };
  },
});

describe('KafkaTransport and Relay, over a real broker: what only Kafka has', () => {
  let dir: string;
  let store: SqliteEventStore;
  let settings: KafkaSettings;
  const closers: (() => Promise<unknown>)[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-kafka-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
    settings = { brokers: brokers(), clientId: 'test', topic: `test.${randomUUID()}`, partitions: 3, retryBaseDelayMs: 10 };
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stateDb = (name: string): StateDb => {
    const db = new StateDb(join(dir, `${name}.sqlite`));
    closers.push(async () => db.close());
    return db;
  };
  const startRelay = async (db: StateDb): Promise<Relay> => {
    const relay = new Relay(store, createKafka(settings), settings, new CheckpointStore(db));
    await relay.start();
    closers.push(() => relay.stop());
    return relay;
  };
  const transport = (db: StateDb): KafkaTransport => {
    const created = new KafkaTransport(settings, new HandledEvents(db));
    closers.push(() => created.close());
    return created;
  };
  const append = (batchId: string, type: string, n: number) =>
    store.appendToStream(`batch-${batchId}`, [{ type, data: { batchId, n, occurredAt: new Date().toISOString() } }]);

  /**
   * A relay to the topic, a producer of raw records beside it, and a consumer of group `group` for
   * type A that keeps each message's `n`: for the cases of records the relay never wrote.
   */
  const relayWithRawProducer = async (group: string) => {
    await startRelay(stateDb('relay'));
    const kafka = createKafka(settings);
    await ensureTopics(kafka, settings);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    closers.push(() => producer.disconnect());
    const handled: number[] = [];
    await transport(stateDb('consumer')).consume({ group, eventTypes: ['A'], maxAttempts: 3 }, async (message) => {
      handled.push((message.data as { n: number }).n);
    });
    return { kafka, producer, handled };
  };

  it("counts the relay's unpublished events and each group's uncommitted records (the lag metrics)", async () => {
    for (let n = 0; n < 3; n++) await append('lag', 'A', n);
    const relayDb = stateDb('relay');
    const idle = new Relay(store, createKafka(settings), settings, new CheckpointStore(relayDb));
    expect(await idle.lag()).toBe(3);
    expect(await idle.lag(2)).toBe(2);
    const relay = await startRelay(relayDb);
    await until(async () => (await relay.lag()) === 0, 15_000, 'the relay to publish everything');
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handled: number[] = [];
    const consumer = transport(stateDb('consumer'));
    await consumer.consume({ group: 'g-lag', eventTypes: ['A'] }, async (message) => {
      handled.push((message.data as { n: number }).n);
      await gate;
    });
    await until(() => handled.length === 1, 15_000, 'the first message to be handled');
    // One batch id, so one partition, in order: the first message holds the other two back, and nothing is committed.
    expect((await consumer.lagByGroup()).get('g-lag')).toBe(3);
    release();
    await until(() => handled.length === 3);
    await until(async () => (await consumer.lagByGroup()).get('g-lag') === 0, 15_000, 'the group to commit');
    expect([...(await consumer.lagByGroup()).keys()]).toEqual(['g-lag']);
  });

  it('a crash between publishing and checkpointing republishes; consumers skip what they handled', async () => {
    const relayDb = stateDb('relay');
    const relay = await startRelay(relayDb);
    const handled: string[] = [];
    await transport(stateDb('consumer')).consume({ group: 'g2', eventTypes: ['A'] }, async (message) => void handled.push(message.id));
    for (let n = 0; n < 5; n++) await append('x', 'A', n);
    await until(() => handled.length === 5);
    await relay.stop();
    // The relay forgets its checkpoint, as if it crashed before saving it: it publishes all five again.
    relayDb.flush();
    relayDb.run('DELETE FROM consumer_checkpoints');
    await startRelay(relayDb);
    await append('x', 'A', 5);
    await until(() => handled.length >= 6);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(handled).toHaveLength(6);
    expect(new Set(handled).size).toBe(6);
  });

  it('publishes an event written with an older schema upcast to the current one, saying so in its metadata', async () => {
    await startRelay(stateDb('relay'));
    const seen: EventMessage[] = [];
    await transport(stateDb('consumer')).consume(
      { group: 'g4', eventTypes: ['WorkflowVersionAdded'] },
      async (message) => void seen.push(message),
    );
    // WorkflowVersionAdded as schema 1 wrote it: one timeout for the call and the callback.
    const v1 = {
      workflowId: 'old',
      version: 1,
      name: 'Old',
      inputs: [],
      target: { url: 'http://127.0.0.1:9/run', timeoutMs: 3_600_000, mode: 'async' },
      retry: { maxAttempts: 1, backoffMs: 0 },
      occurredAt: new Date().toISOString(),
      actor: 'a',
    };
    await store.appendToStream('workflow-old', [{ type: 'WorkflowVersionAdded', data: v1 }]);
    await until(() => seen.length === 1, 30_000, 'the published workflow event');
    expect(seen[0]?.data).toMatchObject({
      target: { timeoutMs: 900_000, callbackTimeoutMs: 3_600_000 },
      retry: { maxAttempts: 1, backoffMs: 0, maxThrottleSeconds: 3600 },
    });
    expect(seen[0]?.metadata).toMatchObject({ schemaVersion: 3 });
  });

  it('a record that is not an event goes straight to the dead-letter topic, and the rest of the partition flows', async () => {
    const { kafka, producer, handled } = await relayWithRawProducer('g3');
    await append('p', 'A', 0);
    // Not an event at all, on the same key (so the same partition): no handler can take it.
    await producer.send({ topic: settings.topic!, messages: [{ key: 'p', value: '{"this is": not json' }] });
    await append('p', 'A', 1);
    await until(() => handled.length === 2, 30_000, 'messages around the malformed one');
    expect(handled).toEqual([0, 1]);

    const reader = await readDeadLetters(kafka, settings.topic!);
    closers.push(reader.close);
    await until(() => reader.letters.length >= 1, 30_000, 'the dead letter');
    expect(reader.letters).toEqual([
      expect.objectContaining({
        group: 'g3',
        error: 'Malformed message: the value is not an event envelope (JSON with id and type)',
        attempts: 0,
        message: expect.objectContaining({ type: 'Unreadable', key: 'p', data: '{"this is": not json' }),
      }),
    ]);
  });

  it('passes over a record whose event-type header names a type the group does not want, without reading its value', async () => {
    const { kafka, producer, handled } = await relayWithRawProducer('g5');
    await append('p', 'A', 0);
    // Another group's type, as the header says: its value is never parsed, so it is no dead letter of this group.
    await producer.send({ topic: settings.topic!, messages: [{ key: 'p', value: 'not read', headers: { 'event-type': 'B' } }] });
    // No header: it must be read to be told, and it is not an event.
    await producer.send({ topic: settings.topic!, messages: [{ key: 'p', value: 'read, and not an event' }] });
    await append('p', 'A', 1);
    await until(() => handled.length === 2, 30_000, 'messages around the passed-over ones');
    expect(handled).toEqual([0, 1]);

    const reader = await readDeadLetters(kafka, settings.topic!);
    closers.push(reader.close);
    await until(() => reader.letters.length >= 1, 30_000, 'the dead letter');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(reader.letters.map((letter) => letter.message.data)).toEqual(['read, and not an event']);
  });

  it('several services starting at once on a new topic log no error (the topic creation race, groups forming)', async () => {
    // Node's process warnings (TimeoutNegativeWarning) do not reach a jest test: service-start.int.spec.ts reads them from real services.
    const logs: (KafkaLogEntry & { service: string })[] = [];
    const service = (name: string): KafkaSettings => ({
      ...settings,
      clientId: name,
      log: (entry) => void logs.push({ ...entry, service: name }),
    });
    // As in docker-compose: four services, each creating the topics and joining its groups at the same moment, one running the relay.
    const groups: Record<string, string[]> = {
      'ingest-api': ['ingest-workflow-holds', 'ingest-new-batch-holds'],
      scheduler: ['scheduler'],
      executor: ['executor-trigger', 'executor-dispatch', 'executor-holds'],
      notifier: ['notifier'],
    };
    const handled = new Map<string, number>();
    await Promise.all(
      Object.entries(groups).map(async ([name, itsGroups]) => {
        const own = service(name);
        if (name === 'scheduler') {
          const relay = new Relay(store, createKafka(own), own, new CheckpointStore(stateDb(`${name}-relay`)));
          closers.push(() => relay.stop());
          await relay.start();
        }
        const created = new KafkaTransport(own, new HandledEvents(stateDb(name)));
        closers.push(() => created.close());
        await Promise.all(
          itsGroups.map((group) =>
            created.consume(
              { group, eventTypes: ['A'], concurrency: 16 },
              async () => void handled.set(group, (handled.get(group) ?? 0) + 1),
            ),
          ),
        );
      }),
    );
    for (let n = 0; n < 20; n++) await append(`start-${n % 4}`, 'A', n);
    const all = Object.values(groups).flat();
    await until(() => all.every((group) => handled.get(group) === 20), 60_000, 'every group to handle every event');

    expect(logs.filter((entry) => entry.level === 'error')).toEqual([]);
    // The losers of the creation race did meet TOPIC_ALREADY_EXISTS, or none lost it: either way, at debug only.
    expect(logs.filter((entry) => entry.level !== 'debug')).toEqual([]);
  });

  it('warns when the topic exists with fewer partitions than configured, and goes on', async () => {
    const logs: KafkaLogEntry[] = [];
    const kafka = createKafka({ ...settings, log: (entry) => void logs.push(entry) });
    await ensureTopics(kafka, { ...settings, partitions: 2 });
    await ensureTopics(kafka, { ...settings, partitions: 4 });
    const warned = logs.filter((entry) => entry.level === 'warn').map((entry) => entry.extra);
    expect(warned).toHaveLength(2);
    expect(warned).toEqual(
      expect.arrayContaining([
        { topic: settings.topic, partitions: 2, configured: 4 },
        { topic: deadLetterTopic(settings.topic!), partitions: 2, configured: 4 },
      ]),
    );
    const admin = kafka.admin();
    await admin.connect();
    closers.push(() => admin.disconnect());
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [settings.topic!, deadLetterTopic(settings.topic!)].map((name) => ({ type: 2, name, configNames: ['retention.ms'] })),
    });
    expect(described.resources.map((resource) => resource.configEntries[0]?.configValue)).toEqual([
      String(7 * 24 * 3_600_000),
      String(30 * 24 * 3_600_000),
    ]);
  });

  it('a handler that runs longer than the session timeout keeps its consumer in the group (heartbeats)', async () => {
    // One partition: no other partition's fetch loop sends heartbeats for the blocked one.
    settings = { ...settings, partitions: 1 };
    await startRelay(stateDb('relay'));
    const handled: number[] = [];
    const member = transport(stateDb('slow'));
    await member.consume({ group: 'g5', eventTypes: ['A'], concurrency: 2 }, async (message) => {
      const n = (message.data as { n: number }).n;
      // The session timeout is 10 s: without heartbeats during this, the broker would evict the member.
      if (n === 0) await new Promise((resolve) => setTimeout(resolve, 13_000));
      handled.push(n);
    });
    const admin = createKafka(settings).admin();
    await admin.connect();
    closers.push(() => admin.disconnect());
    const members = async (): Promise<string[]> =>
      (await admin.describeGroups(['flotilla.g5'])).groups[0]?.members.map((m) => m.memberId) ?? [];
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const before = await members();
    expect(before).toHaveLength(1);
    await append('slow', 'A', 0);
    await append('slow', 'A', 1);
    await until(() => handled.length >= 2, 40_000, 'both messages');
    expect(handled).toEqual([0, 1]);
    // Still the same member: an eviction (no heartbeat within the session timeout) would have
    // made it rejoin under a new member id.
    expect(await members()).toEqual(before);
  });
});
