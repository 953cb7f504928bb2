/**
 * The adapter's own logic (positions, errors, filters, ordering of subscription messages) against a fake
 * client. Whether the server behaves as the adapter assumes is the contract suite's job
 * (esdb-event-store.int.spec.ts), which needs a server.
 */
import { PassThrough, Readable } from 'node:stream';
import {
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AllStreamRecordedEvent,
  type AllStreamResolvedEvent,
  type EventStoreDBClient,
  type Filter,
  type Position,
  type SubscribeToAllOptions,
} from '@eventstore/db-client';
import { WrongExpectedRevisionError, type StoredEvent } from '../event-store';
import { EsdbEventStore, decodePosition, encodePosition, toEsdbConnectionString } from './esdb-event-store';
import { until } from '@flotilla/testing/poll';

const position = (n: number): Position => ({ commit: BigInt(n), prepare: BigInt(n) });

const recorded = (n: number, overrides: Partial<AllStreamRecordedEvent> = {}): AllStreamResolvedEvent => ({
  event: {
    streamId: 'order-1',
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    revision: BigInt(n),
    type: 'Happened',
    data: { n },
    metadata: undefined,
    isJson: true,
    created: new Date(1_700_000_000_000),
    position: position(n * 100),
    ...overrides,
  } as AllStreamRecordedEvent,
});

const fakeClient = (client: Partial<Record<keyof EventStoreDBClient, unknown>>): EventStoreDBClient =>
  client as unknown as EventStoreDBClient;

/** The client's read streams and subscriptions are object-mode readables with a cancel/unsubscribe. */
const readable = (items: readonly AllStreamResolvedEvent[]) =>
  Object.assign(Readable.from(items), { cancel: jest.fn(async () => undefined) });

class FakeSubscription extends PassThrough {
  readonly unsubscribe = jest.fn(async () => {
    this.end();
  });

  constructor() {
    super({ objectMode: true });
  }
}

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
};

