import pg from 'pg';
import { newEventId } from '../event-id';
import { checkedFilter } from '../event-filter';
import {
  DuplicateEventIdError,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventFilter,
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
import { PagedSubscription, maxBatchSizeOf, pagedEvents, type Page, type StartingPoint } from '../subscription-support';

export interface PostgresEventStoreOptions {
  /** How often live subscriptions look for new events when no notification came, in ms (default 500). */
  readonly pollIntervalMs?: number;
  /** Rows fetched per query by reads and subscriptions (default 1000). */
  readonly pageSize?: number;
  /** Connections in the pool for appends and reads (default 5); live subscriptions use one more, to LISTEN. */
  readonly poolSize?: number;
  /**
   * Default true: appends NOTIFY, and live subscriptions LISTEN (polling remains the fallback). False
   * neither sends nor listens: subscriptions then learn of other processes' appends by polling alone.
   */
  readonly notifications?: boolean;
  /** Where a subscription's retried reads are reported (a dropped or refused connection). Default: console.warn. */
  readonly log?: (message: string) => void;
}

const CHANNEL = 'flotilla_events';

/** Between retries of a subscription's read while the server is away: the product's backoff, full jitter. */
const READ_RETRY_BACKOFF = { baseMs: 250, capMs: 10_000 } as const;

/**
 * A failure of the connection rather than of the statement: the server went away, restarted, refused
 * connections or killed the session (SQLSTATE classes 08 and 57P, and the socket errors pg passes on).
 * A subscription's read retries these; any other error ends it.
 */
export const isConnectionError = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || code === '53300')) return true;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code))
    return true;
  // A database closed to new sessions for a while (ALLOW_CONNECTIONS false: maintenance) answers 55000 with this.
  return /Connection terminated|connection timeout|Client has encountered a connection error|not currently accepting connections/i.test(
    error.message,
  );
};
/**
 * Transaction-level advisory lock keys ('flotil' + 'la' / 'ls'). Advisory locks are per database, so stores
 * in other databases of the same server never wait on each other.
 */
const APPEND_LOCK = 0x666c6f74696c6c61n;
const SCHEMA_LOCK = 0x666c6f74696c6c73n;

/**
 * Global order: every append takes APPEND_LOCK before it draws positions from the identity sequence, and
 * holds it until its commit is visible (PostgreSQL releases a transaction's locks after it has become
 * visible). So appends commit in position order, every snapshot sees a prefix of the positions (gaps only
 * where an append rolled back, and those are never filled), and a reader that has seen position N can
 * never later find a new event below N. ADR 0008 says why this and not xid horizons or gap detection.
 *
 * One function does the whole append in one round trip, so the lock is held for the function's run and
 * the commit, not for network round trips. The revision check runs under the lock; the unique key
 * (stream, revision) is the backstop. A repeat (the first id stored already, at the head of the same ids
 * in this stream) returns the first result and stores nothing.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS flotilla_events (
    position    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text        NOT NULL,
    stream      text        NOT NULL,
    revision    integer     NOT NULL,
    type        text        NOT NULL,
    data        json        NOT NULL,
    metadata    json,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT flotilla_events_id_key UNIQUE (id),
    CONSTRAINT flotilla_events_stream_revision_key UNIQUE (stream, revision)
  );
  CREATE INDEX IF NOT EXISTS flotilla_events_type_position ON flotilla_events (type, position);

  CREATE OR REPLACE FUNCTION flotilla_append(
    p_stream text, p_expected text, p_ids text[], p_types text[], p_data json[], p_metadata json[], p_notify boolean
  ) RETURNS TABLE (outcome text, revision integer, last_position bigint, stored_in text)
  LANGUAGE plpgsql AS $$
  DECLARE
    v_count integer := cardinality(p_ids);
    v_current integer;
    v_first_stream text;
    v_first_revision integer;
    v_last bigint;
  BEGIN
    PERFORM pg_advisory_xact_lock(${APPEND_LOCK});

    SELECT e.stream, e.revision INTO v_first_stream, v_first_revision FROM flotilla_events e WHERE e.id = p_ids[1];
    IF FOUND THEN
      IF v_first_stream = p_stream AND p_ids = ARRAY(
        SELECT e.id FROM flotilla_events e
        WHERE e.stream = p_stream AND e.revision >= v_first_revision AND e.revision < v_first_revision + v_count
        ORDER BY e.revision
      ) THEN
        RETURN QUERY SELECT 'repeated', e.revision, e.position, NULL::text FROM flotilla_events e
          WHERE e.stream = p_stream AND e.revision = v_first_revision + v_count - 1;
      ELSE
        RETURN QUERY SELECT 'duplicate', NULL::integer, NULL::bigint, v_first_stream;
      END IF;
      RETURN;
    END IF;

    SELECT max(e.revision) INTO v_current FROM flotilla_events e WHERE e.stream = p_stream;
    IF NOT (p_expected = 'any'
        OR (p_expected = 'no_stream' AND v_current IS NULL)
        OR (p_expected = 'stream_exists' AND v_current IS NOT NULL)
        OR (p_expected ~ '^[0-9]+$' AND v_current IS NOT DISTINCT FROM p_expected::integer)) THEN
      RETURN QUERY SELECT 'conflict', v_current, NULL::bigint, NULL::text;
      RETURN;
    END IF;

    WITH inserted AS (
      INSERT INTO flotilla_events (id, stream, revision, type, data, metadata)
      SELECT u.id, p_stream, coalesce(v_current, -1) + u.ord::integer, u.type, u.data, u.metadata
      FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS u(id, type, data, metadata, ord)
      ORDER BY u.ord
      RETURNING position
    )
    SELECT max(inserted.position) INTO v_last FROM inserted;
    IF p_notify THEN
      PERFORM pg_notify('${CHANNEL}', v_last::text);
    END IF;
    RETURN QUERY SELECT 'appended', coalesce(v_current, -1) + v_count, v_last, NULL::text;
  END;
  $$;
`;

/**
 * A filtered page scans at most this many pages' worth of positions, so a filter that matches nothing
 * still returns (with a checkpoint) after a bounded scan.
 */
