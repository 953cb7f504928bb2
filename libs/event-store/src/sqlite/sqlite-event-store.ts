import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { checkedFilter } from '../event-filter';
import {
  DuplicateEventIdError,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventFilter,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StoredEvent,
  type StreamName,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from '../event-store';
import { newEventId } from '../event-id';
import { PagedSubscription, maxBatchSizeOf, pagedEvents, type Page } from '../subscription-support';

/**
 * - `full`: an append that returned is on disk, and a subscription delivers only events on disk. The
 *   WAL's fsync is made off the event loop and outside SQLite's write lock (WalSync), not inside COMMIT.
 * - `normal`: survives a crash of the process, but the last commits may be lost if the machine loses power.
 */
export type SqliteDurability = 'full' | 'normal';

export interface SqliteEventStoreOptions {
  /** Default `full`. */
  readonly durability?: SqliteDurability;
  /**
   * How long an append waits for another process that holds the write lock, in ms (default 5000).
   * node:sqlite is synchronous: the event loop is blocked while it waits.
   */
  readonly busyTimeoutMs?: number;
  /** How often live subscriptions look for events appended by other processes, in ms (default 25). */
  readonly pollIntervalMs?: number;
  /** Rows fetched per query by reads and subscriptions (default 4096): bounds memory and event-loop pauses. */
  readonly pageSize?: number;
}

/**
 * A filtered page scans at most this many pages' worth of positions, so a filter that matches nothing
 * still returns (with a checkpoint) after a bounded amount of synchronous work.
 */
const FILTER_SCAN_PAGES = 4;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS streams (
    name     TEXT PRIMARY KEY,
    revision INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    stream      TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    metadata    TEXT,
    recorded_at INTEGER NOT NULL,
    -- Also the index that reads a stream in revision order.
    UNIQUE (stream, revision)
  );
`;
// AUTOINCREMENT: a position is never handed out twice, even after the newest events were rolled back,
// so a checkpoint stored by a subscriber can never point at a different event later.

const COLUMNS = 'position, id, stream, revision, type, data, metadata, recorded_at';
type Row = [
  position: number,
  id: string,
  stream: string,
  revision: number,
  type: string,
  data: string,
  metadata: string | null,
  recordedAt: number,
];

/**
 * The embedded event store: one SQLite file in WAL mode, through Node's built-in `node:sqlite`.
 * Several processes on one host can share the file: appends serialize on SQLite's write lock, and live
 * subscriptions see other processes' appends by polling the head position.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: DatabaseSync;
  private readonly pageSize: number;
  private readonly pollIntervalMs: number;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly filteredPageStatements = new Map<string, StatementSync>();
  private readonly subscriptions = new Set<PagedSubscription>();
  private poller: NodeJS.Timeout | undefined;
  private knownHead = 0;
  /** With `full` durability: the fsyncs of the WAL, off the event loop. */
  private readonly walSync: WalSync | null = null;

  constructor(path: string, options: SqliteEventStoreOptions = {}) {
    this.pageSize = options.pageSize ?? 4096;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) throw new Error(`pageSize must be a positive integer, not ${this.pageSize}`);
    this.pollIntervalMs = options.pollIntervalMs ?? 25;
    this.db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5000 });
    try {
      const syncOffLoop = options.durability !== 'normal' && path !== ':memory:' && path !== '';
      // In WAL mode FULL differs from NORMAL only by the fsync of the WAL at each commit: WalSync makes
      // it off the loop, and after COMMIT has let the write lock go, so the processes sharing the file
      // do not queue on the lock behind each other's fsyncs.
      this.db.exec(
        `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.durability === 'normal' || syncOffLoop ? 'NORMAL' : 'FULL'};`,
      );
      // Closing the connection rolls the schema transaction back if it fails half-way.
      this.db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
      this.statements = prepareStatements(this.db);
      // The WAL exists from the schema transaction on and is only deleted when the last connection closes.
      if (syncOffLoop) this.walSync = new WalSync(`${path}-wal`, this.head());
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  async appendToStream(
    stream: StreamName,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    if (events.length === 0) throw new Error(`Append to ${stream} has no events`);
    this.walSync?.throwIfFailed();
    const expected = options.expectedRevision ?? 'any';
    const { currentRevision, insertEvent, saveStreamRevision } = this.statements;
    const result = this.inTransaction(() => {
      const repeated = this.repeatedAppend(stream, events);
      if (repeated !== undefined) return repeated;
      const current = currentRevision.get(stream)?.['revision'] as number | undefined;
      if (!revisionMatches(expected, current)) throw new WrongExpectedRevisionError(stream, expected, current);
      const recordedAt = Date.now();
      let revision = current ?? -1;
      let position: number | bigint = 0;
      for (const event of events) {
        revision += 1;
        const id = event.id ?? newEventId(recordedAt);
        const metadata = event.metadata === undefined ? null : JSON.stringify(event.metadata);
        try {
          position = insertEvent.run(
            id,
            stream,
            revision,
            event.type,
            JSON.stringify(event.data ?? null),
            metadata,
            recordedAt,
          ).lastInsertRowid;
        } catch (error) {
          if (!isDuplicateId(error)) throw error;
          const storedIn = (this.statements.findEvent.get(id) as StoredAt | undefined)?.stream ?? stream;
          throw Object.assign(new DuplicateEventIdError(id, stream, storedIn), { cause: error });
        }
      }
      saveStreamRevision.run(stream, revision);
      return { nextExpectedRevision: revision, position: BigInt(position) };
    });
    if (this.walSync !== null) await this.walSync.durable(Number(result.position));
    this.wakeSubscriptions(Number(result.position));
    return result;
  }

  readStream(stream: StreamName, options: ReadStreamOptions = {}): AsyncIterable<StoredEvent> {
    const backwards = options.direction === 'backwards';
    const statement = backwards ? this.statements.readStreamBackwards : this.statements.readStreamForwards;
    let from = startRevision(options.fromRevision, backwards);
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    return pagedEvents(() => {
      if (remaining <= 0 || from < 0) return undefined;
      const limit = Math.min(this.pageSize, remaining);
      const rows = statement.all(stream, from, limit) as unknown as Row[];
      const last = rows.at(-1);
      // A short page is the end of the stream.
      remaining = last === undefined || rows.length < limit ? 0 : remaining - rows.length;
      if (last !== undefined) from = backwards ? last[3] - 1 : last[3] + 1;
      return rows.map(toStoredEvent);
    });
  }

  async streamRevision(stream: StreamName): Promise<number | undefined> {
    return this.statements.currentRevision.get(stream)?.['revision'] as number | undefined;
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<StoredEvent> {
    const filter = checkedFilter(options.filter);
    let after = options.after === undefined || options.after === 'start' ? 0 : Number(options.after);
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    let atEnd = false;
    return pagedEvents(() => {
      if (atEnd || remaining <= 0) return undefined;
      const page = this.readPage(after, Math.min(this.pageSize, remaining), filter);
      atEnd = page.atEnd;
      remaining -= page.events.length;
      after = Number(page.scannedTo);
      return page.events;
    });
  }

  subscribeToAll(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    const filter = checkedFilter(options.filter);
    const maxBatchSize = maxBatchSizeOf(options);
    const head = this.deliverableHead();
    const after = options.after === undefined || options.after === 'start' ? 0 : options.after === 'end' ? head : Number(options.after);
    const subscription = new PagedSubscription(
      {
        readPage: (from) => this.readPage(Number(from), this.pageSize, filter, this.walSync?.durableHead),
        finished: () => this.detach(subscription),
      },
      { from: { after: BigInt(after), caughtUpAt: BigInt(head) }, maxBatchSize },
      handler,
    );
    this.subscriptions.add(subscription);
    if (this.poller === undefined) {
      this.knownHead = head;
      this.poller = setInterval(() => this.pollHead(), this.pollIntervalMs);
    }
    return subscription;
  }

  async close(): Promise<void> {
    if (!this.db.isOpen) return;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    await this.walSync?.close();
    this.db.close();
  }

  /** BEGIN IMMEDIATE takes the write lock up front, so the revision check and the inserts see the same state. */
  private inTransaction<T>(work: () => T): T {
    const { begin, commit, rollback } = this.statements;
    begin.run();
    try {
      const result = work();
      commit.run();
      return result;
    } catch (error) {
      if (this.db.isTransaction) rollback.run();
      throw error;
    }
  }

  /**
   * When the append's first event has an id that is stored already, the append is either a repeat of the
   * one that stored it (the same ids in the same order in this stream: its result, nothing stored) or refused.
   */
  private repeatedAppend(stream: StreamName, events: readonly NewEvent[]): AppendResult | undefined {
    const firstId = events[0]?.id;
    if (firstId === undefined) return undefined;
    const first = this.statements.findEvent.get(firstId) as StoredAt | undefined;
    if (first === undefined) return undefined;
    const stored = this.statements.streamIdsFrom.all(stream, first.revision, events.length) as unknown as [string, number][];
    const repeat = first.stream === stream && stored.length === events.length && stored.every(([id], i) => id === events[i]?.id);
    if (!repeat) throw new DuplicateEventIdError(firstId, stream, first.stream);
    return { nextExpectedRevision: first.revision + events.length - 1, position: BigInt((stored.at(-1) as [string, number])[1]) };
  }

  private head(): number {
    return (this.statements.head.get()?.['head'] as number | null) ?? 0;
  }

  /**
   * The newest position a subscription may deliver: with WalSync, the newest one on disk. A new
   * subscription starts from the file's head (other processes' commits included, which no poll may
   * have seen yet), so what is committed is made durable first: a blocking fsync, once per subscription.
   */
  private deliverableHead(): number {
    const head = this.head();
    return this.walSync === null ? head : this.walSync.syncedTo(head);
  }

  /**
   * Events strictly after `after`. Unfiltered, that is the next `limit` rows. Filtered, the scan stops at a
   * position window (and at the head as read before the query: writers are serialized, so everything up to
   * the head is committed) to keep a sparse filter from scanning the whole table in one synchronous call.
   * `upToDurable`, when given, is the newest position it may return (WalSync's newest position on disk).
   */
  private readPage(after: number, limit: number, filter: EventFilter | undefined, upToDurable?: number): Page {
    if (filter === undefined) {
      const rows = (upToDurable === undefined
        ? this.statements.readAll.all(after, limit)
        : this.statements.readAllUpTo.all(after, upToDurable, limit)) as unknown as Row[];
      return { events: rows.map(toStoredEvent), scannedTo: BigInt(rows.at(-1)?.[0] ?? after), atEnd: rows.length < limit };
    }
    const head = upToDurable ?? this.head();
    const upTo = Math.min(after + this.pageSize * FILTER_SCAN_PAGES, head);
    if (upTo <= after) return { events: [], scannedTo: BigInt(after), atEnd: true };
    const prefixes = filter.streamPrefixes ?? [];
    const types = filter.eventTypes ?? [];
    const parameters: SQLInputValue[] = [after, upTo];
    for (const prefix of prefixes) parameters.push([...prefix].length, prefix);
    parameters.push(...types, limit);
    const rows = this.filteredPageStatement(prefixes.length, types.length).all(...parameters) as unknown as Row[];
    const last = rows.at(-1);
    const scannedTo = last !== undefined && rows.length === limit ? last[0] : upTo;
    return { events: rows.map(toStoredEvent), scannedTo: BigInt(scannedTo), atEnd: scannedTo >= head };
  }

  /** One cached statement per filter shape (number of prefixes and types); the values are bound. */
  private filteredPageStatement(prefixCount: number, typeCount: number): StatementSync {
    const key = `${prefixCount}:${typeCount}`;
    let statement = this.filteredPageStatements.get(key);
    if (statement === undefined) {
      // substr() rather than LIKE: LIKE ignores ASCII case and treats % and _ in a prefix as wildcards.
      const conditions = Array.from({ length: prefixCount }, () => 'substr(stream, 1, ?) = ?');
      if (typeCount > 0) conditions.push(`type IN (${Array.from({ length: typeCount }, () => '?').join(', ')})`);
      statement = this.db.prepare(
        `SELECT ${COLUMNS} FROM events WHERE position > ? AND position <= ? AND (${conditions.join(' OR ')}) ORDER BY position LIMIT ?`,
        { returnArrays: true },
      );
      this.filteredPageStatements.set(key, statement);
    }
    return statement;
  }

  /** Other processes' appends are only visible in the file: a cheap look at the head tells whether to wake. */
  private pollHead(): void {
    let head: number;
    try {
      head = this.head();
    } catch {
      // Let the subscriptions run into the error themselves: they report it through onError.
      for (const subscription of this.subscriptions) subscription.wake();
      return;
    }
    if (head === this.knownHead) return;
    if (this.walSync === null) return this.wakeSubscriptions(head);
    // Another process's commits: on disk only once the WAL is fsynced, by it or, here, by us (an fsync
    // covers the file whichever process asks). Its subscriptions are held to what is on disk too.
    this.knownHead = head;
    this.walSync.durable(head).then(
      () => this.wakeSubscriptions(head),
      // Let the subscriptions run into the failure themselves: they report it through onError.
      () => this.wakeSubscriptions(head),
    );
  }

  private wakeSubscriptions(head: number): void {
    this.knownHead = Math.max(this.knownHead, head);
    for (const subscription of this.subscriptions) subscription.wake();
  }

  private detach(subscription: PagedSubscription): void {
    this.subscriptions.delete(subscription);
    if (this.subscriptions.size === 0) {
      clearInterval(this.poller);
      this.poller = undefined;
    }
  }
}

const prepareStatements = (db: DatabaseSync) => {
  const rows = { returnArrays: true };
  return {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    currentRevision: db.prepare('SELECT revision FROM streams WHERE name = ?'),
    insertEvent: db.prepare('INSERT INTO events (id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    saveStreamRevision: db.prepare(
      'INSERT INTO streams (name, revision) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET revision = excluded.revision',
    ),
    head: db.prepare('SELECT max(position) AS head FROM events'),
    findEvent: db.prepare('SELECT stream, revision FROM events WHERE id = ?'),
    streamIdsFrom: db.prepare('SELECT id, position FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?', rows),
    readStreamForwards: db.prepare(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`, rows),
    readStreamBackwards: db.prepare(
      `SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
      rows,
    ),
    readAll: db.prepare(`SELECT ${COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`, rows),
    readAllUpTo: db.prepare(`SELECT ${COLUMNS} FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?`, rows),
  };
};

interface StoredAt {
  readonly stream: string;
  readonly revision: number;
}

const revisionMatches = (expected: ExpectedRevision, current: number | undefined): boolean => {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return current === undefined;
    case 'stream_exists':
      return current !== undefined;
    default:
      return current === expected;
  }
};

/**
 * SQLITE_CONSTRAINT_UNIQUE on the id column; the other unique key, (stream, revision), is kept by the
 * revision check. Duck-typed: node:sqlite's errors need not come from this realm's Error (jest's sandbox).
 */
const isDuplicateId = (error: unknown): boolean => {
  const { errcode, message } = (error ?? {}) as { errcode?: unknown; message?: unknown };
  return errcode === 2067 && typeof message === 'string' && message.includes('events.id');
};

const startRevision = (from: ReadStreamOptions['fromRevision'], backwards: boolean): number => {
  if (from === 'start') return 0;
  if (from === 'end' || (from === undefined && backwards)) return Number.MAX_SAFE_INTEGER;
  return from ?? 0;
};

const toStoredEvent = (row: Row): StoredEvent => ({
  id: row[1],
  streamName: row[2],
  revision: row[3],
  position: BigInt(row[0]),
  type: row[4],
  data: JSON.parse(row[5]),
  metadata: row[6] === null ? {} : JSON.parse(row[6]),
  recordedAt: new Date(row[7]),
});

/**
 * The fsyncs of the WAL that SQLite's FULL durability would make inside each COMMIT, made instead on
 * libuv's thread pool while the event loop goes on. Commits made while one fsync runs share the next
 * one (group commit across streams). fsync covers the file, whichever descriptor asks, so a
 * descriptor of our own serves. A failed fsync leaves unknown what reached the disk: the store
 * then refuses every append, as PostgreSQL stops on one.
 */
class WalSync {
  /** Every position up to here is on disk. */
  durableHead: number;
  /** The newest position known to be committed: by this process, or by another as its polls saw. */
  private committedHead: number;
  private readonly fd: number;
  /** The fsync running or last run. */
  private current: Promise<void> = Promise.resolve();
  /** The fsync that starts once the current one ends; appends committed meanwhile wait for it. */
  private next: Promise<void> | null = null;
  private failure: unknown = null;

  constructor(walPath: string, head: number) {
    this.fd = openSync(walPath, 'r');
    // What an earlier process committed may not have reached the disk yet: make it so before it is delivered.
    fsyncSync(this.fd);
    this.durableHead = head;
    this.committedHead = head;
  }

  throwIfFailed(): void {
    if (this.failure !== null) throw new Error('An fsync of the event store failed: restart the process', { cause: this.failure });
  }

  /** Resolves once `position` (committed) is on disk. */
  durable(position: number): Promise<void> {
    this.committedHead = Math.max(this.committedHead, position);
    this.next ??= this.current.catch(noop).then(() => {
      this.next = null;
      this.current = this.syncNow();
      return this.current;
    });
    return this.next;
  }

  /** Makes every position up to `head` (committed) durable now, blocking: returns the durable head. */
  syncedTo(head: number): number {
    if (head <= this.durableHead) return this.durableHead;
    this.throwIfFailed();
    try {
      fsyncSync(this.fd);
    } catch (error) {
      this.failure = error;
      this.throwIfFailed();
    }
    this.committedHead = Math.max(this.committedHead, head);
    this.durableHead = head;
    return head;
  }

  async close(): Promise<void> {
    await (this.next ?? this.current).catch(() => undefined);
    closeSync(this.fd);
  }

  private async syncNow(): Promise<void> {
    this.throwIfFailed();
    const upTo = this.committedHead;
    try {
      await new Promise<void>((done, fail) => fsync(this.fd, (error) => (error ? fail(error) : done())));
    } catch (error) {
      this.failure = error;
      this.throwIfFailed();
    }
    this.durableHead = Math.max(this.durableHead, upTo);
  }
}

const noop = (): void => undefined;
