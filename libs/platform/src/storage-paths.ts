import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { openEventStore, type EventStore } from '@flotilla/event-store';
import { StateDb } from '@flotilla/state';

/** The SQLite file an EVENT_STORE URL names (`sqlite:<path>`, `sqlite://<path>` or a bare path); null for a server. */
export const sqlitePathOf = (url: string): string | null => {
  if (url.startsWith('sqlite:')) return url.replace(/^sqlite:(?:\/\/)?/, '');
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? null : url;
};

const reasonOf = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a part of the path is a file, not a folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
};

/**
 * Makes the folder of a SQLite file (STATE_DB or EVENT_STORE may point outside DATA_DIR, at a
 * folder no one made yet) and checks this process may write there, so that a path that cannot be
 * opened stops the start with a message naming the variable and the path, not SQLite's "unable to
 * open database file".
 */
export const prepareSqliteFile = (path: string, variable: string): void => {
  if (path === ':memory:' || path === '') return;
  const folder = dirname(resolve(path));
  try {
    mkdirSync(folder, { recursive: true });
    // SQLite writes the file and its -wal and -shm beside it.
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new Error(`${variable}: cannot use ${path}: cannot create or write its folder ${folder} (${reasonOf(error)})`, { cause: error });
  }
};

/** What failed to open, said with the variable and the path. */
const naming = (variable: string, path: string, error: unknown): Error =>
  new Error(`${variable}: cannot open ${path}: ${reasonOf(error)}`, { cause: error });

/** This process's state database at STATE_DB, its folder made first. */
export const openStateDb = (path: string): StateDb => {
  prepareSqliteFile(path, 'STATE_DB');
  try {
    return new StateDb(path);
  } catch (error) {
    throw naming('STATE_DB', path, error);
  }
};

/** The event store EVENT_STORE names; for SQLite, its folder made first and a failure to open naming the path. */
export const openConfiguredEventStore = async (url: string): Promise<EventStore> => {
  const path = sqlitePathOf(url);
  if (path === null) return openEventStore(url);
  prepareSqliteFile(path, 'EVENT_STORE');
  try {
    return await openEventStore(url);
  } catch (error) {
    throw naming('EVENT_STORE', path, error);
  }
};
