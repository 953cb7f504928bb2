import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type CurrentRevision,
  type Filter,
  type JSONType,
  type Position,
  type ReadPosition,
  type ReadRevision,
  type RecordedEvent,
} from '@eventstore/db-client';
import { checkedFilter, matchesFilter } from '../event-filter';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventFilter,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StoredEvent,
  type StreamName,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from '../event-store';
import { CaughtUpSignal, WakeSignal, maxBatchSizeOf, reportSubscriptionError, stoppedBeforeCaughtUp } from '../subscription-support';

const PREPARE_MASK = (1n << 64n) - 1n;

/**
 * EventStoreDB orders `$all` by the pair (commit, prepare), both below 2^64: packing them as
 * `commit << 64 | prepare` gives one bigint that sorts the same way and unpacks losslessly.
 */
export const encodePosition = ({ commit, prepare }: Position): GlobalPosition => (commit << 64n) | prepare;
export const decodePosition = (position: GlobalPosition): Position => ({ commit: position >> 64n, prepare: position & PREPARE_MASK });

/**
 * `@eventstore/db-client` 6 parses only `esdb://` and `esdb+discover://`; KurrentDB's `kurrentdb://`
 * (also `kurrent://`, `kdb://`) names the same protocol and options.
 */
export const toEsdbConnectionString = (connectionString: string): string =>
  connectionString.replace(/^(?:kurrentdb|kurrent|kdb)(\+discover)?:\/\//i, 'esdb$1://');

/**
 * The event store on EventStoreDB / KurrentDB through `@eventstore/db-client`. System events (types
 * starting with `$`) are never returned. Event ids must be UUIDs: the server refuses anything else.
 * Live subscriptions report `caughtUp` from the server's caught-up message (EventStoreDB 23.10 and later).
 */
export class EsdbEventStore implements EventStore {
  private readonly subscriptions = new Set<EsdbSubscription>();

  /** The store owns the client: `close()` disposes of it. */
  constructor(private readonly client: EventStoreDBClient) {}

  static fromConnectionString(connectionString: string): EsdbEventStore {
    return new EsdbEventStore(EventStoreDBClient.connectionString(toEsdbConnectionString(connectionString)));
  }

  async appendToStream(
    stream: StreamName,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    if (events.length === 0) throw new Error(`Append to ${stream} has no events`);
    const expected = options.expectedRevision ?? 'any';
    const eventData = events.map((event) =>
      jsonEvent({ id: event.id, type: event.type, data: (event.data ?? null) as JSONType, metadata: event.metadata }),
    );
    try {
      const result = await this.client.appendToStream(stream, eventData, { expectedRevision: toEsdbExpectedRevision(expected) });
      if (result.position === undefined) throw new Error(`EventStoreDB returned no position for the append to ${stream}`);
      return { nextExpectedRevision: Number(result.nextExpectedRevision), position: encodePosition(result.position) };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError)
        throw new WrongExpectedRevisionError(stream, expected, fromCurrentRevision(error.actualVersion));
      throw error;
    }
  }

  async *readStream(stream: StreamName, options: ReadStreamOptions = {}): AsyncIterable<StoredEvent> {
    if (options.maxCount === 0) return;
    const backwards = options.direction === 'backwards';
    const read = this.client.readStream(stream, {
      direction: backwards ? BACKWARDS : FORWARDS,
      fromRevision: toReadRevision(options.fromRevision, backwards),
      ...(options.maxCount !== undefined && { maxCount: options.maxCount }),
    });
    let drained = false;
    try {
      for await (const resolved of read) {
        if (resolved.event !== undefined && !isSystemEvent(resolved.event)) yield toStoredEvent(resolved.event);
      }
      drained = true;
    } catch (error) {
      if (error instanceof StreamNotFoundError) {
        drained = true;
        return;
      }
      throw error;
    } finally {
      // A consumer that stops early leaves the server streaming: cancel the call.
      if (!drained) await read.cancel();
    }
  }

  async streamRevision(stream: StreamName): Promise<number | undefined> {
    for await (const event of this.readStream(stream, { direction: 'backwards', maxCount: 1 })) return event.revision;
    return undefined;
  }

  /** The client offers no server-side filter for reads (only for subscriptions): filters apply here. */
  async *readAll(options: ReadAllOptions = {}): AsyncIterable<StoredEvent> {
    const filter = checkedFilter(options.filter);
    const after = options.after === undefined || options.after === 'start' ? undefined : options.after;
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    if (remaining <= 0) return;
    const read = this.client.readAll({ direction: FORWARDS, fromPosition: after === undefined ? START : decodePosition(after) });
    let drained = false;
    try {
      for await (const resolved of read) {
        const event = resolved.event;
        if (event === undefined || !isWanted(event, filter)) continue;
        const stored = toStoredEvent(event);
        // A read from a position includes the event at that position; `after` is exclusive.
        if (after !== undefined && stored.position <= after) continue;
        yield stored;
        remaining -= 1;
        if (remaining === 0) return;
      }
      drained = true;
    } finally {
      if (!drained) await read.cancel();
    }
  }

  subscribeToAll(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    const subscription = new EsdbSubscription(this.client, options, handler, () => this.subscriptions.delete(subscription));
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Stops the subscriptions first, so that they end quietly rather than on the client's disposal. */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    await this.client.dispose();
  }
}

