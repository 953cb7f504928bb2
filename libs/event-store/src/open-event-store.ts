import { EsdbEventStore } from './esdb/esdb-event-store';
import type { EventStore } from './event-store';
import { PostgresEventStore, maskPassword } from './postgres/postgres-event-store';
import { SqliteEventStore, type SqliteEventStoreOptions } from './sqlite/sqlite-event-store';

const ESDB_SCHEME = /^(?:esdb|kurrentdb|kurrent|kdb)(?:\+discover)?:\/\//i;
const POSTGRES_SCHEME = /^postgres(?:ql)?:\/\//i;
const ANY_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Opens the event store a configuration names:
 * - `esdb://…`, `kurrentdb://…` (and their `+discover` forms): EventStoreDB / KurrentDB;
 * - `postgres://user[:password]@host[:port]/database` (or `postgresql://`, with libpq's query parameters
 *   such as `?sslmode=require`): the PostgreSQL store, which creates its tables when missing;
 * - `sqlite:<path>`, `sqlite://<path>` or a bare path: the embedded SQLite store, with `sqlite` as its
 *   options (its defaults when absent).
 */
export const openEventStore = async (url: string, sqlite: SqliteEventStoreOptions = {}): Promise<EventStore> => {
  if (ESDB_SCHEME.test(url)) return EsdbEventStore.fromConnectionString(url);
  if (POSTGRES_SCHEME.test(url)) return PostgresEventStore.open(url);
  if (url.startsWith('sqlite:')) return new SqliteEventStore(url.replace(/^sqlite:(?:\/\/)?/, ''), sqlite);
  // A URL of some other engine must not turn into a file with a strange name.
  if (ANY_SCHEME.test(url)) throw new Error(`Unsupported event store URL: ${maskPassword(url)}`);
  return new SqliteEventStore(url, sqlite);
};
