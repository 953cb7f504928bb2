/**
 * The transport contract: one jest suite that every `MessageTransport` must pass. Each case is written
 * once, in terms of what a service does: append events to the store, consume them with a group, stop
 * (or crash) a consumer, start it again. What differs between transports (a relay to a fresh Kafka
 * topic, or the store subscription itself; where dead letters go) is the factory's business.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type EventStore } from '@flotilla/event-store';
import type { ConsumeOptions, DeadLetter, EventMessage, MessageConsumer, MessageHandler, MessageTransport } from '../message';
import type { Settle } from '../ordered-window';
import { until } from '@flotilla/testing/poll';

/** One test's transport, over the store the suite gives it. */
export interface TransportUnderTest {
  /**
   * The transport of the process named `process`. Each call is a new instance, as a process started
   * again would have; the process's state database (checkpoints, handled events) outlives it. The
   * test stops its consumers; `dispose` closes what is left.
   */
  transport(process: string): Promise<MessageTransport>;
  /** The dead letters recorded so far for `group`, read where the transport puts them. */
  deadLetters(group: string): Promise<DeadLetter[]>;
  dispose(): Promise<void>;
}

export interface TransportFactory {
  /**
   * What several consumers of one group do: `share` the group's work between them (each message is
   * handled by one of them), or `refuse` (the transport runs one consumer per group and refuses a second).
   */
  readonly severalConsumersOfAGroup: 'share' | 'refuse';
  open(context: { readonly store: EventStore; readonly dir: string }): Promise<TransportUnderTest>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nOf = (message: EventMessage): number => (message.data as { n: number }).n;

export function describeTransportContract(transportName: string, factory: TransportFactory): void {
  describe(`MessageTransport contract: ${transportName}`, () => {
    let dir: string;
    let store: SqliteEventStore;
    let subject: TransportUnderTest;
    let consumers: MessageConsumer[];

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-transport-contract-'));
      store = new SqliteEventStore(join(dir, 'events.sqlite'));
      subject = await factory.open({ store, dir });
      consumers = [];
    });

    afterEach(async () => {
      await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
      await subject.dispose();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A batch event: the message key is the batch id. */
    const append = async (key: string, type: string, n: number, id: string = randomUUID()): Promise<string> => {
      await store.appendToStream(`batch-${key}`, [{ id, type, data: { batchId: key, n, occurredAt: new Date().toISOString() } }]);
      return id;
    };

    const consume = async (process: string, options: ConsumeOptions, handler: MessageHandler): Promise<MessageConsumer> => {
      const consumer = await (await subject.transport(process)).consume(options, handler);
      consumers.push(consumer);
      return consumer;
    };

    const byKey = (messages: readonly EventMessage[], key: string): number[] => messages.filter((message) => message.key === key).map(nOf);

    it('delivers the chosen types, each once; with concurrency, one key in order while different keys interleave', async () => {
      const keys = ['b0', 'b1', 'b2', 'b3'];
      for (let n = 0; n < 60; n++) {
        await append(keys[n % 4] ?? '', 'A', n);
        await append(keys[n % 4] ?? '', 'B', n);
      }
      const seen: EventMessage[] = [];
      let inFlight = 0;
      let mostInFlight = 0;
      await consume('p', { group: 'g', eventTypes: ['A'], concurrency: 8 }, async (message) => {
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        // Later messages of a key finish sooner: only the transport keeps them in order.
        await sleep(16 - (nOf(message) % 16));
        inFlight--;
        seen.push(message);
      });
      await until(() => seen.length >= 60, 30_000, '60 messages');
      // Appended after the others, one per key: anything delivered twice would come before it.
      for (const key of keys) await append(key, 'A', 100);
      await until(() => seen.filter((message) => nOf(message) === 100).length === 4, 30_000, 'the last message of each key');

      for (const [index, key] of keys.entries()) {
        expect(byKey(seen, key)).toEqual([...Array.from({ length: 15 }, (_, i) => index + 4 * i), 100]);
      }
      expect(seen.every((message) => message.type === 'A')).toBe(true);
      expect(new Set(seen.map((message) => message.id)).size).toBe(64);
      expect(mostInFlight).toBeGreaterThan(1);
      expect(seen.find((message) => message.key === 'b0')).toMatchObject({
        schemaVersion: 1,
        type: 'A',
        stream: 'batch-b0',
        revision: 0,
        data: { n: 0 },
      });
    });

    it('groups are independent: each group gets every message', async () => {
      const a: string[] = [];
      const b: string[] = [];
      await consume('p', { group: 'a', eventTypes: ['A'] }, async (message) => void a.push(message.id));
      await consume('p', { group: 'b', eventTypes: ['A'] }, async (message) => void b.push(message.id));
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push(await append('x', 'A', n));
      await until(() => a.length >= 5 && b.length >= 5, 30_000, 'both groups');
      expect(a).toEqual(ids);
      expect(b).toEqual(ids);
    });

    it('after a consumer crashes mid-work, what it had not finished is delivered again and what it had finished is not', async () => {
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
      const completed: number[] = [];
      let crash: () => void = () => undefined;
      let started2 = false;
      // All six are there before the consumer starts: over Kafka a consumer fetches again only once the
      // fetched messages are all done, so one that arrived after the interrupted one would wait for it.
      for (const [n, key] of keys.entries()) await append(key, 'A', n);
      const first = await consume('p', { group: 'g', eventTypes: ['A'], concurrency: 3 }, async (message) => {
        if (nOf(message) === 2) {
          started2 = true;
          // Still working when the consumer goes down; the work then fails, as it would in a dying process.
          await new Promise<void>((resolve) => (crash = resolve));
          throw new Error('the process went down');
        }
        completed.push(nOf(message));
      });
      await until(() => started2 && completed.length === 5, 30_000, 'everything but the interrupted message');
      const stopping = first.stop();
      await sleep(50);
      crash();
      await stopping;

      const afterRestart: number[] = [];
      await consume('p', { group: 'g', eventTypes: ['A'], concurrency: 3 }, async (message) => void afterRestart.push(nOf(message)));
      // One more per key: redeliveries of a key come before it.
      for (const [n, key] of keys.entries()) await append(key, 'A', 10 + n);
      await until(
        () => [2, 10, 11, 12, 13, 14, 15].every((n) => afterRestart.includes(n)),
        30_000,
        'the interrupted message and the new ones',
      );

      expect([...completed].sort((x, y) => x - y)).toEqual([0, 1, 3, 4, 5]);
      expect([...afterRestart].sort((x, y) => x - y)).toEqual([2, 10, 11, 12, 13, 14, 15]);
      // Order per key holds across the restart: the interrupted message before the new one of its key.
      expect(afterRestart.indexOf(2)).toBeLessThan(afterRestart.indexOf(12));
    });

    it('a message that keeps failing goes to the dead letters with group, message, error and attempts; later messages of its key still flow', async () => {
      const handled: number[] = [];
      let attempts = 0;
      await consume('p', { group: 'g', eventTypes: ['A'], maxAttempts: 3 }, async (message) => {
        if (nOf(message) === 1) {
          attempts++;
          throw new Error('poison');
        }
        handled.push(nOf(message));
      });
      const ids: string[] = [];
      for (let n = 0; n < 4; n++) ids.push(await append('p', 'A', n));
      await until(() => handled.length >= 3, 30_000, 'the messages after the poison one');
      expect(handled).toEqual([0, 2, 3]);
      expect(attempts).toBe(3);

      let letters: DeadLetter[] = [];
      await until(async () => (letters = await subject.deadLetters('g')).length >= 1, 30_000, 'the dead letter');
      expect(letters).toEqual([
        expect.objectContaining({
          group: 'g',
          error: 'Error: poison',
          attempts: 3,
          message: expect.objectContaining({ id: ids[1], type: 'A', key: 'p', data: expect.objectContaining({ n: 1 }) }),
        }),
      ]);
    });

    if (factory.severalConsumersOfAGroup === 'share') {
      it('several consumers of one group share the work: each message is handled once, by one of them', async () => {
        const byMember: [string[], string[]] = [[], []];
        const members = [
          await consume('m0', { group: 'g', eventTypes: ['A'], concurrency: 4 }, async (message) => void byMember[0].push(message.id)),
          await consume('m1', { group: 'g', eventTypes: ['A'], concurrency: 4 }, async (message) => void byMember[1].push(message.id)),
        ];
        await Promise.all(members.map((member) => member.caughtUp));
        const ids: string[] = [];
        for (let n = 0; n < 90; n++) ids.push(await append(`k${n % 9}`, 'A', n));
        await until(() => byMember[0].length + byMember[1].length >= 90, 30_000, '90 messages');
        for (let k = 0; k < 9; k++) ids.push(await append(`k${k}`, 'A', 100 + k));
        await until(() => new Set([...byMember[0], ...byMember[1]]).size === 99, 30_000, 'the last message of each key');

        expect([...byMember[0], ...byMember[1]].sort()).toEqual([...ids].sort());
        expect(byMember[0].length).toBeGreaterThan(0);
        expect(byMember[1].length).toBeGreaterThan(0);
      });
    } else {
      it(`several consumers of one group: ${transportName} runs one consumer per group and refuses a second, which it accepts once the first has stopped`, async () => {
        const transport = await subject.transport('p');
        const first: number[] = [];
        const consumer = await transport.consume({ group: 'g', eventTypes: ['A'] }, async (message) => void first.push(nOf(message)));
        consumers.push(consumer);
        await expect(transport.consume({ group: 'g', eventTypes: ['A'] }, async () => undefined)).rejects.toThrow(
          /Group g already has a consumer/,
        );
        for (let n = 0; n < 3; n++) await append('x', 'A', n);
        await until(() => first.length >= 3, 30_000, 'the first consumer');
        expect(first).toEqual([0, 1, 2]);

        await consumer.stop();
        const second: number[] = [];
        consumers.push(await transport.consume({ group: 'g', eventTypes: ['A'] }, async (message) => void second.push(nOf(message))));
        await append('x', 'A', 3);
        await until(() => second.length >= 1, 30_000, 'the second consumer');
        expect(second).toEqual([3]);
      });
    }

    it('a deferred message: not committed by its handler returning; committed once settled done, delivered again after a restart when failed or never settled', async () => {
      const settles = new Map<number, Settle>();
      const first: number[] = [];
      const consumer = await consume(
        'p',
        { group: 'g', eventTypes: ['A'], ordering: 'none', concurrency: 8 },
        async (message, delivery) => {
          const n = nOf(message);
          first.push(n);
          const settle = delivery.defer();
          settles.set(n, settle);
          // Settled later, from outside the handler, which returns at once; 2 is never settled while it runs.
          if (n === 0) setTimeout(() => settle('done'), 50);
          if (n === 1) setTimeout(() => settle('failed'), 50);
        },
      );
      // Over Kafka a deferred message holds the next fetch of its partition: 2, never settled, comes last.
      for (let n = 0; n < 3; n++) await append(`d${n}`, 'A', n);
      await until(() => settles.size === 3, 30_000, 'three deferred messages');
      // A stop waits for what is deferred: settled failed, as a stopping executor does.
      const stopping = consumer.stop();
      await sleep(50);
      settles.get(2)!('failed');
      await stopping;

      const again: number[] = [];
      await consume(
        'p',
        { group: 'g', eventTypes: ['A'], ordering: 'none', concurrency: 8 },
        async (message) => void again.push(nOf(message)),
      );
      for (let n = 0; n < 3; n++) await append(`d${n}`, 'A', 10 + n);
      await until(() => [1, 2, 10, 11, 12].every((n) => again.includes(n)), 30_000, 'the unsettled ones and the new ones');
      expect([...first].sort()).toEqual([0, 1, 2]);
      expect([...again].sort((x, y) => x - y)).toEqual([1, 2, 10, 11, 12]);
    });

    it('the next message of the key of a deferred one waits for its settlement', async () => {
      const settles: Settle[] = [];
      const seen: number[] = [];
      await consume('p', { group: 'g', eventTypes: ['A'], ordering: 'key', concurrency: 4 }, async (message, delivery) => {
        seen.push(nOf(message));
        settles.push(delivery.defer());
      });
      await append('x', 'A', 0);
      await append('x', 'A', 1);
      await until(() => seen.length === 1, 30_000, 'the first');
      await sleep(300);
      expect(seen).toEqual([0]);
      settles[0]!('done');
      await until(() => seen.length === 2, 30_000, 'the second');
      expect(seen).toEqual([0, 1]);
      // A stop waits for deferred messages to be settled.
      settles[1]!('done');
    });

    it('a consumer stopped and started again resumes from its checkpoint: only what came after, nothing twice', async () => {
      const before: number[] = [];
      const first = await consume(
        'p',
        { group: 'g', eventTypes: ['A'], concurrency: 2 },
        async (message) => void before.push(nOf(message)),
      );
      for (let n = 0; n < 5; n++) await append(n % 2 === 0 ? 'x' : 'y', 'A', n);
      await until(() => before.length >= 5, 30_000, 'the first five');
      await first.stop();

      for (let n = 5; n < 8; n++) await append(n % 2 === 0 ? 'x' : 'y', 'A', n);
      const after: EventMessage[] = [];
      await consume('p', { group: 'g', eventTypes: ['A'], concurrency: 2 }, async (message) => void after.push(message));
      // Both keys get a new message, and a key's redeliveries would come before it.
      await until(
        () => after.some((message) => nOf(message) === 6) && after.some((message) => nOf(message) === 7),
        30_000,
        'the last new one of each key',
      );

      expect([...before].sort()).toEqual([0, 1, 2, 3, 4]);
      expect(byKey(after, 'x')).toEqual([6]);
      expect(byKey(after, 'y')).toEqual([5, 7]);
    });
  });
}