const FILTER_SCAN_PAGES = 4;

const COLUMNS = 'position, id, stream, revision, type, data, metadata, recorded_at';

interface Row {
  /** int8 arrives as a string. */
  readonly position: string;
  readonly id: string;
  readonly stream: string;
  readonly revision: number;
  readonly type: string;
  /** json arrives parsed. */
  readonly data: unknown;
  readonly metadata: Record<string, unknown> | null;
  readonly recorded_at: Date;
}

interface AppendRow {
  readonly outcome: 'appended' | 'repeated' | 'duplicate' | 'conflict';
  readonly revision: number | null;
  readonly last_position: string | null;
  readonly stored_in: string | null;
}

/** The URL with its password, if any, replaced by `***`: for messages and logs. */
export const maskPassword = (url: string): string => url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');

/**
 * The event store on PostgreSQL, for deployments on several hosts: one table of events in the global order
 * of an identity column, appends serialized by an advisory lock (see SCHEMA), live subscriptions woken by
 * LISTEN/NOTIFY on a connection of their own and by a poll of the head when a notification is missed.
 */
export class PostgresEventStore implements EventStore {
  private readonly subscriptions = new Set<PagedSubscription>();
  private readonly pageSize: number;
  private readonly pollIntervalMs: number;
  private readonly notifications: boolean;
  private readonly log: (message: string) => void;
  private poller: NodeJS.Timeout | undefined;
  private knownHead = 0n;
  private listener: Listener | undefined;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    options: PostgresEventStoreOptions,
  ) {
    this.pageSize = positiveInteger('pageSize', options.pageSize ?? 1000);
    this.pollIntervalMs = positiveInteger('pollIntervalMs', options.pollIntervalMs ?? 500);
    this.notifications = options.notifications ?? true;
    this.log = options.log ?? ((message) => console.warn(message));
  }

  /** Connects and creates the schema when missing (safe when several processes open at once). */
  static async open(url: string, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const pool = new pg.Pool({ connectionString: url, max: positiveInteger('poolSize', options.poolSize ?? 5) });
    // An idle connection that fails is dropped by the pool; without a listener the error would end the process.
    pool.on('error', () => undefined);
    const store = new PostgresEventStore(pool, url, options);
    try {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`);
        await client.query(SCHEMA);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new Error(`Could not open the PostgreSQL event store at ${maskPassword(url)}: ${messageOf(error)}`, { cause: error });
    }
    return store;
  }

  async appendToStream(
    stream: StreamName,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    if (events.length === 0) throw new Error(`Append to ${stream} has no events`);
    const expected = options.expectedRevision ?? 'any';
    const now = Date.now();
    const ids = events.map((event) => event.id ?? newEventId(now));
    let row: AppendRow | undefined;
    try {
      const result = await this.pool.query<AppendRow>({
        name: 'flotilla_append',
        text: 'SELECT outcome, revision, last_position, stored_in FROM flotilla_append($1, $2, $3, $4, $5, $6, $7)',
        values: [
          stream,
          String(expected),
          ids,
          events.map((event) => event.type),
          events.map((event) => JSON.stringify(event.data ?? null)),
          events.map((event) => (event.metadata === undefined ? null : JSON.stringify(event.metadata))),
          this.notifications,
        ],
      });
      row = result.rows[0];
    } catch (error) {
      const duplicate = duplicateIdOf(error);
      if (duplicate === undefined) throw error;
      const storedIn = await this.pool.query<{ stream: string }>('SELECT stream FROM flotilla_events WHERE id = $1', [duplicate]);
      throw Object.assign(new DuplicateEventIdError(duplicate, stream, storedIn.rows[0]?.stream ?? stream), { cause: error });
    }
    switch (row?.outcome) {
      case 'appended':
      case 'repeated': {
        const position = BigInt(row.last_position ?? 0);
        if (row.outcome === 'appended') this.wakeSubscriptions(position);
        return { nextExpectedRevision: row.revision ?? -1, position };
      }
      case 'duplicate':
        throw new DuplicateEventIdError(ids[0] as string, stream, row.stored_in ?? stream);
      case 'conflict':
        throw new WrongExpectedRevisionError(stream, expected, row.revision ?? undefined);
      default:
        throw new Error(`The append to ${stream} returned no outcome`);
    }
  }

  readStream(stream: StreamName, options: ReadStreamOptions = {}): AsyncIterable<StoredEvent> {
    const backwards = options.direction === 'backwards';
    let from = startRevision(options.fromRevision, backwards);
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    const text = backwards
      ? `SELECT ${COLUMNS} FROM flotilla_events WHERE stream = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3`
      : `SELECT ${COLUMNS} FROM flotilla_events WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3`;
    return pagedEvents(async () => {
      if (remaining <= 0 || from < 0) return undefined;
      const limit = Math.min(this.pageSize, remaining);
      const { rows } = await this.pool.query<Row>({
        name: backwards ? 'flotilla_read_stream_backwards' : 'flotilla_read_stream',
        text,
        values: [stream, from, limit],
      });
      const last = rows.at(-1);
      // A short page is the end of the stream.
      remaining = last === undefined || rows.length < limit ? 0 : remaining - rows.length;
      if (last !== undefined) from = backwards ? last.revision - 1 : last.revision + 1;
      return rows.map(toStoredEvent);
    });
  }

  async streamRevision(stream: StreamName): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ revision: number | null }>({
      name: 'flotilla_stream_revision',
      text: 'SELECT max(revision) AS revision FROM flotilla_events WHERE stream = $1',
      values: [stream],
    });
    return rows[0]?.revision ?? undefined;
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<StoredEvent> {
    const filter = checkedFilter(options.filter);
    let after = options.after === undefined || options.after === 'start' ? 0n : options.after;
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    let atEnd = false;
    return pagedEvents(async () => {
      if (atEnd || remaining <= 0) return undefined;
      const page = await this.readPage(after, Math.min(this.pageSize, remaining), filter);
      atEnd = page.atEnd;
      remaining -= page.events.length;
      after = page.scannedTo;
      return page.events;
    });
  }

  subscribeToAll(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    if (this.closed) throw new Error('The event store is closed');
    const filter = checkedFilter(options.filter);
    const maxBatchSize = maxBatchSizeOf(options);
    const from = this.head().then((head): StartingPoint => {
      const after = options.after === undefined || options.after === 'start' ? 0n : options.after === 'end' ? head : options.after;
      return { after, caughtUpAt: head };
    });
    const subscription = new PagedSubscription(
      {
        readPage: (after) => this.readPage(after, this.pageSize, filter),
        finished: () => this.detach(subscription),
        retryable: { isTransient: isConnectionError, backoff: READ_RETRY_BACKOFF, log: this.log },
      },
      { from, maxBatchSize },
      handler,
    );
    this.subscriptions.add(subscription);
    if (this.poller === undefined) {
      void from.then((start) => (this.knownHead = start.caughtUpAt > this.knownHead ? start.caughtUpAt : this.knownHead)).catch(noop);
      this.poller = setInterval(() => void this.pollHead(), this.pollIntervalMs);
    }
    if (this.notifications && this.listener === undefined) {
      this.listener = new Listener(this.url, () => this.wakeAll());
    }
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    clearInterval(this.poller);
    this.poller = undefined;
    await this.listener?.close();
    await this.pool.end();
  }

  private async head(): Promise<GlobalPosition> {
    const { rows } = await this.pool.query<{ head: string | null }>({
      name: 'flotilla_head',
      text: 'SELECT max(position) AS head FROM flotilla_events',
    });
    return BigInt(rows[0]?.head ?? 0);
  }

  /**
   * Events strictly after `after`. Unfiltered, the next `limit` rows. Filtered, the scan stops at a position
   * window and at the head read before the query (appends commit in position order, so everything up to the
   * head is settled), to keep a sparse filter from scanning the whole table in one query.
   */
  private async readPage(after: GlobalPosition, limit: number, filter: EventFilter | undefined): Promise<Page> {
    if (filter === undefined) {
      const { rows } = await this.pool.query<Row>({
        name: 'flotilla_read_all',
        text: `SELECT ${COLUMNS} FROM flotilla_events WHERE position > $1 ORDER BY position LIMIT $2`,
        values: [after.toString(), limit],
      });
      const last = rows.at(-1);
      return { events: rows.map(toStoredEvent), scannedTo: last === undefined ? after : BigInt(last.position), atEnd: rows.length < limit };
    }
    const head = await this.head();
    const window = after + BigInt(this.pageSize * FILTER_SCAN_PAGES);
    const upTo = window < head ? window : head;
    if (upTo <= after) return { events: [], scannedTo: after, atEnd: true };
    const { rows } = await this.pool.query<Row>({
      name: 'flotilla_read_filtered',
      text: `SELECT ${COLUMNS} FROM flotilla_events
             WHERE position > $1 AND position <= $2 AND (stream LIKE ANY ($3::text[]) OR type = ANY ($4::text[]))
             ORDER BY position LIMIT $5`,
      values: [after.toString(), upTo.toString(), (filter.streamPrefixes ?? []).map(likePrefix), filter.eventTypes ?? [], limit],
    });
    const last = rows.at(-1);
    const scannedTo = last !== undefined && rows.length === limit ? BigInt(last.position) : upTo;
    return { events: rows.map(toStoredEvent), scannedTo, atEnd: scannedTo >= head };
  }

  /** The fallback for missed notifications: a cheap look at the head tells whether to wake. */
  private async pollHead(): Promise<void> {
    let head: GlobalPosition;
    try {
      head = await this.head();
    } catch {
      // The server is away: the subscriptions sleep on, and the next poll that reaches it wakes them.
      return;
    }
    if (head > this.knownHead) this.wakeSubscriptions(head);
  }

  private wakeSubscriptions(head: GlobalPosition): void {
    if (head > this.knownHead) this.knownHead = head;
    this.wakeAll();
  }

  private wakeAll(): void {
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

/**
 * A connection of its own that LISTENs, and wakes the subscriptions on each notification. When it breaks it
 * reconnects after a pause and wakes them once (what was sent meanwhile is lost; the poll covers it too).
 */
class Listener {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closing = false;
  private connecting: Promise<void> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly onWake: () => void,
  ) {
    this.connect();
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retry);
    await this.connecting;
    await this.client?.end().catch(() => undefined);
  }

  private connect(): void {
    const client = new pg.Client({ connectionString: this.url });
    this.client = client;
    const broken = (): void => {
      if (this.closing || this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      this.retry = setTimeout(() => this.connect(), 1000);
    };
    client.on('error', broken);
    client.on('end', broken);
    client.on('notification', () => this.onWake());
    this.connecting = client
      .connect()
      .then(() => client.query(`LISTEN ${CHANNEL}`))
      .then(() => this.onWake(), broken);
  }
}

/** The id of a unique violation on the event id, from PostgreSQL's `Key (id)=(…) already exists.` */
const duplicateIdOf = (error: unknown): string | undefined => {
  const { code, constraint, detail } = (error ?? {}) as { code?: unknown; constraint?: unknown; detail?: unknown };
  if (code !== '23505' || constraint !== 'flotilla_events_id_key' || typeof detail !== 'string') return undefined;
  return /^Key \(id\)=\((.*)\) already exists\.$/s.exec(detail)?.[1];
};

/** A LIKE pattern for names starting with `prefix`: its `\`, `%` and `_` taken literally (LIKE is case-sensitive). */
const likePrefix = (prefix: string): string => `${prefix.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;

const startRevision = (from: ReadStreamOptions['fromRevision'], backwards: boolean): number => {
  if (from === 'start') return 0;
  // The largest int4: revisions are `integer` in the table.
  if (from === 'end' || (from === undefined && backwards)) return 2_147_483_647;
  return from ?? 0;
};

const toStoredEvent = (row: Row): StoredEvent => ({
  id: row.id,
  streamName: row.stream,
  revision: row.revision,
  position: BigInt(row.position),
  type: row.type,
  data: row.data,
  metadata: row.metadata ?? {},
  recordedAt: row.recorded_at,
});

const positiveInteger = (name: string, value: number): number => {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${value}`);
  return value;
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const noop = (): void => undefined;