const toEsdbExpectedRevision = (expected: ExpectedRevision): AppendExpectedRevision => {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
};

const fromCurrentRevision = (current: CurrentRevision): number | undefined =>
  typeof current === 'bigint' && current >= 0n ? Number(current) : undefined;

const toReadRevision = (from: ReadStreamOptions['fromRevision'], backwards: boolean): ReadRevision => {
  if (from === 'end' || (from === undefined && backwards)) return END;
  // 'start' as revision 0 (not START) so that reading backwards from it returns event 0, as in the SQLite store.
  return BigInt(from === 'start' || from === undefined ? 0 : from);
};

const toReadPosition = (after: SubscribeOptions['after']): ReadPosition => {
  if (after === undefined || after === 'start') return START;
  if (after === 'end') return END;
  return decodePosition(after);
};

const isSystemEvent = (event: RecordedEvent): boolean => event.type.startsWith('$');

const isWanted = (event: RecordedEvent, filter: EventFilter | undefined): boolean =>
  !isSystemEvent(event) && (filter === undefined || matchesFilter(filter, event.streamId, event.type));

const toStoredEvent = (event: RecordedEvent): StoredEvent => {
  if (event.position === undefined)
    throw new Error('EventStoreDB returned an event without its position: the server must be 22.6 or later');
  return {
    id: event.id,
    streamName: event.streamId,
    revision: Number(event.revision),
    position: encodePosition(event.position),
    type: event.type,
    data: event.data,
    metadata: toMetadata(event.metadata),
    recordedAt: event.created,
  };
};

/** Metadata that is not a JSON object (absent, binary, or written by another client) reads as empty. */
const toMetadata = (metadata: unknown): EventMetadata =>
  typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) && !ArrayBuffer.isView(metadata)
    ? (metadata as EventMetadata)
    : {};

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The server filters on stream name or on event type, never both: a filter naming both is applied here,
 * over a server filter that only drops system events. Every server filter reports checkpoints.
 */
const serverFilter = (filter: EventFilter | undefined, checkpointReached: (position: Position) => void): Filter => {
  const onCheckpoint = { checkpointReached: (_: unknown, position: Position) => checkpointReached(position) };
  const prefixes = filter?.streamPrefixes ?? [];
  const types = filter?.eventTypes ?? [];
  if (prefixes.length > 0 && types.length === 0) return streamNameFilter({ prefixes: [...prefixes], ...onCheckpoint });
  if (types.length > 0 && prefixes.length === 0)
    return eventTypeFilter({ regex: `^(?:${types.map(escapeRegex).join('|')})$`, ...onCheckpoint });
  return excludeSystemEvents(onCheckpoint);
};

/** Something the server said between events, to be acted on once the events before it are delivered. */
type Marker = { readonly at: number } & (
  { readonly kind: 'caughtUp' } | { readonly kind: 'checkpoint'; readonly position: GlobalPosition }
);

