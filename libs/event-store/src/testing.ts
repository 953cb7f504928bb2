/**
 * The event store contract: one jest suite that every adapter must pass. Each test works in streams of its
 * own random category and reads `$all` only after a marker event of its own, so the suite can run against
 * a server that other runs share.
 */
import { randomUUID } from 'node:crypto';
import {
  DuplicateEventIdError,
  WrongExpectedRevisionError,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type StoredEvent,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from './event-store';
import { until } from '@flotilla/testing/poll';

const TEST_TIMEOUT_MS = 30_000;

/** What an adapter promises beyond the common contract. */
export interface ContractOptions {
  /**
   * An event id stored in one stream is refused in any other (`DuplicateEventIdError`): true for the
   * embedded stores, false for EventStoreDB, which checks ids only within a stream.
   */
  readonly uniqueIdsAcrossStreams?: boolean;
}

export function describeEventStoreContract(
  adapterName: string,
  open: () => Promise<EventStore>,
  /** Default: `store.close()`. */
  dispose: (store: EventStore) => Promise<void> = (store) => store.close(),
  options: ContractOptions = {},
): void {
  describe(`EventStore contract: ${adapterName}`, () => {
    let store: EventStore;
    /** Unique to the test; `${category}-…` streams are the test's own, and no other stream starts that way. */
    let category: string;
    let subscriptions: Subscription[];

    const stream = (id: string): string => `${category}-${id}`;
    const ownPrefix = (): string => `${category}-`;

    const append = (name: string, events: readonly NewEvent[], expectedRevision?: ExpectedRevision) =>
      store.appendToStream(name, events, expectedRevision === undefined ? {} : { expectedRevision });

    /** A position just before everything the test appends next: subscriptions and reads of `$all` start here. */
    const mark = async (): Promise<GlobalPosition> => {
      const marker = `${category}marker-0`;
      await append(marker, happened(1, 'Marker'));
      const [event] = await collect(store.readStream(marker));
      if (event === undefined) throw new Error('The marker event was not stored');
      return event.position;
    };

    const subscribe = (options: SubscribeOptions, handler: SubscriptionHandler): Subscription => {
      const subscription = store.subscribeToAll(options, handler);
      subscriptions.push(subscription);
      return subscription;
    };

    /** A subscription that records what it gets. */
    const record = (options: SubscribeOptions) => {
      const seen = {
        delivered: [] as StoredEvent[],
        batchSizes: [] as number[],
        checkpoints: [] as GlobalPosition[],
        errors: [] as unknown[],
      };
      const subscription = subscribe(options, {
        onEvents: (events) => {
          seen.delivered.push(...events);
          seen.batchSizes.push(events.length);
        },
        onCheckpoint: (position) => {
          seen.checkpoints.push(position);
        },
        onError: (error) => {
          seen.errors.push(error);
        },
      });
      return { subscription, ...seen, own: () => seen.delivered.filter((event) => event.streamName.startsWith(ownPrefix())) };
    };

    beforeEach(async () => {
      store = await open();
      category = `c${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      subscriptions = [];
    });

    afterEach(async () => {
      await Promise.allSettled(subscriptions.map((subscription) => subscription.stop()));
      await dispose(store);
    });

    describe('append and read', () => {
      it(
        'appends events and reads them back with revisions, positions, ids and recording time',
        async () => {
          const name = stream('order');
          const startedAt = Date.now();
          const result = await append(
            name,
            [
              { type: 'Created', data: { name: 'first', nested: { list: [1, 'two', null, true] } } },
              { type: 'Renamed', data: 'a plain string, with ünïcödé ✓' },
              { type: 'Closed', data: null },
            ],
            'no_stream',
          );

          expect(result.nextExpectedRevision).toBe(2);
          const read = await collect(store.readStream(name));
          expect(read.map(({ streamName, revision, type, data }) => ({ streamName, revision, type, data }))).toEqual([
            { streamName: name, revision: 0, type: 'Created', data: { name: 'first', nested: { list: [1, 'two', null, true] } } },
            { streamName: name, revision: 1, type: 'Renamed', data: 'a plain string, with ünïcödé ✓' },
            { streamName: name, revision: 2, type: 'Closed', data: null },
          ]);
          expectIncreasing(read.map((event) => event.position));
          expect(new Set(read.map((event) => event.id)).size).toBe(3);
          for (const event of read) {
            expect(event.id).toEqual(expect.any(String));
            expect(event.recordedAt).toBeInstanceOf(Date);
            // A server's clock may differ a little from ours.
            expect(Math.abs(event.recordedAt.getTime() - startedAt)).toBeLessThan(60_000);
          }
          await expect(store.streamRevision(name)).resolves.toBe(2);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'returns a growing global position from each append',
        async () => {
          const first = await append(stream('a'), happened(1));
          const second = await append(stream('b'), happened(2));
          const third = await append(stream('a'), happened(1));
          expect(typeof first.position).toBe('bigint');
          expectIncreasing([first.position, second.position, third.position]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        "returns a position at most the stored position of the append's last event and above every event stored before",
        async () => {
          const mark0 = await mark();
          const before = await collect(store.readAll({ after: mark0 }));
          const storedBefore = before.reduce((max, event) => (event.position > max ? event.position : max), mark0);
          const name = stream('positioned');
          const result = await append(name, happened(3));
          const last = (await collect(store.readStream(name))).at(-1);

          expect(last?.revision).toBe(2);
          expect(result.position <= (last?.position ?? -1n)).toBe(true);
          expect(result.position > storedBefore).toBe(true);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'refuses an append without events',
        async () => {
          await expect(append(stream('a'), [])).rejects.toThrow();
          await expect(store.streamRevision(stream('a'))).resolves.toBeUndefined();
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'keeps the ids it is given and generates distinct ids otherwise',
        async () => {
          const mark0 = await mark();
          const given = [randomUUID(), randomUUID()];
          await append(
            stream('given'),
            given.map((id, i) => ({ id, type: 'Identified', data: { i } })),
          );
          await append(stream('generated'), happened(3));

          expect((await collect(store.readStream(stream('given')))).map((event) => event.id)).toEqual(given);
          const generated = (await collect(store.readStream(stream('generated')))).map((event) => event.id);
          expect(new Set(generated).size).toBe(3);
          for (const id of generated) expect(id.length).toBeGreaterThan(0);
          const fromAll = await collect(store.readAll({ after: mark0, filter: { streamPrefixes: [stream('given')] } }));
          expect(fromAll.map((event) => event.id)).toEqual(given);

          const subscription = record({ after: mark0, filter: { streamPrefixes: [stream('given')] } });
          await subscription.subscription.caughtUp;
          expect(subscription.delivered.map((event) => event.id)).toEqual(given);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'stores a repeated append (the same ids to the same stream) once and returns the first result again',
        async () => {
          const name = stream('repeated');
          const first = [randomUUID(), randomUUID()].map((id, i) => ({ id, type: 'Repeated', data: { i } }));
          const second = [{ id: randomUUID(), type: 'Repeated', data: { i: 2 } }];
          const firstResult = await append(name, first, 'no_stream');
          const secondResult = await append(name, second, 1);

          await expect(append(name, second, 1)).resolves.toEqual(secondResult);
          await expect(append(name, first, 'no_stream')).resolves.toEqual(firstResult);
          const read = await collect(store.readStream(name));
          expect(read.map((event) => event.id)).toEqual([...first, ...second].map((event) => event.id));
          await expect(store.streamRevision(name)).resolves.toBe(2);
        },
        TEST_TIMEOUT_MS,
      );

      // Only where the adapter promises it: EventStoreDB accepts the id in another stream.
      if (options.uniqueIdsAcrossStreams)
        it(
          'refuses an id stored in another stream (DuplicateEventIdError) as a whole; not for EventStoreDB: it checks ids per stream only',
          async () => {
            const taken = randomUUID();
            await append(stream('first'), [{ id: taken, type: 'Taken', data: {} }]);
            for (const events of [
              [{ id: taken, type: 'Again', data: {} }],
              [
                { id: randomUUID(), type: 'New', data: {} },
                { id: taken, type: 'Again', data: {} },
              ],
            ]) {
              const refusal = await append(stream('second'), events).then(
                () => undefined,
                (error: unknown) => error,
              );
              expect(refusal).toBeInstanceOf(DuplicateEventIdError);
              expect(refusal).toMatchObject({ id: taken, stream: stream('second'), storedIn: stream('first') });
              expect((refusal as Error).message).toContain(taken);
            }
            await expect(store.streamRevision(stream('second'))).resolves.toBeUndefined();
            expect(await collect(store.readStream(stream('first')))).toHaveLength(1);
          },
          TEST_TIMEOUT_MS,
        );

      it(
        'round-trips metadata, and reads absent metadata as empty',
        async () => {
          const mark0 = await mark();
          const metadata = {
            actor: 'operator@example.com',
            reason: 'paused by hand',
            correlationId: randomUUID(),
            causationId: randomUUID(),
            extra: { tags: ['a', 'b'], n: 3 },
          };
          await append(stream('meta'), [
            { type: 'Paused', data: {}, metadata },
            { type: 'Resumed', data: {} },
          ]);

          const read = await collect(store.readStream(stream('meta')));
          expect(read.map((event) => event.metadata)).toEqual([metadata, {}]);
          const fromAll = await collect(store.readAll({ after: mark0, filter: { streamPrefixes: [ownPrefix()] } }));
          expect(fromAll.map((event) => event.metadata)).toEqual([metadata, {}]);
          const subscription = record({ after: mark0, filter: { streamPrefixes: [ownPrefix()] } });
          await subscription.subscription.caughtUp;
          expect(subscription.delivered.map((event) => event.metadata)).toEqual([metadata, {}]);
        },
        TEST_TIMEOUT_MS,
      );
    });

    describe('expected revision', () => {
      it(
        'no_stream: accepted for a new stream, refused once it exists',
        async () => {
          const name = stream('s');
          await expect(append(name, happened(2), 'no_stream')).resolves.toMatchObject({ nextExpectedRevision: 1 });
          await expectConflict(append(name, happened(1), 'no_stream'), { stream: name, expected: 'no_stream', actual: 1 });
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'any: accepted whether or not the stream exists',
        async () => {
          const name = stream('s');
          await expect(append(name, happened(1), 'any')).resolves.toMatchObject({ nextExpectedRevision: 0 });
          await expect(append(name, happened(2), 'any')).resolves.toMatchObject({ nextExpectedRevision: 2 });
          await expect(append(name, happened(1))).resolves.toMatchObject({ nextExpectedRevision: 3 });
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'stream_exists: refused for a missing stream, accepted once it exists',
        async () => {
          const name = stream('s');
          await expectConflict(append(name, happened(1), 'stream_exists'), { stream: name, expected: 'stream_exists', actual: undefined });
          await append(name, happened(1));
          await expect(append(name, happened(1), 'stream_exists')).resolves.toMatchObject({ nextExpectedRevision: 1 });
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'a revision: accepted when it is the last revision, refused when behind, ahead or for a missing stream',
        async () => {
          const name = stream('s');
          await expectConflict(append(name, happened(1), 0), { stream: name, expected: 0, actual: undefined });
          const first = await append(name, happened(2));
          await expect(append(name, happened(1), first.nextExpectedRevision)).resolves.toMatchObject({ nextExpectedRevision: 2 });
          await expectConflict(append(name, happened(1), 1), { stream: name, expected: 1, actual: 2 });
          await expectConflict(append(name, happened(1), 5), { stream: name, expected: 5, actual: 2 });
          await expect(store.streamRevision(name)).resolves.toBe(2);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'appends all events of one append or none of them',
        async () => {
          const name = stream('s');
          await append(name, happened(1));
          await expectConflict(append(name, happened(3), 'no_stream'), { stream: name, expected: 'no_stream', actual: 0 });
          expect(await collect(store.readStream(name))).toHaveLength(1);

          const result = await append(name, happened(3), 0);
          const read = await collect(store.readStream(name));
          expect(read.map((event) => event.revision)).toEqual([0, 1, 2, 3]);
          expect(result.nextExpectedRevision).toBe(3);
          expectIncreasing(read.map((event) => event.position));
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'lets exactly one of several concurrent appends at the same expected revision win',
        async () => {
          const name = stream('race');
          await append(name, happened(1));
          const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => append(name, [{ type: 'Raced', data: { i } }], 0)));

          expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
          const refusals = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
          expect(refusals).toHaveLength(7);
          for (const refusal of refusals) {
            expect(refusal).toBeInstanceOf(WrongExpectedRevisionError);
            expect(refusal).toMatchObject({ stream: name, expected: 0, actual: 1 });
          }
          expect(await collect(store.readStream(name))).toHaveLength(2);
        },
        TEST_TIMEOUT_MS,
      );
    });

    describe('reading a stream', () => {
      it(
        'reads forwards or backwards from a revision, with a maximum count',
        async () => {
          const name = stream('s');
          await append(name, happened(10));
          const revisions = async (options: Parameters<EventStore['readStream']>[1]) =>
            (await collect(store.readStream(name, options))).map((event) => event.revision);

          await expect(revisions({ fromRevision: 3, maxCount: 4 })).resolves.toEqual([3, 4, 5, 6]);
          await expect(revisions({ fromRevision: 'start', maxCount: 2 })).resolves.toEqual([0, 1]);
          await expect(revisions({ direction: 'backwards', maxCount: 3 })).resolves.toEqual([9, 8, 7]);
          await expect(revisions({ direction: 'backwards', fromRevision: 'end', maxCount: 1 })).resolves.toEqual([9]);
          await expect(revisions({ direction: 'backwards', fromRevision: 4 })).resolves.toEqual([4, 3, 2, 1, 0]);
          await expect(revisions({ fromRevision: 10 })).resolves.toEqual([]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'reads a stream that does not exist as empty',
        async () => {
          await expect(collect(store.readStream(stream('missing')))).resolves.toEqual([]);
          await expect(collect(store.readStream(stream('missing'), { direction: 'backwards' }))).resolves.toEqual([]);
          await expect(store.streamRevision(stream('missing'))).resolves.toBeUndefined();
        },
        TEST_TIMEOUT_MS,
      );
    });

    describe('reading all events', () => {
      it(
        'reads in global order, strictly after the given position, up to a maximum count',
        async () => {
          const mark0 = await mark();
          await append(stream('a'), [{ type: 'First', data: {} }]);
          await append(stream('b'), [
            { type: 'Second', data: {} },
            { type: 'Third', data: {} },
          ]);
          await append(stream('a'), [{ type: 'Fourth', data: {} }]);

          const all = await collect(store.readAll({ after: mark0 }));
          expectIncreasing(all.map((event) => event.position));
          expect(all.every((event) => event.position > mark0 && !event.type.startsWith('$'))).toBe(true);
          const own = all.filter((event) => event.streamName.startsWith(ownPrefix()));
          expect(own.map((event) => [event.streamName, event.revision, event.type])).toEqual([
            [stream('a'), 0, 'First'],
            [stream('b'), 0, 'Second'],
            [stream('b'), 1, 'Third'],
            [stream('a'), 1, 'Fourth'],
          ]);

          const own1 = own[1];
          if (own1 === undefined) throw new Error('unreachable');
          const afterSecond = await collect(store.readAll({ after: own1.position, filter: { streamPrefixes: [ownPrefix()] } }));
          expect(afterSecond.map((event) => event.type)).toEqual(['Third', 'Fourth']);
          const firstTwo = await collect(store.readAll({ after: mark0, maxCount: 2, filter: { streamPrefixes: [ownPrefix()] } }));
          expect(firstTwo.map((event) => event.type)).toEqual(['First', 'Second']);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'filters by stream prefix, by event type, or by either',
        async () => {
          const mark0 = await mark();
          const [typeX, typeY, typeZ] = [`X${category}`, `Y${category}`, `Z${category}`];
          await append(stream('apple1'), [{ type: typeX, data: { n: 1 } }]);
          await append(stream('banana1'), [{ type: typeY, data: { n: 2 } }]);
          await append(stream('cherry1'), [{ type: typeZ, data: { n: 3 } }]);
          await append(stream('apple2'), [{ type: typeY, data: { n: 4 } }]);
          const read = async (filter: { streamPrefixes?: string[]; eventTypes?: string[] }) =>
            (await collect(store.readAll({ after: mark0, filter }))).map((event) => (event.data as { n: number }).n);

          await expect(read({ streamPrefixes: [stream('apple')] })).resolves.toEqual([1, 4]);
          await expect(read({ streamPrefixes: [stream('banana'), stream('cherry')] })).resolves.toEqual([2, 3]);
          await expect(read({ eventTypes: [typeY] })).resolves.toEqual([2, 4]);
          await expect(read({ eventTypes: [typeX, typeZ] })).resolves.toEqual([1, 3]);
          await expect(read({ streamPrefixes: [stream('cherry')], eventTypes: [typeX] })).resolves.toEqual([1, 3]);
          await expect(read({})).rejects.toThrow();
        },
        TEST_TIMEOUT_MS,
      );
    });

    describe('subscribing to all events', () => {
      it(
        'catches up from a position, then delivers new events live, in order and in bounded batches',
        async () => {
          const mark0 = await mark();
          await append(stream('a'), happened(3));
          await append(stream('b'), happened(2));
          const subscription = record({ after: mark0, filter: { streamPrefixes: [ownPrefix()] }, maxBatchSize: 2 });

          await subscription.subscription.caughtUp;
          expect(subscription.delivered.map((event) => `${event.streamName}@${event.revision}`)).toEqual([
            `${stream('a')}@0`,
            `${stream('a')}@1`,
            `${stream('a')}@2`,
            `${stream('b')}@0`,
            `${stream('b')}@1`,
          ]);

          await append(stream('a'), happened(2));
          await append(stream('c'), happened(1));
          await until(() => subscription.delivered.length === 8, 10_000, 'the live events');
          expect(subscription.delivered.slice(5).map((event) => `${event.streamName}@${event.revision}`)).toEqual([
            `${stream('a')}@3`,
            `${stream('a')}@4`,
            `${stream('c')}@0`,
          ]);
          expectIncreasing(subscription.delivered.map((event) => event.position));
          expect(Math.max(...subscription.batchSizes)).toBeLessThanOrEqual(2);
          expect(subscription.errors).toEqual([]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'delivers every event, unfiltered, in global order and without system events',
        async () => {
          const mark0 = await mark();
          await append(stream('a'), happened(2));
          const subscription = record({ after: mark0 });
          await subscription.subscription.caughtUp;
          await append(stream('b'), happened(2));
          await until(() => subscription.own().length === 4, 10_000, 'the events');

          expect(subscription.own().map((event) => `${event.streamName}@${event.revision}`)).toEqual([
            `${stream('a')}@0`,
            `${stream('a')}@1`,
            `${stream('b')}@0`,
            `${stream('b')}@1`,
          ]);
          expectIncreasing(subscription.delivered.map((event) => event.position));
          expect(subscription.delivered.every((event) => event.position > mark0 && !event.type.startsWith('$'))).toBe(true);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        "from 'end' delivers only events appended after it was opened",
        async () => {
          await append(stream('s'), happened(2));
          const subscription = record({ after: 'end', filter: { streamPrefixes: [ownPrefix()] } });
          await subscription.subscription.caughtUp;
          await append(stream('s'), happened(1));
          await until(() => subscription.delivered.length >= 1, 10_000, 'the new event');

          expect(subscription.delivered.map((event) => event.revision)).toEqual([2]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        "from 'end' never delivers what was appended before it was opened, and delivers all appended once caught up",
        async () => {
          for (let i = 0; i < 3; i += 1) await append(stream(`before${i}`), happened(2));
          const unfiltered = record({ after: 'end' });
          const filtered = record({ after: 'end', filter: { streamPrefixes: [ownPrefix()] } });
          await Promise.all([unfiltered.subscription.caughtUp, filtered.subscription.caughtUp]);
          for (let i = 0; i < 3; i += 1) await append(stream(`after${i}`), happened(2));
          await append(stream('last'), happened(1));

          for (const subscription of [unfiltered, filtered]) {
            await until(() => subscription.own().some((event) => event.streamName === stream('last')), 10_000, 'the last event');
            expect(subscription.own().map((event) => `${event.streamName}@${event.revision}`)).toEqual([
              ...[0, 1, 2].flatMap((i) => [`${stream(`after${i}`)}@0`, `${stream(`after${i}`)}@1`]),
              `${stream('last')}@0`,
            ]);
            expectIncreasing(subscription.delivered.map((event) => event.position));
          }
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'filters by stream prefix and reports checkpoints past the events it filtered out',
        async () => {
          const mark0 = await mark();
          await append(stream('wanted'), [{ type: 'Wanted', data: { n: 1 } }]);
          for (let i = 0; i < 4; i += 1) await append(stream('noise'), happened(50));
          const noise = await collect(store.readStream(stream('noise')));
          const subscription = record({ after: mark0, filter: { streamPrefixes: [stream('wanted')] } });

          await subscription.subscription.caughtUp;
          expect(subscription.delivered.map((event) => event.data)).toEqual([{ n: 1 }]);
          // EventStoreDB sends a checkpoint every so many scanned events, so ask for one well inside the noise.
          const halfway = noise[100]?.position ?? 0n;
          await until(
            () => subscription.checkpoints.some((position) => position >= halfway),
            10_000,
            'a checkpoint past the filtered-out events',
          );
          expectIncreasing(subscription.checkpoints);

          await append(stream('noise'), happened(1));
          await append(stream('wanted'), [{ type: 'Wanted', data: { n: 2 } }]);
          await until(() => subscription.delivered.length === 2, 10_000, 'the live event');
          expect(subscription.delivered.map((event) => event.data)).toEqual([{ n: 1 }, { n: 2 }]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'filters by event type',
        async () => {
          const mark0 = await mark();
          const wanted = `Wanted${category}`;
          await append(stream('a'), [
            { type: wanted, data: { n: 1 } },
            { type: 'Other', data: { n: 2 } },
          ]);
          const subscription = record({ after: mark0, filter: { eventTypes: [wanted] } });
          await subscription.subscription.caughtUp;
          await append(stream('b'), [
            { type: 'Other', data: { n: 3 } },
            { type: wanted, data: { n: 4 } },
          ]);
          await until(() => subscription.delivered.length === 2, 10_000, 'the live event');

          expect(subscription.delivered.map((event) => event.data)).toEqual([{ n: 1 }, { n: 4 }]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'refuses a filter that names nothing',
        async () => {
          expect(() => subscribe({ filter: {} }, { onEvents: () => undefined })).toThrow();
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'delivers nothing more once stopped',
        async () => {
          const stopped = record({ after: 'end', filter: { streamPrefixes: [ownPrefix()] } });
          await stopped.subscription.caughtUp;
          await stopped.subscription.stop();
          const witness = record({ after: 'end', filter: { streamPrefixes: [ownPrefix()] } });
          await witness.subscription.caughtUp;

          await append(stream('s'), happened(1));
          await until(() => witness.delivered.length === 1, 10_000, 'the witness to see the event');
          expect(stopped.delivered).toEqual([]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'stop() resolves only after the batch being handled has finished',
        async () => {
          const mark0 = await mark();
          await append(stream('s'), happened(1));
          let release: () => void = () => undefined;
          const gate = new Promise<void>((resolve) => (release = resolve));
          const handling = { started: false, finished: false };
          const subscription = subscribe(
            { after: mark0, filter: { streamPrefixes: [ownPrefix()] } },
            {
              onEvents: async () => {
                handling.started = true;
                await gate;
                handling.finished = true;
              },
            },
          );
          await until(() => handling.started, 10_000, 'the handler to start');

          let stopResolved = false;
          const stopping = subscription.stop().then(() => (stopResolved = true));
          await new Promise((resolve) => setTimeout(resolve, 50));
          expect(stopResolved).toBe(false);
          release();
          await stopping;
          expect(handling.finished).toBe(true);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'stops on an error thrown by the handler and reports it to onError',
        async () => {
          const mark0 = await mark();
          await append(stream('s'), happened(2));
          const errors: unknown[] = [];
          let calls = 0;
          const subscription = subscribe(
            { after: mark0, filter: { streamPrefixes: [ownPrefix()] }, maxBatchSize: 1 },
            {
              onEvents: () => {
                calls += 1;
                throw new Error('handler failed');
              },
              onError: (error) => errors.push(error),
            },
          );

          await expect(subscription.caughtUp).rejects.toThrow('handler failed');
          await until(() => errors.length > 0, 10_000, 'onError');
          expect(errors).toEqual([new Error('handler failed')]);
          await subscription.stop();
          expect(calls).toBe(1);
        },
        TEST_TIMEOUT_MS,
      );
    });
  });
}

const happened = (count: number, type = 'Happened'): NewEvent[] => Array.from({ length: count }, (_, i) => ({ type, data: { i } }));

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
};

const expectIncreasing = (positions: readonly GlobalPosition[]): void => {
  for (let i = 1; i < positions.length; i += 1) expect((positions[i] ?? 0n) > (positions[i - 1] ?? 0n)).toBe(true);
};

const expectConflict = async (
  append: Promise<unknown>,
  expected: { stream: string; expected: ExpectedRevision; actual: number | undefined },
): Promise<void> => {
  const error = await append.then(
    () => undefined,
    (refusal: unknown) => refusal,
  );
  expect(error).toBeInstanceOf(WrongExpectedRevisionError);
  expect(error).toMatchObject(expected);
};
