import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteEventStore } from '@flotilla/event-store';
import { Partitioners } from 'kafkajs';
import { SqliteCheckpointStore } from './checkpoint-store';
import { KafkaTransport, createKafka, deadLetterTopic, ensureTopics, type KafkaSettings } from './kafka-transport';
import type { EventMessage } from './message';
import { Relay } from './relay';

/** Against the real broker from the global setup (KAFKA_BROKERS). */
const brokers = (): string[] => {
  const value = process.env['KAFKA_BROKERS'];
  if (!value) throw new Error('No Kafka broker: the global setup must provide KAFKA_BROKERS');
  return value.split(',');
};

const until = async (condition: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

describe('KafkaTransport and Relay, over a real broker', () => {
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

  const stateDb = (name: string): DatabaseSync => {
    const db = new DatabaseSync(join(dir, `${name}.sqlite`));
    closers.push(async () => db.close());
    return db;
  };
  const startRelay = async (db: DatabaseSync): Promise<Relay> => {
    const relay = new Relay(store, createKafka(settings), settings, new SqliteCheckpointStore(db));
    await relay.start();
    closers.push(() => relay.stop());
    return relay;
  };
  const transport = (db: DatabaseSync): KafkaTransport => {
    const created = new KafkaTransport(settings, db);
    closers.push(() => created.close());
    return created;
  };
  const append = (batchId: string, type: string, n: number) =>
    store.appendToStream(`batch-${batchId}`, [{ type, data: { batchId, n, occurredAt: new Date().toISOString() } }]);

  it('the relay publishes appended events keyed by batch; a group gets them in order per batch, each once', async () => {
    await startRelay(stateDb('relay'));
    const seen: EventMessage[] = [];
    await transport(stateDb('consumer')).consume({ group: 'g1', eventTypes: ['A'], concurrency: 8 }, async (message) => {
      await new Promise((resolve) => setTimeout(resolve, (message.data as { n: number }).n % 7));
      seen.push(message);
    });
    for (let n = 0; n < 60; n++) {
      await append(`b${n % 4}`, 'A', n);
      await append(`b${n % 4}`, 'B', n);
    }
    await until(() => seen.length === 60, 30_000, '60 messages');
    for (let batch = 0; batch < 4; batch++) {
      const ns = seen.filter((message) => message.key === `b${batch}`).map((message) => (message.data as { n: number }).n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
      expect(ns).toHaveLength(15);
    }
    expect(new Set(seen.map((message) => message.id)).size).toBe(60);
    expect(seen[0]).toMatchObject({ schemaVersion: 1, type: 'A', stream: expect.stringMatching(/^batch-b/) });
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
    relayDb.exec('DELETE FROM consumer_checkpoints');
    await startRelay(relayDb);
    await append('x', 'A', 5);
    await until(() => handled.length >= 6);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(handled).toHaveLength(6);
    expect(new Set(handled).size).toBe(6);
  });

  it('a poison message goes to the dead-letter topic with its error, and the rest of the partition flows', async () => {
    await startRelay(stateDb('relay'));
    const kafka = createKafka(settings);
    await ensureTopics(kafka, settings);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    closers.push(() => producer.disconnect());

    const handled: number[] = [];
    await transport(stateDb('consumer')).consume({ group: 'g3', eventTypes: ['A'], maxAttempts: 3 }, async (message) => {
      const n = (message.data as { n: number }).n;
      if (n === 1) throw new Error('cannot handle 1');
      handled.push(n);
    });
    await append('p', 'A', 0);
    await append('p', 'A', 1);
    // Not an event at all, on the same key (so the same partition).
    await producer.send({ topic: settings.topic!, messages: [{ key: 'p', value: '{"this is": not json' }] });
    await append('p', 'A', 2);
    await until(() => handled.length === 2, 30_000, 'messages after the poison ones');
    expect(handled).toEqual([0, 2]);

    const letters: { error: string; group: string; message: { type: string } }[] = [];
    const reader = kafka.consumer({ groupId: `dlq-reader-${randomUUID()}` });
    await reader.connect();
    closers.push(() => reader.disconnect());
    await reader.subscribe({ topics: [deadLetterTopic(settings.topic!)], fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => void letters.push(JSON.parse(message.value?.toString() ?? 'null')) });
    await until(() => letters.length === 2, 30_000, 'two dead letters');
    expect(letters.map((letter) => letter.error).sort()).toEqual([
      'Error: cannot handle 1',
      'Malformed message: the value is not an event envelope (JSON with id and type)',
    ]);
    expect(letters.every((letter) => letter.group === 'g3')).toBe(true);
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
    const members = async (): Promise<string[]> => (await admin.describeGroups(['flotilla.g5'])).groups[0]?.members.map((m) => m.memberId) ?? [];
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

  it('two members of a group share the partitions; every message is handled once', async () => {
    await startRelay(stateDb('relay'));
    const byMember: [string[], string[]] = [[], []];
    await transport(stateDb('m0')).consume({ group: 'g4', eventTypes: ['A'], concurrency: 4 }, async (message) => void byMember[0].push(message.id));
    await transport(stateDb('m1')).consume({ group: 'g4', eventTypes: ['A'], concurrency: 4 }, async (message) => void byMember[1].push(message.id));
    // Let the group settle with both members before publishing.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    for (let n = 0; n < 90; n++) await append(`k${n % 9}`, 'A', n);
    await until(() => byMember[0].length + byMember[1].length >= 90, 30_000, '90 messages');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const all = [...byMember[0], ...byMember[1]];
    expect(all).toHaveLength(90);
    expect(new Set(all).size).toBe(90);
    expect(byMember[0].length).toBeGreaterThan(0);
    expect(byMember[1].length).toBeGreaterThan(0);
  });
});
