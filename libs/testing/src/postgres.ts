/**
 * A PostgreSQL database of its own for a test run, on the server named by PG_URL (default: the local one with
 * trust authentication). Imported as `@flotilla/testing/postgres` from any project's tests: it depends on
 * nothing of the workspace (eslint allows exactly this path, as for `poll`).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface FreshPostgresDatabase {
  /** The URL of the new database: PG_URL with its database name replaced. */
  readonly url: string;
  readonly name: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

/** Creates `flotilla_<random>` on the server; the caller drops it (in `afterAll`). */
export async function freshPostgresDatabase(serverUrl = process.env['PG_URL'] || DEFAULT_PG_URL): Promise<FreshPostgresDatabase> {
  const name = `flotilla_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  await onServer(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => onServer(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

const onServer = async <T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
};
