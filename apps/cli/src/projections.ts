import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { EventStore, GlobalPosition } from '@flotilla/event-store';
import { ProjectionRunner, batchProjections, settleFully, type Projection } from '@flotilla/projections';
import { StateDb } from '@flotilla/state';
import { CliError } from './context';

/** The projections `replay` and `verify` know: the read models the API serves. */
export const projectionNamed = (name: string): Projection => {
  const all = batchProjections();
  const found = all.find((projection) => projection.name === name);
  if (found === undefined) throw new CliError(`Unknown projection "${name}": one of ${all.map((p) => p.name).join(', ')}`);
  return found;
};

export const projectionNames = (): string[] => batchProjections().map((projection) => projection.name);

export interface RebuildProgress {
  /** Events of the projection's types still to apply, counted before the rebuild starts. */
  start(total: number): void;
  /** After each committed transaction: events applied so far. */
  update(applied: number): void;
  stop(): void;
}

const silent: RebuildProgress = { start: () => undefined, update: () => undefined, stop: () => undefined };

interface CheckpointRow {
  readonly version: number;
  readonly position: string | null;
}

const checkpointOf = (db: DatabaseSync, schema: string, name: string): CheckpointRow | undefined =>
  db.prepare(`SELECT version, position FROM ${schema}.projection_checkpoints WHERE name = ?`).get(name) as CheckpointRow | undefined;

const columnsOf = (db: DatabaseSync, schema: string, table: string): { name: string; pk: number }[] =>
  db.prepare(`PRAGMA ${schema}.table_info(${table})`).all() as { name: string; pk: number }[];

const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * Applies the projection's events to `db` with the runner the services use (same code, same
 * transactions and checkpoints), from the checkpoint `db` already has, up to `until` or the end.
 */
export const runProjection = async (
  store: EventStore,
  db: StateDb,
  projection: Projection,
  options: { until?: GlobalPosition; progress: RebuildProgress },
): Promise<void> => {
  const from = db.get<{ position: string | null }>('SELECT position FROM projection_checkpoints WHERE name = ?', projection.name)?.position;
  let total = 0;
  for await (const event of store.readAll({
    after: from === undefined || from === null ? 'start' : BigInt(from),
    filter: { eventTypes: projection.events.types },
  })) {
    if (options.until !== undefined && event.position > options.until) break;
    total++;
  }
  let applied = 0;
  options.progress.start(total);
  const runner = new ProjectionRunner(store, db, [projection], {
    ...(options.until === undefined ? {} : { until: options.until }),
    onApplied: (events) => options.progress.update((applied += events.length)),
  });
  try {
    await runner.start();
    await runner.stop();
    settleFully(db, projection);
  } finally {
    await runner.stop();
    options.progress.stop();
  }
};

