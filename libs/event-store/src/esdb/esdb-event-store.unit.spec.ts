/**
 * The adapter's own logic (positions, errors, filters, ordering of subscription messages, reconnects) against a
 * fake client. Errors are the client's own classes, made by their own constructors or by the client's own
 * conversion of a gRPC failure (`convertToCommandError`). Whether the server behaves as the adapter assumes is
 * the contract suite's job (esdb-event-store.int.spec.ts), which needs a server.
 */
import { PassThrough, Readable } from 'node:stream';
import {
  AccessDeniedError,
  CancelledError,
  EventStoreDBClient,
  MaxAppendSizeExceededError,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  convertToCommandError,
  jsonEvent,
  type AllStreamRecordedEvent,
  type AllStreamResolvedEvent,
  type AppendToStreamOptions,
  type EventData,
  type Filter,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeToAllOptions,
} from '@eventstore/db-client';
import { AppendTooLargeError, WrongExpectedRevisionError, type StoredEvent, type SubscriptionHandler } from '../event-store';
import {
  EsdbEventStore,
  UnsupportedServerError,
  checkedPosition,
  decodePosition,
  encodePosition,
  eventBytes,
  isTransientClientError,
  toEsdbConnectionString,
  type EsdbEventStoreOptions,
} from './esdb-event-store';
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

/** The client's features probe answers with the server's version; a supported one unless a test says otherwise. */
const fakeClient = (client: Partial<Record<keyof EventStoreDBClient | 'capabilities', unknown>>): EventStoreDBClient =>
  ({ capabilities: Promise.resolve({ serverVersion: '24.10.0' }), ...client }) as unknown as EventStoreDBClient;

/** A failed gRPC call as @grpc/grpc-js reports it (code, details, metadata), for the client to convert. */
const grpcFailure = (code: number, details: string): Error =>
  convertToCommandError(Object.assign(new Error(`${code} ${details}`), { code, details, metadata: { getMap: () => ({}) } }));

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

  it('refuse what cannot be one: a SQLite checkpoint (commit 0), a negative number, more than 128 bits', () => {
    expect(checkedPosition(0n)).toEqual({ commit: 0n, prepare: 0n });
    expect(checkedPosition(encodePosition({ commit: 5n, prepare: 3n }))).toEqual({ commit: 5n, prepare: 3n });
    for (const wrong of [1n, 12_345n, (1n << 64n) - 1n, -1n, 1n << 128n])
      expect(() => checkedPosition(wrong)).toThrow(`${wrong} cannot be an EventStoreDB position`);
  });
});

describe('EventStoreDB connection strings', () => {
  it.each([
    ['esdb://localhost:2113?tls=false', 'esdb://localhost:2113?tls=false'],
    ['ESDB://localhost:2113?tls=false', 'esdb://localhost:2113?tls=false'],
    ['Esdb+Discover://a:2113,b:2113', 'esdb+discover://a:2113,b:2113'],
    ['kurrentdb://localhost:2113?tls=false', 'esdb://localhost:2113?tls=false'],
    ['KurrentDB+discover://a:2113,b:2113', 'esdb+discover://a:2113,b:2113'],
    ['kurrent://admin:changeit@localhost:2113', 'esdb://admin:changeit@localhost:2113'],
    ['kdb://localhost:2113', 'esdb://localhost:2113'],
    ['KDB://Admin:ChangeIt@Host:2113?TLS=false', 'esdb://Admin:ChangeIt@Host:2113?TLS=false'],
  ])('%s is given to the client as %s', (given, expected) => {
    expect(toEsdbConnectionString(given)).toBe(expected);
  });

  it('an uppercase scheme, which the client refuses, opens a store', async () => {
    expect(() => EventStoreDBClient.connectionString('ESDB://localhost:2113?tls=false')).toThrow();
    // The client connects on its first call: nothing here reaches the network.
    const store = EsdbEventStore.fromConnectionString('ESDB://localhost:2113?tls=false');
    expect(store).toBeInstanceOf(EsdbEventStore);
    await store.close();
  });
});

