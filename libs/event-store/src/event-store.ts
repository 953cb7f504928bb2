/**
 * The event store port. The truth of the product is the event streams behind this interface;
 * everything else (batch state, progress, execution lists, audit history) is rebuilt from it.
 *
 * Three adapters implement it: the embedded SQLite store (node:sqlite, one file, WAL), the PostgreSQL
 * store and the EventStoreDB store. All must pass the one contract suite, `describeEventStoreContract`
 * in `./testing.ts` (ADR 0008 says which store is for what).
 */

/** Stream names are `category-id`, built by one helper per category (see `streamName`). */
export type StreamName = string;

/**
 * Optimistic concurrency for an append:
 * - `no_stream`: the stream must not exist yet;
 * - `any`: no check;
 * - `stream_exists`: the stream must have at least one event;
 * - a number: the revision of the stream's last event must be exactly this (revisions start at 0).
 */
export type ExpectedRevision = 'no_stream' | 'any' | 'stream_exists' | number;

/** A position in the global order of all events. Opaque to callers except for ordering and storage. */
export type GlobalPosition = bigint;

export interface EventMetadata {
  /** Who did it, for operator actions (the REST caller), or which service did it. */
  readonly actor?: string;
  readonly reason?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly [key: string]: unknown;
}

export interface NewEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata?: EventMetadata;
  /** Unique id of the event; generated when absent. Consumers deduplicate by it. A UUID: EventStoreDB accepts nothing else. */
  readonly id?: string;
}

export interface StoredEvent<Type extends string = string, Data = unknown> {
  readonly id: string;
  readonly streamName: StreamName;
  /** 0-based index of the event in its stream. */
  readonly revision: number;
  /** Position in the global order of all streams; strictly increasing in `readAll` order. */
  readonly position: GlobalPosition;
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
}

/** A stored event whose type and data are one of the events `E` (narrowing on `type` narrows `data`). */
export type Recorded<E extends { readonly type: string; readonly data: unknown }> = E extends unknown
  ? Omit<StoredEvent, 'type' | 'data'> & { readonly type: E['type']; readonly data: E['data'] }
  : never;

export interface AppendResult {
  /** The revision of the last event appended: pass it as the next expected revision. */
  readonly nextExpectedRevision: number;
  /** The global position of the last event appended. */
  readonly position: GlobalPosition;
}

export interface ReadStreamOptions {
  /** Inclusive start revision; default: the start (forwards) or the end (backwards). */
  readonly fromRevision?: number | 'start' | 'end';
  readonly direction?: 'forwards' | 'backwards';
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Default `start` (everything). */
  readonly after?: GlobalPosition | 'start';
  readonly maxCount?: number;
  readonly filter?: EventFilter;
}

/** Server-side filter: an event passes when its stream starts with one of the prefixes or its type is listed. */
export interface EventFilter {
  readonly streamPrefixes?: readonly string[];
  readonly eventTypes?: readonly string[];
}

export interface SubscriptionHandler {
  /** Called with events in global order, in batches; the next batch waits for the promise. */
  onEvents(events: readonly StoredEvent[]): Promise<void> | void;
  /**
   * Called when the subscription has read past events that the filter dropped, so a sparse
   * filter can still advance a stored checkpoint.
   */
  onCheckpoint?(position: GlobalPosition): Promise<void> | void;
  /** Called once when the subscription stops on an error (including one thrown by `onEvents`). */
  onError?(error: unknown): void;
}

export interface SubscribeOptions {
  /** Exclusive: deliver events strictly after this position; `start` = everything; `end` = only new ones. */
  readonly after?: GlobalPosition | 'start' | 'end';
  readonly filter?: EventFilter;
  /** Largest batch handed to `onEvents`. */
  readonly maxBatchSize?: number;
}

export interface Subscription {
  /** Resolves when the subscription has caught up with everything stored when it was opened. */
  readonly caughtUp: Promise<void>;
  /** Stops delivery; resolves after the handler's current batch has finished. */
  stop(): Promise<void>;
}

export interface EventStore {
  /**
   * Appends atomically: all events or none. Throws `WrongExpectedRevisionError` on a concurrency conflict,
   * `DuplicateEventIdError` for an event id stored before by another append. The returned position is at
   * most the stored position of the last event appended, and greater than that of every event stored before.
   */
  appendToStream(stream: StreamName, events: readonly NewEvent[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult>;
  /** Reads one stream. A stream that does not exist reads as empty. */
  readStream(stream: StreamName, options?: ReadStreamOptions): AsyncIterable<StoredEvent>;
  /** The revision of the last event of a stream, or `undefined` when it does not exist. */
  streamRevision(stream: StreamName): Promise<number | undefined>;
  /** Reads all events in global order. */
  readAll(options?: ReadAllOptions): AsyncIterable<StoredEvent>;
  /** Catches up from `after`, then delivers new events as they are appended (by this or another process). */
  subscribeToAll(options: SubscribeOptions, handler: SubscriptionHandler): Subscription;
  close(): Promise<void>;
}

/** The stream's revision did not match the expected revision: someone else appended first. Re-read and retry. */
export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError';
  constructor(
    readonly stream: StreamName,
    readonly expected: ExpectedRevision,
    /** The stream's revision at the time of the append; `undefined` when the stream does not exist. */
    readonly actual: number | undefined,
  ) {
    super(`Append to ${stream} expected revision ${String(expected)} but the stream is at ${actual === undefined ? 'no stream' : actual}`);
  }
}

/**
 * An event id of the append is already stored, and the append is not a repeat of the one that stored it.
 * Repeating an append (the same ids, in the same order, to the same stream) is not an error: it succeeds
 * with the first append's result and stores nothing. The embedded stores check ids across all streams;
 * EventStoreDB checks them only within the stream.
 */
export class DuplicateEventIdError extends Error {
  override readonly name = 'DuplicateEventIdError';
  constructor(
    readonly id: string,
    /** The stream the refused append was for. */
    readonly stream: StreamName,
    /** The stream that holds the event with this id. */
    readonly storedIn: StreamName,
  ) {
    super(`Event id ${id} is already stored (in ${storedIn}): the whole append to ${stream} is refused`);
  }
}

/**
 * One append is larger than the store accepts in a single write (EventStoreDB's `MaxAppendSize`, 1 MiB by
 * default, counted over all the events of the append), and the store could not split it: make the events
 * smaller. `bytes` is the size the store counted or estimated; `limit` is the size it accepts.
 */
export class AppendTooLargeError extends Error {
  override readonly name = 'AppendTooLargeError';
  constructor(
    readonly stream: StreamName,
    /** The size of what could not be written, in bytes; `undefined` when the server did not say. */
    readonly bytes: number | undefined,
    readonly limit: number,
  ) {
    const size = bytes === undefined ? 'more than the limit' : `${bytes} bytes`;
    super(`Append to ${stream} is too large: ${size}, the store accepts at most ${limit} bytes in one write`);
  }
}

/** Builds `category-id` stream names; the category must not contain `-` so the id can be split off again. */
export const streamName = (category: string, id: string): StreamName => {
  if (category.includes('-')) throw new Error(`Stream category must not contain '-': ${category}`);
  return `${category}-${id}`;
};

export const streamId = (stream: StreamName): string => stream.slice(stream.indexOf('-') + 1);