/** Opens `path` so that no other connection may read or write it until closed; null when another process has it open. */
const openExclusively = (path: string): DatabaseSync | null => {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE');
  try {
    // In WAL mode every open connection holds a shared lock on the file: an exclusive one is refused while a service has it open.
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (error) {
    db.close();
    if (/locked|busy/i.test(String(error))) return null;
    throw error;
  }
};

const heldByAnotherProcess = (path: string): CliError =>
  new CliError(
    `${path} is open in another process (the service that serves the API keeps its read models there): ` +
      'stop that service, replay, then start it again. `flotilla verify` works while it runs.',
    3,
  );

export interface ReplayResult {
  readonly projection: string;
  readonly position: string | null;
  readonly fromScratch: boolean;
}

/**
 * Rebuilds one projection of a state file.
 *
 * The running service keeps its checkpoints in memory and its projection rows in that file, so
 * nobody else may write them under it: replay refuses while another process has the file open, and
 * says so. It builds in a scratch file (from nothing with `fromScratch`, else from a copy of the live
 * rows and checkpoint), so the live rows stay as they were until the end, then swaps the rows and the
 * checkpoint in with one transaction under an exclusive lock, checked again at that moment. A crash
 * or a refusal at any point leaves the live projection untouched.
 */
export const replayProjection = async (
  store: EventStore,
  statePath: string,
  projection: Projection,
  options: { fromScratch: boolean; progress?: RebuildProgress },
): Promise<ReplayResult> => {
  const probe = openExclusively(statePath);
  if (probe === null) throw heldByAnotherProcess(statePath);
  probe.exec('COMMIT');
  probe.close();
  // Brings the live file to the current schema, as a starting service would.
  new StateDb(statePath).close();
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-replay-'));
  try {
    const scratchPath = join(dir, 'scratch.sqlite');
    const scratch = new StateDb(scratchPath);
    try {
      if (!options.fromScratch) copyProjection(scratchPath, statePath, projection);
      await runProjection(store, scratch, projection, { progress: options.progress ?? silent });
    } finally {
      scratch.close();
    }
    const live = openExclusively(statePath);
    if (live === null) throw heldByAnotherProcess(statePath);
    try {
      live.exec('COMMIT');
      live.prepare('ATTACH DATABASE ? AS scratch').run(scratchPath);
      live.exec('BEGIN EXCLUSIVE');
      moveRows(live, 'scratch', 'main', projection);
      live.exec('COMMIT');
      live.exec('DETACH DATABASE scratch');
      return {
        projection: projection.name,
        position: checkpointOf(live, 'main', projection.name)?.position ?? null,
        fromScratch: options.fromScratch,
      };
    } catch (error) {
      if (live.isTransaction) live.exec('ROLLBACK');
      throw error;
    } finally {
      live.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Copies the projection's rows and checkpoint from the live file into a scratch one, to go on from there. */
const copyProjection = (scratchPath: string, livePath: string, projection: Projection): void => {
  const db = new DatabaseSync(scratchPath);
  try {
    db.prepare('ATTACH DATABASE ? AS live').run(livePath);
    db.exec('BEGIN');
    moveRows(db, 'live', 'main', projection);
    db.exec('COMMIT');
  } finally {
    db.close();
  }
};

/** Replaces the projection's rows and checkpoint in `to` with those of `from` (two schemas of one connection, in its transaction). */
const moveRows = (db: DatabaseSync, from: string, to: string, projection: Projection): void => {
  for (const table of projection.tables) {
    const columns = columnsOf(db, to, table)
      .map((column) => quoted(column.name))
      .join(', ');
    db.exec(`DELETE FROM ${to}.${table}`);
    db.exec(`INSERT INTO ${to}.${table} (${columns}) SELECT ${columns} FROM ${from}.${table}`);
  }
  db.prepare(`DELETE FROM ${to}.projection_checkpoints WHERE name = ?`).run(projection.name);
  db.prepare(
    `INSERT INTO ${to}.projection_checkpoints (name, version, position) ` +
      `SELECT name, version, position FROM ${from}.projection_checkpoints WHERE name = ?`,
  ).run(projection.name);
};

/** One way the live projection differs from its rebuild. */
export interface Difference {
  readonly table: string;
  /** The row's primary key, column by column. */
  readonly key: Record<string, unknown>;
  readonly kind: 'only-live' | 'only-rebuilt' | 'changed';
  /** For `changed`: each column that differs, with both values. */
  readonly columns?: Record<string, { readonly live: unknown; readonly rebuilt: unknown }>;
}

export interface VerifyResult {
  readonly projection: string;
  /** Where the live projection stood; the rebuild stopped there too. */
  readonly position: string | null;
  readonly rowsCompared: number;
  readonly differences: readonly Difference[];
  /** Set when the live projection was written by another version of its code (it is rebuilt at the service's next start). */
  readonly versionMismatch?: { readonly live: number; readonly code: number };
}

/**
 * Rebuilds the projection into a scratch file up to exactly where the live one stands and
 * compares the two row by row. Never writes the live file: it takes a consistent copy of it first
 * (`VACUUM INTO`, one read transaction, fine alongside a running service), so rows the service
 * writes meanwhile cannot show up as differences.
 */
export const verifyProjection = async (
  store: EventStore,
  statePath: string,
  projection: Projection,
  options: { progress?: RebuildProgress } = {},
): Promise<VerifyResult> => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-verify-'));
  try {
    const copyPath = join(dir, 'live.sqlite');
    const source = new DatabaseSync(statePath);
    try {
      source.exec('PRAGMA busy_timeout = 5000');
      source.prepare('VACUUM INTO ?').run(copyPath);
    } finally {
      source.close();
    }
    // The copy is brought to the current schema as a starting service would bring the live file, and
    // its deferred work done, as the rebuild's is: the live service may still be doing it slice by slice.
    const copy = new StateDb(copyPath);
    try {
      settleFully(copy, projection);
    } finally {
      copy.close();
    }
    const rebuiltPath = join(dir, 'rebuilt.sqlite');
    const db = new DatabaseSync(copyPath);
    try {
      const checkpoint = checkpointOf(db, 'main', projection.name);
      const position = checkpoint?.position ?? null;
      const rebuilt = new StateDb(rebuiltPath);
      try {
        // Nothing applied live: the rebuild applies nothing either (and must then be empty, as the live rows must).
        await runProjection(store, rebuilt, projection, {
          until: position === null ? -1n : BigInt(position),
          progress: options.progress ?? silent,
        });
      } finally {
        rebuilt.close();
      }
      db.prepare('ATTACH DATABASE ? AS rebuilt').run(rebuiltPath);
      const differences: Difference[] = [];
      let rowsCompared = 0;
      for (const table of projection.tables) {
        const compared = compareTable(db, table);
        rowsCompared += compared.rows;
        differences.push(...compared.differences);
      }
      return {
        projection: projection.name,
        position,
        rowsCompared,
        differences,
        ...(checkpoint !== undefined && checkpoint.version !== projection.version
          ? { versionMismatch: { live: checkpoint.version, code: projection.version } }
          : {}),
      };
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Rows of `table` in main (the live copy) and rebuilt, paired by primary key; every row that is not identical is a difference. */
const compareTable = (db: DatabaseSync, table: string): { rows: number; differences: Difference[] } => {
  const columns = columnsOf(db, 'main', table);
  const keys = columns.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk);
  if (keys.length === 0) throw new Error(`Table ${table} has no primary key: its rows cannot be paired`);
  const order = keys.map((key) => quoted(key.name)).join(', ');
  const rowsOf = (schema: string) => db.prepare(`SELECT * FROM ${schema}.${table} ORDER BY ${order}`).all() as Record<string, unknown>[];
  const keyOf = (row: Record<string, unknown>): string => JSON.stringify(keys.map((key) => row[key.name]));
  const live = new Map(rowsOf('main').map((row) => [keyOf(row), row]));
  const rebuilt = new Map(rowsOf('rebuilt').map((row) => [keyOf(row), row]));
  const keyFields = (row: Record<string, unknown>) => Object.fromEntries(keys.map((key) => [key.name, row[key.name]]));
  const differences: Difference[] = [];
  for (const [key, row] of live) {
    const other = rebuilt.get(key);
    if (other === undefined) {
      differences.push({ table, key: keyFields(row), kind: 'only-live' });
      continue;
    }
    const changed: Record<string, { live: unknown; rebuilt: unknown }> = {};
    for (const { name } of columns) if (!Object.is(row[name], other[name])) changed[name] = { live: row[name], rebuilt: other[name] };
    if (Object.keys(changed).length > 0) differences.push({ table, key: keyFields(row), kind: 'changed', columns: changed });
  }
  for (const [key, row] of rebuilt) if (!live.has(key)) differences.push({ table, key: keyFields(row), kind: 'only-rebuilt' });
  return { rows: Math.max(live.size, rebuilt.size), differences };
};

export const describeDifference = (difference: Difference): string => {
  const key = Object.entries(difference.key)
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(' ');
  switch (difference.kind) {
    case 'only-live':
      return `${difference.table} ${key}: in the live projection only`;
    case 'only-rebuilt':
      return `${difference.table} ${key}: missing from the live projection`;
    case 'changed':
      return `${difference.table} ${key}: ${Object.entries(difference.columns ?? {})
        .map(([name, { live, rebuilt }]) => `${name} is ${JSON.stringify(live)}, rebuilt ${JSON.stringify(rebuilt)}`)
        .join('; ')}`;
  }
};