describe('EventStoreDB transient errors', () => {
  it('are the connection failures, not the refusals', () => {
    expect(isTransientClientError(grpcFailure(14, 'No connection established'))).toBe(true);
    expect(grpcFailure(14, 'No connection established')).toBeInstanceOf(UnavailableError);
    expect(isTransientClientError(grpcFailure(1, 'Cancelled on server'))).toBe(true);
    expect(grpcFailure(1, 'Cancelled on server')).toBeInstanceOf(CancelledError);
    expect(isTransientClientError(grpcFailure(4, 'Deadline exceeded'))).toBe(true);
    expect(isTransientClientError(new Error('Failed to discover after 10 attempts.'))).toBe(true);
    expect(isTransientClientError(new AccessDeniedError())).toBe(false);
    expect(isTransientClientError(grpcFailure(16, 'Unauthenticated'))).toBe(false);
    expect(isTransientClientError(new StreamNotFoundError(undefined, 'order-1'))).toBe(false);
    expect(isTransientClientError(new Error('handler failed'))).toBe(false);
  });
});

describe('EsdbEventStore appends on a fake client', () => {
  const event = (n: number, dataBytes = 10) => ({
    id: `11111111-1111-4111-8111-${String(n).padStart(12, '0')}`,
    type: 'A',
    data: { n, pad: 'x'.repeat(dataBytes) },
  });
  type Append = [string, EventData[], AppendToStreamOptions];

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

  it('translates a conflict returned as a result (throwOnAppendFailure=false), reading the actual revision', async () => {
    // The client's batch append reports nextExpectedRevision 1 for any existing stream on a failure: not trusted.
    const appendToStream = jest.fn(async () => ({ success: false, nextExpectedRevision: 1n, position: undefined }));
    const readStream = jest.fn((_stream: string, _options: ReadStreamOptions) => readable([recorded(7)]));
    const store = new EsdbEventStore(fakeClient({ appendToStream, readStream }));

    await expect(store.appendToStream('order-1', [event(1)], { expectedRevision: 3 })).rejects.toEqual(
      new WrongExpectedRevisionError('order-1', 3, 7),
    );
    expect(readStream).toHaveBeenCalledWith('order-1', expect.objectContaining({ direction: 'backwards', maxCount: 1 }));
  });

  it('gives a success without a position (an idempotent re-append) the stored position of its last event', async () => {
    const appendToStream = jest.fn(async () => ({ success: true, nextExpectedRevision: 4n, position: undefined }));
    const readStream = jest.fn((_stream: string, _options: ReadStreamOptions) => readable([recorded(4)]));
    const store = new EsdbEventStore(fakeClient({ appendToStream, readStream }));

    await expect(store.appendToStream('order-1', [event(1)], { expectedRevision: 3 })).resolves.toEqual({
      nextExpectedRevision: 4,
      position: encodePosition(position(400)),
    });
    expect(readStream).toHaveBeenCalledWith('order-1', { direction: 'forwards', fromRevision: 4n, maxCount: 1 });
  });

  it("turns the client's MaxAppendSizeExceededError (empty message) into AppendTooLargeError naming stream, size and limit", async () => {
    const tooLarge = new MaxAppendSizeExceededError(undefined, 1_048_576);
    expect(tooLarge.message).toBe('');
    const store = new EsdbEventStore(
      fakeClient({
        appendToStream: async () => {
          throw tooLarge;
        },
      }),
    );

    const refusal = await store.appendToStream('batch-1', [event(1, 500)]).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(AppendTooLargeError);
    const bytes = eventBytes(jsonEvent(event(1, 500)));
    expect(refusal).toMatchObject({ stream: 'batch-1', bytes, limit: 1_048_576 });
    expect((refusal as Error).message).toBe(
      `Append to batch-1 is too large: ${bytes} bytes, the store accepts at most 1048576 bytes in one write`,
    );
  });

  it('refuses one event over the limit before writing anything', async () => {
    const appendToStream = jest.fn();
    const store = new EsdbEventStore(fakeClient({ appendToStream }), { maxAppendBytes: 1_000 });

    const refusal = await store.appendToStream('batch-1', [event(1), event(2, 2_000)]).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(AppendTooLargeError);
    expect(refusal).toMatchObject({ stream: 'batch-1', limit: 1_000 });
    expect((refusal as AppendTooLargeError).bytes).toBeGreaterThan(2_000);
    expect(appendToStream).not.toHaveBeenCalled();
  });

  it('counts bytes, not characters', () => {
    const ascii = eventBytes(jsonEvent({ type: 'A', data: { s: 'aaaa' } }));
    const wide = eventBytes(jsonEvent({ type: 'A', data: { s: '€€€€' } }));
    expect(wide - ascii).toBe(8);
  });

  describe('over the limit', () => {
    const oneKiB = 1_024;
    /** Each event is a little over 300 bytes, so three fit in 1 KiB and the fourth starts the next write. */
    const events = [1, 2, 3, 4, 5, 6, 7].map((n) => event(n, 150));

    const chained = () => {
      const calls: Append[] = [];
      let revision = 2n;
      const appendToStream = jest.fn(async (stream: string, written: EventData[], options: AppendToStreamOptions) => {
        calls.push([stream, written, options]);
        revision += BigInt(written.length);
        return { success: true, nextExpectedRevision: revision, position: { commit: revision * 10n, prepare: revision * 10n } };
      });
      return { calls, appendToStream };
    };

    it('splits into writes under the limit, each expecting the revision the one before returned', async () => {
      const { calls, appendToStream } = chained();
      const store = new EsdbEventStore(fakeClient({ appendToStream }), { maxAppendBytes: oneKiB });

      const result = await store.appendToStream('batch-1', events, { expectedRevision: 2 });

      expect(calls.map(([, written]) => written.map((e) => (e.data as { n: number }).n))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
      expect(calls.map(([, , options]) => options.expectedRevision)).toEqual([2n, 5n, 8n]);
      for (const [, written] of calls) expect(written.reduce((total, e) => total + eventBytes(e), 0)).toBeLessThanOrEqual(oneKiB);
      expect(result).toEqual({ nextExpectedRevision: 9, position: encodePosition({ commit: 90n, prepare: 90n }) });
    });

    it('a conflict can only hit the first write, when nothing is written: the usual WrongExpectedRevisionError', async () => {
      const appendToStream = jest.fn(async () => {
        throw new WrongExpectedVersionError(undefined, { streamName: 'batch-1', expected: 2n, current: 4n });
      });
      const store = new EsdbEventStore(fakeClient({ appendToStream }), { maxAppendBytes: oneKiB });

      await expect(store.appendToStream('batch-1', events, { expectedRevision: 2 })).rejects.toEqual(
        new WrongExpectedRevisionError('batch-1', 2, 4),
      );
      expect(appendToStream).toHaveBeenCalledTimes(1);
    });

    it('a failure after the first write says what was written, and is no conflict', async () => {
      const { calls, appendToStream } = chained();
      const dropped = grpcFailure(14, 'Connection dropped');
      appendToStream.mockImplementationOnce(async (stream, written, options) => {
        calls.push([stream, written, options]);
        return { success: true, nextExpectedRevision: 5n, position: { commit: 50n, prepare: 50n } };
      });
      appendToStream.mockImplementationOnce(async () => {
        throw dropped;
      });
      const store = new EsdbEventStore(fakeClient({ appendToStream }), { maxAppendBytes: oneKiB });

      const failure = await store.appendToStream('batch-1', events, { expectedRevision: 2 }).catch((error: unknown) => error);

      expect(failure).not.toBeInstanceOf(WrongExpectedRevisionError);
      expect((failure as Error).message).toMatch(
        /^Append to batch-1 was split into 3 writes of at most 1024 bytes: 1 were written \(up to revision 5\) and write 2 failed \(UnavailableError: 14 Connection dropped\)/,
      );
      expect((failure as Error).cause).toBe(dropped);
      expect(appendToStream).toHaveBeenCalledTimes(2);
    });

    it('with splitAppends false, is refused whole before anything is written', async () => {
      const appendToStream = jest.fn();
      const store = new EsdbEventStore(fakeClient({ appendToStream }), { maxAppendBytes: oneKiB, splitAppends: false });

      const refusal = await store.appendToStream('batch-1', events).catch((error: unknown) => error);

      expect(refusal).toBeInstanceOf(AppendTooLargeError);
      expect((refusal as AppendTooLargeError).bytes).toBeGreaterThan(2 * oneKiB);
      expect(appendToStream).not.toHaveBeenCalled();
    });
  });
});

describe('EsdbEventStore reads on a fake client', () => {
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
    const readAll = jest.fn((_options: ReadAllOptions) => read);
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

  it('refuses to read after a position that is no EventStoreDB position', async () => {
    const readAll = jest.fn();
    const store = new EsdbEventStore(fakeClient({ readAll }));

    await expect(collect(store.readAll({ after: 42n }))).rejects.toThrow('42 cannot be an EventStoreDB position');
    expect(readAll).not.toHaveBeenCalled();
  });
});

describe('EsdbEventStore subscriptions on a fake client', () => {
  /** Each call to subscribeToAll gets a new fake stream, as the client makes a new call each time. */
  const subscribeWith = (options: EsdbEventStoreOptions = {}, client: Partial<Record<string, unknown>> = {}) => {
    const streams: FakeSubscription[] = [];
    const calls: SubscribeToAllOptions[] = [];
    const logs: string[] = [];
    const store = new EsdbEventStore(
      fakeClient({
        subscribeToAll: (subscribeOptions: SubscribeToAllOptions) => {
          calls.push(subscribeOptions);
          const stream = new FakeSubscription();
          streams.push(stream);
          return stream;
        },
        ...client,
      }),
      { reconnect: { baseMs: 1, capMs: 4 }, random: () => 0.99, log: (message) => logs.push(message), ...options },
    );
    const stream = async (index: number): Promise<FakeSubscription> => {
      await until(() => streams.length > index, 2_000, `subscription call ${index + 1}`);
      return streams[index] as FakeSubscription;
    };
    const filter = (index = 0): Filter => {
      const filter = calls[index]?.filter;
      if (filter === undefined) throw new Error('No server filter');
      return filter;
    };
    return { store, streams, stream, calls, filter, logs };
  };

  const recording = (overrides: Partial<SubscriptionHandler> = {}) => {
    const delivered: number[] = [];
    const errors: unknown[] = [];
    const handler: SubscriptionHandler = {
      onEvents: (events) => {
        delivered.push(...events.map((event) => event.revision));
      },
      onError: (error) => errors.push(error),
      ...overrides,
    };
    return { delivered, errors, handler };
  };

  it('asks the server to filter: by stream prefixes, by exact event types, or only system events away', async () => {
    const byPrefix = subscribeWith();
    const a = byPrefix.store.subscribeToAll({ filter: { streamPrefixes: ['order-'] } }, { onEvents: () => undefined });
    await byPrefix.stream(0);
    expect(byPrefix.filter()).toMatchObject({ filterOn: 'streamName', prefixes: ['order-'] });

    const byType = subscribeWith();
    const b = byType.store.subscribeToAll({ filter: { eventTypes: ['Batch.Created', 'Paused'] } }, { onEvents: () => undefined });
    await byType.stream(0);
    expect(byType.filter()).toMatchObject({ filterOn: 'eventType', regex: '^(?:Batch\\.Created|Paused)$' });

    const byBoth = subscribeWith();
    const c = byBoth.store.subscribeToAll(
      { filter: { streamPrefixes: ['order-'], eventTypes: ['Paused'] } },
      { onEvents: () => undefined },
    );
    await byBoth.stream(0);
    expect(byBoth.filter()).toMatchObject({ filterOn: 'eventType', regex: '^[^$].*' });

    const unfiltered = subscribeWith();
    const d = unfiltered.store.subscribeToAll({ after: encodePosition(position(300)) }, { onEvents: () => undefined });
    await unfiltered.stream(0);
    expect(unfiltered.calls[0]).toMatchObject({ fromPosition: position(300), filter: { filterOn: 'eventType', regex: '^[^$].*' } });

    await Promise.all([a, b, c, d].map((subscription) => subscription.stop()));
  });

  it('keeps caught-up and checkpoints behind the events that arrived before them', async () => {
    const { store, stream: streamAt, filter } = subscribeWith();
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
    const stream = await streamAt(0);

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

  it('stops on an error of the handler, reports it, unsubscribes and never resubscribes', async () => {
    const { store, stream: streamAt, calls } = subscribeWith();
    const errors: unknown[] = [];
    const subscription = store.subscribeToAll(
      {},
      {
        onEvents: () => {
          // Even an error shaped like a dropped connection is the handler's own: the port's contract holds.
          throw new UnavailableError(undefined, 'handler failed');
        },
        onError: (error) => errors.push(error),
      },
    );
    const stream = await streamAt(0);
    stream.write(recorded(0));

    await expect(subscription.caughtUp).rejects.toThrow('handler failed');
    await until(() => errors.length === 1, 2_000);
    expect(stream.unsubscribe).toHaveBeenCalled();
    await expect(subscription.stop()).resolves.toBeUndefined();
    expect(calls).toHaveLength(1);
  });

  it('are stopped by close() before the client is disposed of', async () => {
    const stream = new FakeSubscription();
    const calls: string[] = [];
    stream.unsubscribe.mockImplementation(async () => {
      calls.push('unsubscribe');
    });
    const store = new EsdbEventStore(
      fakeClient({
        subscribeToAll: () => {
          calls.push('subscribe');
          return stream;
        },
        dispose: async () => {
          calls.push('dispose');
        },
      }),
    );
    const errors: unknown[] = [];
    const subscription = store.subscribeToAll({}, { onEvents: () => undefined, onError: (error) => errors.push(error) });
    await until(() => calls.length === 1, 2_000);

    await store.close();

    expect(calls).toEqual(['subscribe', 'unsubscribe', 'dispose']);
    await expect(subscription.caughtUp).rejects.toThrow('stopped before it caught up');
    expect(errors).toEqual([]);
  });

  it.each([
    ['the connection drops (UNAVAILABLE)', () => grpcFailure(14, 'Connection dropped')],
    ['the server cancels the call (CANCELLED)', () => grpcFailure(1, 'Cancelled on server')],
    ['the server ends the stream', undefined],
  ])('resubscribe from the last delivered position when %s, logged, with no onError', async (_, failure) => {
    const { store, stream: streamAt, calls, logs } = subscribeWith();
    const { delivered, errors, handler } = recording();
    const subscription = store.subscribeToAll({}, handler);
    const first = await streamAt(0);
    first.write(recorded(1));
    first.write(recorded(2));
    await until(() => delivered.length === 2, 2_000);

    const error = failure?.();
    if (error === undefined) first.end();
    else first.destroy(error);

    const second = await streamAt(1);
    expect(calls[1]).toMatchObject({ fromPosition: position(200) });
    // The server may send again what was delivered: it is not delivered twice.
    second.write(recorded(2));
    second.write(recorded(3));
    second.emit('caughtUp');
    await subscription.caughtUp;
    await until(() => delivered.length === 3, 2_000);
    expect(delivered).toEqual([1, 2, 3]);
    expect(errors).toEqual([]);
    expect(logs).toEqual([
      expect.stringMatching(/^EventStoreDB subscription dropped \(.+\); resubscribing after position \d+ in \d+ ms \(attempt 1\)$/),
    ]);
    await subscription.stop();
  });

  it('resume after the last checkpoint when the filter dropped everything since the last event', async () => {
    const { store, stream: streamAt, calls, filter } = subscribeWith();
    const checkpoints: bigint[] = [];
    const { handler } = recording({ onCheckpoint: (at) => void checkpoints.push(at) });
    const subscription = store.subscribeToAll({ filter: { streamPrefixes: ['order-'] } }, handler);
    const first = await streamAt(0);
    first.write(recorded(1));
    filter(0).checkpointReached?.(first as never, position(900));
    await until(() => checkpoints.length === 1, 2_000);

    first.destroy(grpcFailure(14, 'Connection dropped'));

    await streamAt(1);
    expect(calls[1]).toMatchObject({ fromPosition: position(900) });
    await subscription.stop();
  });

  it('survive a call that never started: the unsubscribe that rejects is logged, not thrown, and the backoff grows', async () => {
    // Cluster discovery failed: the client's stream emits the raw error and its unsubscribe() rejects with it.
    const discovery = new Error('Failed to discover after 10 attempts.');
    const { store, stream: streamAt, logs } = subscribeWith({ reconnect: { baseMs: 2, capMs: 8 } });
    const { delivered, errors } = recording();
    // No onError at all (the in-process transport gives none): a reported error would be thrown on a later tick.
    const subscription = store.subscribeToAll(
      { after: encodePosition(position(100)) },
      {
        onEvents: (events) => {
          delivered.push(...events.map((event) => event.revision));
        },
      },
    );
    for (const index of [0, 1, 2]) {
      const failing = await streamAt(index);
      failing.unsubscribe.mockImplementation(async () => {
        throw discovery;
      });
      failing.destroy(discovery);
    }
    const working = await streamAt(3);
    working.write(recorded(2));
    await until(() => delivered.length === 1, 2_000);

    expect(errors).toEqual([]);
    const dropped = logs.filter((line) => line.startsWith('EventStoreDB subscription dropped'));
    expect(dropped.slice(0, 3).map((line) => /in (\d+) ms \(attempt (\d+)\)/.exec(line)?.slice(1))).toEqual([
      ['1', '1'],
      ['3', '2'],
      ['7', '3'],
    ]);
    expect(dropped[0]).toContain('resubscribing after position');
    expect(logs.filter((line) => line.includes('unsubscribe failed'))).toHaveLength(3);
    await expect(subscription.stop()).resolves.toBeUndefined();
  });

  it('stop() during the backoff ends the subscription at once', async () => {
    const { store, stream: streamAt, streams } = subscribeWith({ reconnect: { baseMs: 60_000, capMs: 60_000 } });
    const { errors, handler } = recording();
    const subscription = store.subscribeToAll({}, handler);
    (await streamAt(0)).destroy(grpcFailure(14, 'Connection dropped'));
    await new Promise((resolve) => setTimeout(resolve, 20));

    const started = Date.now();
    await subscription.stop();

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(streams).toHaveLength(1);
    await expect(subscription.caughtUp).rejects.toThrow('stopped before it caught up');
    expect(errors).toEqual([]);
  });

  it('stop on an error of the client that is not about the connection, and report it', async () => {
    const { store, stream: streamAt, calls } = subscribeWith();
    const { errors, handler } = recording();
    const subscription = store.subscribeToAll({}, handler);
    const denied = new AccessDeniedError();
    (await streamAt(0)).destroy(denied);

    await expect(subscription.caughtUp).rejects.toBe(denied);
    expect(errors).toEqual([denied]);
    await subscription.stop();
    expect(calls).toHaveLength(1);
  });

  it.each([['22.10.1'], ['unknown']])('refuse a server that never sends caught-up (%s) before subscribing', async (serverVersion) => {
    const { store, calls } = subscribeWith({}, { capabilities: Promise.resolve({ serverVersion }) });
    const { errors, handler } = recording();
    const subscription = store.subscribeToAll({}, handler);

    await expect(subscription.caughtUp).rejects.toBeInstanceOf(UnsupportedServerError);
    await expect(subscription.caughtUp).rejects.toThrow('subscriptions need 23.10 or later');
    expect(errors).toHaveLength(1);
    expect(calls).toHaveLength(0);
  });

  it('stop() does not wait for a version check that hangs (an unreachable server)', async () => {
    const { store, calls } = subscribeWith({}, { capabilities: new Promise(() => undefined) });
    const { errors, handler } = recording();
    const subscription = store.subscribeToAll({}, handler);

    await subscription.stop();

    await expect(subscription.caughtUp).rejects.toThrow('stopped before it caught up');
    expect(errors).toEqual([]);
    expect(calls).toHaveLength(0);
  });

  it('accept 23.10 and later, and ask the server once per store', async () => {
    let asked = 0;
    const { store, stream: streamAt } = subscribeWith(
      {},
      {
        get capabilities() {
          asked += 1;
          return Promise.resolve({ serverVersion: '23.10.0' });
        },
      },
    );
    const a = store.subscribeToAll({}, recording().handler);
    const b = store.subscribeToAll({}, recording().handler);
    await streamAt(1);
    expect(asked).toBe(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("pin 'end' to the head of $all, so a drop before the first delivery loses nothing", async () => {
    const readAll = jest.fn((_options: ReadAllOptions) => readable([recorded(7, { type: '$statsCollected', streamId: '$stats' })]));
    const { store, stream: streamAt, calls } = subscribeWith({}, { readAll });
    const { delivered, handler } = recording();
    const subscription = store.subscribeToAll({ after: 'end' }, handler);

    const first = await streamAt(0);
    expect(readAll).toHaveBeenCalledWith({ direction: 'backwards', fromPosition: 'end', maxCount: 1 });
    expect(calls[0]).toMatchObject({ fromPosition: position(700) });
    first.emit('caughtUp');
    await subscription.caughtUp;
    first.destroy(grpcFailure(14, 'Connection dropped'));

    const second = await streamAt(1);
    expect(calls[1]).toMatchObject({ fromPosition: position(700) });
    second.write(recorded(8));
    await until(() => delivered.length === 1, 2_000);
    expect(readAll).toHaveBeenCalledTimes(1);
    await subscription.stop();
  });

  it("start 'end' of an empty store at the start", async () => {
    const { store, stream: streamAt, calls } = subscribeWith({}, { readAll: () => readable([]) });
    const subscription = store.subscribeToAll({ after: 'end' }, recording().handler);
    await streamAt(0);
    expect(calls[0]).toMatchObject({ fromPosition: 'start' });
    await subscription.stop();
  });

  it('refuse to start after a position that is no EventStoreDB position (a checkpoint from SQLite)', () => {
    const { store, calls } = subscribeWith();
    expect(() => store.subscribeToAll({ after: 1_234n }, recording().handler)).toThrow('1234 cannot be an EventStoreDB position');
    expect(calls).toHaveLength(0);
  });
});
