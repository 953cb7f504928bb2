export * from './event-store';
export { SqliteEventStore, type SqliteDurability, type SqliteEventStoreOptions } from './sqlite/sqlite-event-store';
export { PostgresEventStore, type PostgresEventStoreOptions } from './postgres/postgres-event-store';
export { EsdbEventStore } from './esdb/esdb-event-store';
export { openEventStore } from './open-event-store';
