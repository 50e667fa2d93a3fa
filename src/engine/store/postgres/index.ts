/**
 * This folder is the PostgreSQL event store (scale-out notes §5.2): the shared store of many
 * `larkflow worker` processes on many hosts. postgres-store.ts holds the store and its statements,
 * migrations.ts its numbered schema (v2 is the task queue of task-queue-schema.ts).
 */
export { openPostgresStore, PostgresEventStore, isPostgresUrl, redactUrl } from './postgres-store.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { PG_MIGRATIONS, PG_SCHEMA_VERSION } from './migrations.js';
export type { PgMigration } from './migrations.js';