/**
 * Reads the client's subscription stream in paused mode, so batches form from what is already buffered and
 * the next read waits for the handler. Checkpoints and the caught-up message arrive as callbacks while
 * earlier events may still sit in the stream's buffer: each is queued with the count of events to deliver
 * first, which keeps `onCheckpoint` and `caughtUp` in order with `onEvents`.
 */
class EsdbSubscription implements Subscription {
  private readonly signal = new CaughtUpSignal();
  readonly caughtUp = this.signal.promise;
  private readonly stream: AllStreamSubscription;
  private readonly filter: EventFilter | undefined;
  private readonly maxBatchSize: number;
  private readonly done: Promise<void>;
  private readonly markers: Marker[] = [];
  /** Events taken out of the client's stream so far. */
  private taken = 0;
  private stopping = false;
  private failure: { readonly error: unknown } | undefined;
  private readonly wakeup = new WakeSignal();

  constructor(
    client: EventStoreDBClient,
    options: SubscribeOptions,
    private readonly handler: SubscriptionHandler,
    private readonly finished: () => void,
  ) {
    this.filter = checkedFilter(options.filter);
    this.maxBatchSize = maxBatchSizeOf(options);
    this.stream = client.subscribeToAll(
      {
        fromPosition: toReadPosition(options.after),
        filter: serverFilter(this.filter, (position) => this.mark({ kind: 'checkpoint', position: encodePosition(position) })),
      },
      { highWaterMark: this.maxBatchSize },
    );
    this.stream.on('caughtUp', () => this.mark({ kind: 'caughtUp' }));
    this.stream.on('readable', () => this.wake());
    this.stream.on('error', (error) => this.fail(error));
    this.stream.on('end', () => this.fail(new Error('EventStoreDB ended the subscription')));
    this.done = this.run();
  }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.wake();
      await this.stream.unsubscribe();
    }
    await this.done;
  }

  private mark(marker: { readonly kind: 'caughtUp' } | { readonly kind: 'checkpoint'; readonly position: GlobalPosition }): void {
    this.markers.push({ ...marker, at: this.taken + this.stream.readableLength });
    this.wake();
  }

  private fail(error: unknown): void {
    this.failure ??= { error };
    this.wake();
  }

  private wake(): void {
    this.wakeup.wake();
  }

  private async run(): Promise<void> {
    let delivered = -1n;
    try {
      while (!this.stopping) {
        this.wakeup.reset();
        const batch = this.takeBatch();
        if (batch.length > 0) {
          await this.handler.onEvents(batch);
          delivered = batch[batch.length - 1]?.position ?? delivered;
          continue;
        }
        const marker = this.markers[0];
        if (marker !== undefined && marker.at <= this.taken) {
          this.markers.shift();
          if (marker.kind === 'caughtUp') this.signal.resolve();
          else if (marker.position > delivered) {
            delivered = marker.position;
            await this.handler.onCheckpoint?.(marker.position);
          }
          continue;
        }
        if (this.failure !== undefined && !this.stopping) throw this.failure.error;
        if (!this.stopping) await this.wakeup.sleep();
      }
      this.signal.reject(stoppedBeforeCaughtUp());
    } catch (error) {
      this.stopping = true;
      this.signal.reject(error);
      await this.stream.unsubscribe();
      reportSubscriptionError(this.handler, error);
    } finally {
      this.finished();
    }
  }

  /** What is buffered, up to the batch size and never past the next marker. */
  private takeBatch(): StoredEvent[] {
    const batch: StoredEvent[] = [];
    const limit = this.markers[0]?.at ?? Number.POSITIVE_INFINITY;
    while (batch.length < this.maxBatchSize && this.taken < limit) {
      const resolved = this.stream.read() as AllStreamResolvedEvent | null;
      if (resolved === null) break;
      this.taken += 1;
      if (resolved.event !== undefined && isWanted(resolved.event, this.filter)) batch.push(toStoredEvent(resolved.event));
    }
    return batch;
  }
}
