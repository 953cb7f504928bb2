import { backoffDelay } from '@flotilla/domain';
import {
  ANY,
  CancelledError,
  DeadlineExceededError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
  UnknownError,
  isCommandError,
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
  type AppendResult as EsdbAppendResult,
  type EventData,
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
  AppendTooLargeError,
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
 * `@eventstore/db-client` 6 parses only `esdb://` and `esdb+discover://`, in lowercase; KurrentDB's `kurrentdb://`
 * (also `kurrent://`, `kdb://`) names the same protocol and options. The scheme is lowercased first (the product
 * matches it without regard to case); the rest is left as it is.
 */
export const toEsdbConnectionString = (connectionString: string): string =>
  connectionString
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, (scheme) => scheme.toLowerCase())
    .replace(/^(?:kurrentdb|kurrent|kdb)(\+discover)?:\/\//, 'esdb$1://');

/**
 * The event store on EventStoreDB / KurrentDB through `@eventstore/db-client`. System events (types
 * starting with `$`) are never returned. Event ids must be UUIDs: the server refuses anything else.
 * Live subscriptions report `caughtUp` from the server's caught-up message (EventStoreDB 23.10 and later).
 */
/** Below it a subscription would never report `caughtUp`: older servers send no caught-up message. */
export const MINIMUM_SERVER_VERSION = { major: 23, minor: 10 } as const;

/**
 * The most one write carries by default: the server's `MaxAppendSize` is 1 MiB by default, counted over all the
 * events of the append; our estimate of an event's size (see `eventBytes`) is close but not the server's own
 * count, so the adapter keeps 64 KiB of room.
 */
export const DEFAULT_MAX_APPEND_BYTES = 1024 * 1024 - 64 * 1024;

export interface EsdbEventStoreOptions {
  /** Appends whose estimated size is over this are split (see `splitAppends`). Default DEFAULT_MAX_APPEND_BYTES. */
  readonly maxAppendBytes?: number;
  /**
   * Whether an append over `maxAppendBytes` is written as several writes (default true) or refused with
   * `AppendTooLargeError`. See `appendToStream` for what splitting gives up.
   */
  readonly splitAppends?: boolean;
  /** Delays before resubscribing after a dropped subscription: the product's backoff (`backoffDelay`), full jitter. */
  readonly reconnect?: { readonly baseMs: number; readonly capMs: number };
  /** Where dropped subscriptions and failed unsubscribes are reported. Default: console.warn. */
  readonly log?: (message: string) => void;
  /** [0, 1) for the backoff's jitter; Math.random by default. */
  readonly random?: () => number;
}

const DEFAULT_RECONNECT = { baseMs: 250, capMs: 15_000 } as const;

/**
 * The event store on EventStoreDB / KurrentDB through `@eventstore/db-client`. System events (types
 * starting with `$`) are never returned. Event ids must be UUIDs: the server refuses anything else.
 * Live subscriptions report `caughtUp` from the server's caught-up message, which servers before 23.10 never
 * send: a subscription checks the server's version first and refuses older servers (MINIMUM_SERVER_VERSION).
 *
 * Event ids are unique per stream only: the server makes a same-stream re-append of the same ids idempotent
 * but never compares ids across streams (the contract's `uniqueIdsAcrossStreams: false`).
 */
export class EsdbEventStore implements EventStore {
  private readonly subscriptions = new Set<EsdbSubscription>();
  private readonly maxAppendBytes: number;
  private readonly splitAppends: boolean;
  private readonly settings: SubscriptionSettings;
  private serverCheck: Promise<void> | undefined;

  /** The store owns the client: `close()` disposes of it. */
  constructor(
    private readonly client: EventStoreDBClient,
    options: EsdbEventStoreOptions = {},
  ) {
    this.maxAppendBytes = options.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES;
    if (!Number.isInteger(this.maxAppendBytes) || this.maxAppendBytes < 1)
      throw new Error(`maxAppendBytes must be a positive integer, not ${this.maxAppendBytes}`);
    this.splitAppends = options.splitAppends ?? true;
    this.settings = {
      reconnect: options.reconnect ?? DEFAULT_RECONNECT,
      log: options.log ?? ((message) => console.warn(message)),
      random: options.random ?? Math.random,
      requireSupportedServer: () => this.requireSupportedServer(),
    };
  }

  /**
   * The scheme is matched without regard to case (`ESDB://` passes the product's check), but the client parses
   * only lowercase `esdb://` and `esdb+discover://`: it is lowercased and KurrentDB's names rewritten.
   */
  static fromConnectionString(connectionString: string, options: EsdbEventStoreOptions = {}): EsdbEventStore {
    return new EsdbEventStore(EventStoreDBClient.connectionString(toEsdbConnectionString(connectionString)), options);
  }

  /**
   * Appends in one write when the events fit in `maxAppendBytes`, as the port asks (all or none).
   *
   * Larger appends are split into consecutive writes to the same stream (unless `splitAppends` is false), and
   * that gives up atomicity across the writes. What is kept: the first write carries the caller's expected
   * revision, so a concurrency conflict can only hit it, when nothing has been written yet (the caller sees the
   * usual WrongExpectedRevisionError and may retry as usual); each later write expects exactly the revision the
   * one before returned, so no writer that states an expected revision can land between the pieces. What is
   * lost: a crash or a dropped connection between two writes leaves the first pieces stored; that is reported as
   * a plain error (never as a conflict, which would invite a re-decision over half a decision). Appending the
   * same events again, with the same ids and the same expected revision, completes it: the server takes a
   * same-stream re-append of the same ids as idempotent. Callers that need all-or-none for large appends pass
   * `splitAppends: false` and get AppendTooLargeError instead. One event over the limit is always refused.
   */
  async appendToStream(
    stream: StreamName,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    if (events.length === 0) throw new Error(`Append to ${stream} has no events`);
    const expected = options.expectedRevision ?? 'any';
    const pieces = this.piecesOf(
      stream,
      events.map((event) =>
        jsonEvent({ id: event.id, type: event.type, data: (event.data ?? null) as JSONType, metadata: event.metadata }),
      ),
    );
    let revision = toEsdbExpectedRevision(expected);
    let result: AppendResult | undefined;
    for (const [index, piece] of pieces.entries()) {
      try {
        result = await this.appendOnce(stream, piece, revision, index === 0 ? expected : Number(revision));
      } catch (error) {
        if (index === 0) throw error;
        throw new Error(
          `Append to ${stream} was split into ${pieces.length} writes of at most ${this.maxAppendBytes} bytes: ` +
            `${index} were written (up to revision ${revision}) and write ${index + 1} failed (${describeError(error)}). ` +
            'Append the same events, with the same ids and expected revision, again to complete it',
          { cause: error },
        );
      }
      revision = BigInt(result.nextExpectedRevision);
    }
    if (result === undefined) throw new Error(`Append to ${stream} wrote nothing`);
    return result;
  }

  /** The events in writes of at most `maxAppendBytes` each; one write when splitting is off. */
  private piecesOf(stream: StreamName, events: readonly EventData[]): Piece[] {
    const pieces: Piece[] = [];
    let current: Piece = { events: [], bytes: 0 };
    for (const event of events) {
      const bytes = eventBytes(event);
      if (bytes > this.maxAppendBytes) throw new AppendTooLargeError(stream, bytes, this.maxAppendBytes);
      if (current.events.length > 0 && current.bytes + bytes > this.maxAppendBytes) {
        pieces.push(current);
        current = { events: [], bytes: 0 };
      }
      current.events.push(event);
      current.bytes += bytes;
    }
    pieces.push(current);
    if (pieces.length > 1 && !this.splitAppends) {
      throw new AppendTooLargeError(
        stream,
        pieces.reduce((total, piece) => total + piece.bytes, 0),
        this.maxAppendBytes,
      );
    }
    return pieces;
  }

  private async appendOnce(
    stream: StreamName,
    piece: Piece,
    revision: AppendExpectedRevision,
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    let result: EsdbAppendResult;
    try {
      result = await this.client.appendToStream(stream, piece.events, { expectedRevision: revision });
    } catch (error) {
      if (error instanceof WrongExpectedVersionError)
        throw new WrongExpectedRevisionError(stream, expected, fromCurrentRevision(error.actualVersion));
      if (error instanceof MaxAppendSizeExceededError) {
        // The message is empty on current servers; the server's limit is in the error.
        const limit = Number.isFinite(error.maxAppendSize) ? error.maxAppendSize : this.maxAppendBytes;
        throw new AppendTooLargeError(stream, piece.bytes, limit);
      }
      throw error;
    }
    if (!result.success) {
      // `throwOnAppendFailure=false` in the connection string: the conflict comes back as a result. Its revision is
      // not to be trusted (the client's batch append reports 1 for any existing stream), so it is read.
      throw new WrongExpectedRevisionError(stream, expected, await this.streamRevision(stream));
    }
    const nextExpectedRevision = Number(result.nextExpectedRevision);
    if (result.position !== undefined) return { nextExpectedRevision, position: encodePosition(result.position) };
    // NoPosition: the server answers an idempotent re-append without one. The events are stored: the position
    // is the stored one of the last of them.
    return { nextExpectedRevision, position: await this.positionOf(stream, nextExpectedRevision) };
  }

  private async positionOf(stream: StreamName, revision: number): Promise<GlobalPosition> {
    for await (const event of this.readStream(stream, { fromRevision: revision, maxCount: 1 })) return event.position;
    throw new Error(`EventStoreDB reported the append to ${stream} written up to revision ${revision}, which cannot be read`);
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

  /**
   * `@eventstore/db-client` 6.2 has no filter on `readAll` (only on subscriptions; filtered reads came with the
   * KurrentDB client): a filtered read streams all of `$all` from `after` and drops here what the filter does
   * not want. Fine for the product's reads (short, from a checkpoint); a sparse filter over a long log is the
   * subscription's job, which the server filters.
   */
  async *readAll(options: ReadAllOptions = {}): AsyncIterable<StoredEvent> {
    const filter = checkedFilter(options.filter);
    const after = options.after === undefined || options.after === 'start' ? undefined : options.after;
    const from = after === undefined ? START : checkedPosition(after);
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    if (remaining <= 0) return;
    const read = this.client.readAll({ direction: FORWARDS, fromPosition: from });
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

  /**
   * Survives dropped connections: a transient error of the client (unavailable, cancelled by the server, a
   * deadline, a leader change, failed discovery) or an end of the stream resubscribes from the last delivered
   * position (event or checkpoint), after the product's backoff, and is logged. An error thrown by the handler,
   * or one the client says is not transient, stops the subscription and goes to `onError` (the port's contract).
   */
  subscribeToAll(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    if (typeof options.after === 'bigint') checkedPosition(options.after);
    const subscription = new EsdbSubscription(this.client, options, handler, this.settings, () => this.subscriptions.delete(subscription));
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Stops the subscriptions first, so that they end quietly rather than on the client's disposal. */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    await this.client.dispose();
  }

  /** Once per store (again after a failure to ask): the server must send caught-up messages. */
  private requireSupportedServer(): Promise<void> {
    this.serverCheck ??= checkServerVersion(this.client).catch((error: unknown) => {
      this.serverCheck = undefined;
      throw error;
    });
    return this.serverCheck;
  }
}

interface Piece {
  readonly events: EventData[];
  bytes: number;
}

/**
 * An event's size as the server counts it, near enough: its data and metadata as the client sends them (JSON in
 * UTF-8), its type, and a few hundred bytes for id, content type and framing.
 */
export const eventBytes = (event: EventData): number => {
  const bytesOf = (value: unknown): number =>
    value === undefined ? 0 : value instanceof Uint8Array ? value.byteLength : Buffer.byteLength(JSON.stringify(value), 'utf8');
  return bytesOf(event.data) + bytesOf(event.metadata) + Buffer.byteLength(event.type, 'utf8') + EVENT_OVERHEAD_BYTES;
};
const EVENT_OVERHEAD_BYTES = 128;

/**
 * The server's version from its features endpoint (`capabilities`, a protected getter of the client: it is the
 * client's own version probe, which it also uses to choose between append calls).
 */
const checkServerVersion = async (client: EventStoreDBClient): Promise<void> => {
  const features = await (client as unknown as { readonly capabilities: Promise<{ readonly serverVersion: string }> }).capabilities;
  const version = features.serverVersion;
  const match = /^(\d+)\.(\d+)/.exec(version);
  const { major, minor } = MINIMUM_SERVER_VERSION;
  if (match === null || Number(match[1]) < major || (Number(match[1]) === major && Number(match[2]) < minor)) {
    throw new UnsupportedServerError(version);
  }
};

/** The server is older than MINIMUM_SERVER_VERSION (or too old to say its version). */
export class UnsupportedServerError extends Error {
  override readonly name = 'UnsupportedServerError';
  constructor(readonly serverVersion: string) {
    const { major, minor } = MINIMUM_SERVER_VERSION;
    super(
      `EventStoreDB ${serverVersion === 'unknown' ? 'older than 21.10 (it does not say its version)' : serverVersion} is not supported: ` +
        `subscriptions need ${major}.${minor} or later, older servers never report that a subscription caught up`,
    );
  }
}

/**
 * Positions here pack `commit << 64 | prepare`, and every event in an EventStoreDB log has a commit position above
 * 0 (the log begins with the server's own records). A position below 2^64 other than 0 is therefore no EventStoreDB
 * position: most likely a checkpoint stored against another event store (SQLite numbers its events 1, 2, 3…).
 */
export const checkedPosition = (position: GlobalPosition): Position => {
  if (position < 0n || position >> 128n !== 0n || (position !== 0n && position >> 64n === 0n)) {
    throw new Error(
      `${position} cannot be an EventStoreDB position (they pack commit << 64 | prepare, commit above 0): ` +
        'a checkpoint stored against another event store means nothing here; reset it to start over',
    );
  }
  return decodePosition(position);
};

/** The client's errors keep the name `Error`: their class says what they are. */
const describeError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const kind = error.name === 'Error' ? error.constructor.name : error.name;
  return error.message ? `${kind}: ${error.message}` : kind;
};

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

interface SubscriptionSettings {
  readonly reconnect: { readonly baseMs: number; readonly capMs: number };
  readonly log: (message: string) => void;
  readonly random: () => number;
  readonly requireSupportedServer: () => Promise<void>;
}

/** One subscription call to the server: its stream, and what arrived on it. */
interface Connection {
  readonly stream: AllStreamSubscription;
  readonly markers: Marker[];
  /** Events taken out of this stream so far. */
  taken: number;
  failure: { readonly error: unknown } | undefined;
  /** Something came from the server since the call was made: the backoff starts over after the next drop. */
  progressed: boolean;
  closed: Promise<void> | undefined;
}

/** The handler's own error: never retried, reported as the port says. */
class HandlerFailure {
  constructor(readonly error: unknown) {}
}

/** The server ended the subscription without being asked to. */
class SubscriptionEndedError extends Error {
  override readonly name = 'SubscriptionEndedError';
  constructor() {
    super('EventStoreDB ended the subscription');
  }
}

/** gRPC codes of a call that failed on its way (CANCELLED, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE). */
const TRANSIENT_GRPC_CODES = new Set([1, 4, 13, 14]);

/**
 * Errors after which a subscription resubscribes: the connection failed, not the request. The client turns gRPC
 * failures into its own classes; a stream that fails before the call is made (cluster discovery) emits the raw
 * error.
 */
export const isTransientClientError = (error: unknown): boolean =>
  error instanceof UnavailableError ||
  error instanceof CancelledError ||
  error instanceof DeadlineExceededError ||
  error instanceof TimeoutError ||
  error instanceof NotLeaderError ||
  error instanceof UnknownError ||
  error instanceof SubscriptionEndedError ||
  (error instanceof Error && /^Failed to discover after \d+ attempts/.test(error.message)) ||
  (!isCommandError(error as Error) &&
    typeof (error as { code?: unknown } | null)?.code === 'number' &&
    TRANSIENT_GRPC_CODES.has((error as { code: number }).code));

/**
 * Reads the client's subscription stream in paused mode, so batches form from what is already buffered and
 * the next read waits for the handler. Checkpoints and the caught-up message arrive as callbacks while
 * earlier events may still sit in the stream's buffer: each is queued with the count of events to deliver
 * first, which keeps `onCheckpoint` and `caughtUp` in order with `onEvents`.
 *
 * A dropped connection opens a new call from the last position delivered (an event or a checkpoint), after the
 * backoff; events at or before it that the server sends again are skipped. `after: 'end'` is pinned to the head
 * of `$all` when the subscription starts, so that a drop before the first delivery loses nothing appended since.
 */
class EsdbSubscription implements Subscription {
  private readonly signal = new CaughtUpSignal();
  readonly caughtUp = this.signal.promise;
  private readonly filter: EventFilter | undefined;
  private readonly maxBatchSize: number;
  private readonly done: Promise<void>;
  /** Exclusive: where the next call starts, moved by each delivered event and checkpoint. */
  private resumeAfter: GlobalPosition | 'start' | 'end';
  private connection: Connection | undefined;
  private stopping = false;
  private readonly wakeup = new WakeSignal();
  private stopBackoff: (() => void) | undefined;
  private requestStop: () => void = () => undefined;
  private readonly stopRequested = new Promise<undefined>((resolve) => {
    this.requestStop = () => resolve(undefined);
  });

  constructor(
    private readonly client: EventStoreDBClient,
    options: SubscribeOptions,
    private readonly handler: SubscriptionHandler,
    private readonly settings: SubscriptionSettings,
    private readonly finished: () => void,
  ) {
    this.filter = checkedFilter(options.filter);
    this.maxBatchSize = maxBatchSizeOf(options);
    this.resumeAfter = options.after ?? 'start';
    this.done = this.run();
  }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.requestStop();
      this.stopBackoff?.();
      this.wake();
      if (this.connection !== undefined) await this.close(this.connection);
    }
    await this.done;
  }

  private wake(): void {
    this.wakeup.wake();
  }

  private async run(): Promise<void> {
    try {
      let failures = 0;
      while (!this.stopping) {
        const dropped = await this.connectOnce();
        if (dropped === undefined || this.stopping) break;
        failures = dropped.progressed ? 1 : failures + 1;
        const delay = backoffDelay(failures, this.settings.reconnect, this.settings.random);
        const from = typeof this.resumeAfter === 'bigint' ? `position ${this.resumeAfter}` : this.resumeAfter;
        this.settings.log(
          `EventStoreDB subscription dropped (${describeError(dropped.error)}); ` +
            `resubscribing after ${from} in ${delay} ms (attempt ${failures})`,
        );
        await this.backoff(delay);
      }
      this.signal.reject(stoppedBeforeCaughtUp());
    } catch (error) {
      this.stopping = true;
      this.signal.reject(error);
      reportSubscriptionError(this.handler, error);
    } finally {
      this.finished();
    }
  }

  /**
   * One call to the server, until it is stopped (undefined) or dropped (the transient error). Anything else is
   * thrown: the handler's errors, a refused server, an error of the client that is not about the connection.
   */
  private async connectOnce(): Promise<{ readonly error: unknown; readonly progressed: boolean } | undefined> {
    let connection: Connection | undefined;
    try {
      // The version check and the head read wait on the network: a stop does not wait for them.
      const setup = (async () => {
        await this.settings.requireSupportedServer();
        return this.startPosition();
      })();
      setup.catch(() => undefined);
      const from = await Promise.race([setup, this.stopRequested]);
      if (from === undefined || this.stopping) return undefined;
      connection = this.open(from);
      await this.pump(connection);
      return undefined;
    } catch (error) {
      if (error instanceof HandlerFailure) throw error.error;
      if (this.stopping) return undefined;
      if (!isTransientClientError(error)) throw error;
      return { error, progressed: connection?.progressed ?? false };
    } finally {
      if (connection !== undefined) await this.close(connection);
    }
  }

  private async startPosition(): Promise<ReadPosition> {
    if (this.resumeAfter === 'end') this.resumeAfter = (await this.headPosition()) ?? 'start';
    return toReadPosition(this.resumeAfter);
  }

  /** The position of the last record of `$all` (system ones too), or undefined for an empty log. */
  private async headPosition(): Promise<GlobalPosition | undefined> {
    const read = this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 });
    for await (const resolved of read) {
      const position = resolved.event?.position;
      if (position !== undefined) return encodePosition(position);
    }
    return undefined;
  }

  private open(from: ReadPosition): Connection {
    const stream = this.client.subscribeToAll(
      {
        fromPosition: from,
        filter: serverFilter(this.filter, (position) => this.mark(connection, { kind: 'checkpoint', position: encodePosition(position) })),
      },
      { highWaterMark: this.maxBatchSize },
    );
    const connection: Connection = { stream, markers: [], taken: 0, failure: undefined, progressed: false, closed: undefined };
    this.connection = connection;
    stream.on('caughtUp', () => this.mark(connection, { kind: 'caughtUp' }));
    stream.on('readable', () => this.wake());
    stream.on('error', (error) => this.fail(connection, error));
    stream.on('end', () => this.fail(connection, new SubscriptionEndedError()));
    return connection;
  }

  /** Ends the call once; an unsubscribe that fails (the call never started: discovery failed) is only logged. */
  private close(connection: Connection): Promise<void> {
    connection.closed ??= connection.stream.unsubscribe().then(
      () => undefined,
      (error: unknown) => this.settings.log(`EventStoreDB subscription: unsubscribe failed (${describeError(error)})`),
    );
    return connection.closed;
  }

  /** Sleeps `ms`, or less if the subscription is stopped meanwhile. */
  private backoff(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      this.stopBackoff = undefined;
    });
  }

  private mark(
    connection: Connection,
    marker: { readonly kind: 'caughtUp' } | { readonly kind: 'checkpoint'; readonly position: GlobalPosition },
  ): void {
    connection.markers.push({ ...marker, at: connection.taken + connection.stream.readableLength });
    this.wake();
  }

  private fail(connection: Connection, error: unknown): void {
    connection.failure ??= { error };
    this.wake();
  }

  private delivered(): GlobalPosition {
    return typeof this.resumeAfter === 'bigint' ? this.resumeAfter : -1n;
  }

  private async pump(connection: Connection): Promise<void> {
    while (!this.stopping) {
      this.wakeup.reset();
      const batch = this.takeBatch(connection);
      if (batch.length > 0) {
        connection.progressed = true;
        await this.call(() => this.handler.onEvents(batch));
        this.resumeAfter = (batch[batch.length - 1] as StoredEvent).position;
        continue;
      }
      const marker = connection.markers[0];
      if (marker !== undefined && marker.at <= connection.taken) {
        connection.markers.shift();
        connection.progressed = true;
        if (marker.kind === 'caughtUp') this.signal.resolve();
        else if (marker.position > this.delivered()) {
          this.resumeAfter = marker.position;
          await this.call(() => this.handler.onCheckpoint?.(marker.position));
        }
        continue;
      }
      if (connection.failure !== undefined && !this.stopping) throw connection.failure.error;
      if (!this.stopping) await this.wakeup.sleep();
    }
  }

  private async call(action: () => Promise<void> | void): Promise<void> {
    try {
      await action();
    } catch (error) {
      throw new HandlerFailure(error);
    }
  }

  /** What is buffered, up to the batch size and never past the next marker; nothing at or before what was delivered. */
  private takeBatch(connection: Connection): StoredEvent[] {
    const batch: StoredEvent[] = [];
    const limit = connection.markers[0]?.at ?? Number.POSITIVE_INFINITY;
    const delivered = this.delivered();
    while (batch.length < this.maxBatchSize && connection.taken < limit) {
      const resolved = connection.stream.read() as AllStreamResolvedEvent | null;
      if (resolved === null) break;
      connection.taken += 1;
      if (resolved.event === undefined || !isWanted(resolved.event, this.filter)) continue;
      const event = toStoredEvent(resolved.event);
      if (event.position > delivered) batch.push(event);
    }
    return batch;
  }
}
