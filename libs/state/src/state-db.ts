import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { STATE_MIGRATIONS, type Migration } from './migrations';

/** The shortest time between two flushes of the writes made with `StateDb.later`. */
const LATER_FLUSH_INTERVAL_MS = 10;

interface DeferredWrite {
  readonly sql: string;
  readonly params: SQLInputValue[];
}

/**
 * A process's own state database (SQLite, WAL): its read models, consumer checkpoints, the ids of
 * the events it has handled, and the scheduler's timers. Everything in it is derived from the event
 * stream or is a position in it, so deleting it loses nothing that cannot be rebuilt. Opening it
 * applies the pending migrations (./migrations.ts), the only place that creates tables.
 */
export class StateDb {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  /** Writes made with `later`, applied together at the next turn of the event loop (or at close). */
  private deferred: DeferredWrite[] = [];
  /** The writes of `laterReplacing` still waiting in `deferred`, by key, with their place there. */
  private replaceable = new Map<string, { readonly index: number; readonly write: DeferredWrite }>();
  private flushTimer: { readonly cancel: () => void } | null = null;
  /** When the writes made with `later` were last applied (performance.now()). */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Called once the writes made with `later` so far are applied (or their transaction failed). */
  private afterFlushCallbacks: (() => void)[] = [];

  /** The file, or `:memory:`. */
  readonly path: string;

  constructor(path = ':memory:', migrations: readonly Migration[] = STATE_MIGRATIONS) {
    this.path = path;
    this.db = new DatabaseSync(path);
    try {
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF;');
      migrate(this.db, migrations);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /** A prepared statement, cached by its SQL text. */
  prepare(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  run(sql: string, ...params: SQLInputValue[]): void {
    this.prepare(sql).run(...params);
  }

  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.prepare(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.prepare(sql).all(...params) as T[];
  }

  /**
   * Runs a write at the next turn of the event loop, or LATER_FLUSH_INTERVAL_MS after the previous
   * such flush if that is later, in one transaction with every other write made this way meanwhile:
   * for bookkeeping written once per message (checkpoints, handled event ids), where a commit each
   * would cost more than the message. A crash can lose the last flush interval's worth of such
   * writes; they only say what was done, so the work is redone, which at-least-once allows.
   * Reads see them only once applied: a store that must read its own writes keeps them in memory
   * until `afterFlush` says they are applied.
   */
  later(sql: string, ...params: SQLInputValue[]): void {
    this.deferred.push({ sql, params });
    this.scheduleFlush();
  }

  /** Calls `callback` once the writes made with `later` until now are applied (or failed to be). */
  afterFlush(callback: () => void): void {
    this.afterFlushCallbacks.push(callback);
    this.scheduleFlush();
  }

  /**
   * As `later`, for a write that replaces the earlier ones of the same `key` (a position moved on):
   * while it waits, a newer write of the key takes the older one's place, so a consumer that moves
   * its checkpoint once per message writes it once per flush, not once per message.
   */
  laterReplacing(key: string, sql: string, ...params: SQLInputValue[]): void {
    const waiting = this.replaceable.get(key);
    if (waiting !== undefined && this.deferred[waiting.index] === waiting.write) {
      const write = { sql, params };
      this.deferred[waiting.index] = write;
      this.replaceable.set(key, { index: waiting.index, write });
      return;
    }
    const write = { sql, params };
    this.replaceable.set(key, { index: this.deferred.length, write });
    this.deferred.push(write);
    this.scheduleFlush();
  }

  /**
   * At most one flush per LATER_FLUSH_INTERVAL_MS. While a blocking fsync of the event store made each
   * turn of the loop last milliseconds, a flush per turn was about this rate by itself; with turns of
   * microseconds it was a commit (and its hot pages rewritten in the WAL) per handful of messages.
   */
  private scheduleFlush(): void {
    if (this.flushTimer !== null) return;
    const wait = this.lastFlushAt + LATER_FLUSH_INTERVAL_MS - performance.now();
    if (wait > 0) {
      const timer = setTimeout(() => this.flush(), wait);
      this.flushTimer = { cancel: () => clearTimeout(timer) };
    } else {
      const immediate = setImmediate(() => this.flush());
      this.flushTimer = { cancel: () => clearImmediate(immediate) };
    }
  }

  /** Applies the writes made with `later` now. */
  flush(): void {
    this.flushTimer?.cancel();
    this.flushTimer = null;
    const writes = this.deferred;
    const callbacks = this.afterFlushCallbacks;
    this.afterFlushCallbacks = [];
    try {
      if (writes.length === 0 || !this.db.isOpen) return;
      this.deferred = [];
      this.replaceable = new Map();
      this.lastFlushAt = performance.now();
      this.transaction(() => {
        for (const write of writes) this.prepare(write.sql).run(...write.params);
      });
    } finally {
      for (const callback of callbacks) callback();
    }
  }

  /** Runs `work` in one transaction: all of it is applied or none. Not re-entrant. */
  transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Runs `work` with its commits synced to disk (synchronous FULL) where the file's default
   * (NORMAL, in WAL) may lose the last commits to a power cut: for a rare write that something
   * outside this file moves on after (a Kafka offset committed past the messages it stands for).
   */
  durably<T>(work: () => T): T {
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      return work();
    } finally {
      this.db.exec('PRAGMA synchronous = NORMAL');
    }
  }

  /** The migrations applied so far, in order. */
  appliedMigrations(): { id: number; name: string; appliedAt: string }[] {
    return this.all<{ id: number; name: string; applied_at: string }>('SELECT id, name, applied_at FROM schema_migrations ORDER BY id').map(
      (row) => ({
        id: row.id,
        name: row.name,
        appliedAt: row.applied_at,
      }),
    );
  }

  close(): void {
    this.flush();
    this.statements.clear();
    if (this.db.isOpen) this.db.close();
  }
}

/**
 * Applies, in id order, each migration not yet recorded, each in its own transaction with its record.
 * Two processes opening one file at once are serialised by BEGIN IMMEDIATE; the second sees the
 * first's record and skips.
 */
const migrate = (db: DatabaseSync, migrations: readonly Migration[]): void => {
  const ids = migrations.map((migration) => migration.id);
  if (ids.some((id, i) => id !== i + 1)) throw new Error(`State migrations must be numbered 1, 2, 3, … in order; got ${ids.join(', ')}`);
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const newest = (db.prepare('SELECT max(id) AS id FROM schema_migrations').get() as { id: number | null }).id ?? 0;
  if (newest > migrations.length) {
    throw new Error(
      `The state database has migration ${newest}, newer than this code knows (${migrations.length}): run a ` +
        `newer Flotilla, or delete the file to rebuild it`,
    );
  }
  const applied = db.prepare('SELECT 1 FROM schema_migrations WHERE id = ?');
  const record = db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations) {
    db.exec('BEGIN IMMEDIATE');
    try {
      if (applied.get(migration.id) === undefined) {
        db.exec(migration.sql);
        record.run(migration.id, migration.name, new Date().toISOString());
      }
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw new Error(
        `State migration ${migration.id} (${migration.name}) failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
};