describe('EventStoreDB positions', () => {
  it('pack (commit, prepare) into one bigint that sorts like the pair and unpacks losslessly', () => {
    const max = (1n << 64n) - 1n;
    const pairs: Position[] = [
      { commit: 0n, prepare: 0n },
      { commit: 0n, prepare: max },
      { commit: 1n, prepare: 0n },
      { commit: 1n, prepare: 7n },
      { commit: 2n, prepare: 1n },
      { commit: max, prepare: max },
    ];
    const encoded = pairs.map(encodePosition);
    expect([...encoded].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(encoded);
    expect(new Set(encoded).size).toBe(pairs.length);
    expect(encoded.map(decodePosition)).toEqual(pairs);
  });
});

describe('EventStoreDB connection strings', () => {
  it.each([
    ['esdb://localhost:2113?tls=false', 'esdb://localhost:2113?tls=false'],
    ['kurrentdb://localhost:2113?tls=false', 'esdb://localhost:2113?tls=false'],
    ['KurrentDB+discover://a:2113,b:2113', 'esdb+discover://a:2113,b:2113'],
    ['kurrent://admin:changeit@localhost:2113', 'esdb://admin:changeit@localhost:2113'],
    ['kdb://localhost:2113', 'esdb://localhost:2113'],
  ])('%s is given to the client as %s', (given, expected) => {
    expect(toEsdbConnectionString(given)).toBe(expected);
  });
});

describe('EsdbEventStore on a fake client', () => {
  it('turns a wrong expected version into WrongExpectedRevisionError with the actual revision', async () => {
    const failWith = (current: bigint | 'no_stream') =>
      fakeClient({
        appendToStream: async () => {
          throw new WrongExpectedVersionError(undefined, { streamName: 'order-1', expected: 3n, current });
        },
      });

    await expect(
      new EsdbEventStore(failWith(5n)).appendToStream('order-1', [{ type: 'A', data: {} }], { expectedRevision: 3 }),
    ).rejects.toEqual(new WrongExpectedRevisionError('order-1', 3, 5));
    const refusal = await new EsdbEventStore(failWith('no_stream'))
      .appendToStream('order-1', [{ type: 'A', data: {} }], { expectedRevision: 'stream_exists' })
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(WrongExpectedRevisionError);
    expect(refusal).toMatchObject({ stream: 'order-1', expected: 'stream_exists', actual: undefined });
  });

  it('sends JSON events with the expected revision, and returns revision and position as ours', async () => {
    const appendToStream = jest.fn(async () => ({ success: true, nextExpectedRevision: 4n, position: { commit: 9n, prepare: 8n } }));
    const store = new EsdbEventStore(fakeClient({ appendToStream }));

    const result = await store.appendToStream(
      'order-1',
      [{ id: '11111111-1111-4111-8111-111111111111', type: 'A', data: { n: 1 }, metadata: { actor: 'me' } }],
      {
        expectedRevision: 3,
      },
    );

    expect(result).toEqual({ nextExpectedRevision: 4, position: encodePosition({ commit: 9n, prepare: 8n }) });
    expect(appendToStream).toHaveBeenCalledWith(
      'order-1',
      [
        {
          id: '11111111-1111-4111-8111-111111111111',
          contentType: 'application/json',
          type: 'A',
          data: { n: 1 },
          metadata: { actor: 'me' },
        },
      ],
      { expectedRevision: 3n },
    );
  });

  it('reads a stream that is not found as empty', async () => {
    const read = Object.assign(new PassThrough({ objectMode: true }), { cancel: jest.fn(async () => undefined) });
    process.nextTick(() => read.destroy(new StreamNotFoundError(undefined, 'order-1')));
    const store = new EsdbEventStore(fakeClient({ readStream: () => read }));

    await expect(collect(store.readStream('order-1'))).resolves.toEqual([]);
  });

  it('reads all strictly after the position, without system events, and cancels the read when it stops early', async () => {
    const read = readable([
      recorded(1),
      recorded(2),
      recorded(3, { type: '$statsCollected', streamId: '$stats-127.0.0.1:2113' }),
      recorded(4, { streamId: 'invoice-1' }),
      recorded(5),
      recorded(6),
    ]);
    const readAll = jest.fn(() => read);
    const store = new EsdbEventStore(fakeClient({ readAll }));

    const events = await collect(
      store.readAll({ after: encodePosition(position(100)), filter: { streamPrefixes: ['order-'] }, maxCount: 2 }),
    );

    expect(readAll).toHaveBeenCalledWith({ direction: 'forwards', fromPosition: position(100) });
    expect(events.map((event) => event.revision)).toEqual([2, 5]);
    expect(events[0]).toEqual<StoredEvent>({
      id: '00000000-0000-4000-8000-000000000002',
      streamName: 'order-1',
      revision: 2,
      position: encodePosition(position(200)),
      type: 'Happened',
      data: { n: 2 },
      metadata: {},
      recordedAt: new Date(1_700_000_000_000),
    });
    expect(read.cancel).toHaveBeenCalled();
  });

  describe('subscriptions', () => {
    const subscribeWith = () => {
      const stream = new FakeSubscription();
      const calls: SubscribeToAllOptions[] = [];
      const client = fakeClient({
        subscribeToAll: (options: SubscribeToAllOptions) => {
          calls.push(options);
          return stream;
        },
      });
      const filter = (): Filter => {
        const filter = calls[0]?.filter;
        if (filter === undefined) throw new Error('No server filter');
        return filter;
      };
      return { store: new EsdbEventStore(client), stream, calls, filter };
    };

    it('asks the server to filter: by stream prefixes, by exact event types, or only system events away', () => {
      const byPrefix = subscribeWith();
      void byPrefix.store.subscribeToAll({ filter: { streamPrefixes: ['order-'] } }, { onEvents: () => undefined }).stop();
      expect(byPrefix.filter()).toMatchObject({ filterOn: 'streamName', prefixes: ['order-'] });

      const byType = subscribeWith();
      void byType.store.subscribeToAll({ filter: { eventTypes: ['Batch.Created', 'Paused'] } }, { onEvents: () => undefined }).stop();
      expect(byType.filter()).toMatchObject({ filterOn: 'eventType', regex: '^(?:Batch\\.Created|Paused)$' });

      const byBoth = subscribeWith();
      void byBoth.store
        .subscribeToAll({ filter: { streamPrefixes: ['order-'], eventTypes: ['Paused'] } }, { onEvents: () => undefined })
        .stop();
      expect(byBoth.filter()).toMatchObject({ filterOn: 'eventType', regex: '^[^$].*' });

      const unfiltered = subscribeWith();
      void unfiltered.store.subscribeToAll({ after: encodePosition(position(300)) }, { onEvents: () => undefined }).stop();
      expect(unfiltered.calls[0]).toMatchObject({ fromPosition: position(300), filter: { filterOn: 'eventType', regex: '^[^$].*' } });
    });

    it('keeps caught-up and checkpoints behind the events that arrived before them', async () => {
      const { store, stream, filter } = subscribeWith();
      const log: string[] = [];
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let caughtUp = false;
      const subscription = store.subscribeToAll(
        { filter: { streamPrefixes: ['order-', 'invoice-'], eventTypes: ['Paused'] }, maxBatchSize: 2 },
        {
          onEvents: async (events) => {
            log.push(`events ${events.map((event) => event.revision).join(',')}`);
            if (events[0]?.revision === 0) await gate;
          },
          onCheckpoint: (at) => {
            log.push(`checkpoint ${decodePosition(at).commit}`);
          },
        },
      );
      void subscription.caughtUp.then(() => (caughtUp = true));

      stream.write(recorded(0));
      await until(() => log.length === 1, 2_000);
      // While the handler is busy, the client buffers events and reports a checkpoint and caught-up.
      stream.write(recorded(1));
      stream.write(recorded(2, { streamId: 'customer-1' }));
      stream.write(recorded(3, { type: '$metadata' }));
      filter().checkpointReached?.(stream as never, position(350));
      stream.write(recorded(4, { streamId: 'invoice-1' }));
      stream.emit('caughtUp');
      await new Promise((resolve) => setImmediate(resolve));
      expect(caughtUp).toBe(false);

      release();
      await subscription.caughtUp;
      expect(log).toEqual(['events 0', 'events 1', 'checkpoint 350', 'events 4']);

      stream.write(recorded(5));
      await until(() => log.length === 5, 2_000);
      expect(log[4]).toBe('events 5');
      await subscription.stop();
      expect(stream.unsubscribe).toHaveBeenCalled();
    });

    it('stops on an error of the handler, reports it and unsubscribes', async () => {
      const { store, stream } = subscribeWith();
      const errors: unknown[] = [];
      const subscription = store.subscribeToAll(
        {},
        {
          onEvents: () => {
            throw new Error('handler failed');
          },
          onError: (error) => errors.push(error),
        },
      );
      stream.write(recorded(0));

      await expect(subscription.caughtUp).rejects.toThrow('handler failed');
      await until(() => errors.length === 1, 2_000);
      expect(stream.unsubscribe).toHaveBeenCalled();
      await expect(subscription.stop()).resolves.toBeUndefined();
    });

    it('are stopped by close() before the client is disposed of', async () => {
      const stream = new FakeSubscription();
      const calls: string[] = [];
      stream.unsubscribe.mockImplementation(async () => {
        calls.push('unsubscribe');
      });
      const store = new EsdbEventStore(
        fakeClient({
          subscribeToAll: () => stream,
          dispose: async () => {
            calls.push('dispose');
          },
        }),
      );
      const errors: unknown[] = [];
      const subscription = store.subscribeToAll({}, { onEvents: () => undefined, onError: (error) => errors.push(error) });

      await store.close();

      expect(calls).toEqual(['unsubscribe', 'dispose']);
      await expect(subscription.caughtUp).rejects.toThrow('stopped before it caught up');
      expect(errors).toEqual([]);
    });

    it('reports an error of the server stream', async () => {
      const { store, stream } = subscribeWith();
      const errors: unknown[] = [];
      const subscription = store.subscribeToAll({}, { onEvents: () => undefined, onError: (error) => errors.push(error) });
      stream.destroy(new Error('connection lost'));

      await expect(subscription.caughtUp).rejects.toThrow('connection lost');
      expect(errors).toEqual([new Error('connection lost')]);
    });
  });
});
