/**
 * This file is the barrel of the event stores, the adapters of core's `EventStore` port: the
 * SQLite store that the engine and CLI use, and the memory store for tests. Both keep the same
 * contract (tests/engine/store-contract.test.ts): atomic appends guarded by the expected last seq,
 * histories that never show a partial append, and a run summary derived from each history.
 */
export { openSqliteStore, SqliteEventStore } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store.js';
export { MemoryEventStore } from './memory-store.js';
export { MIGRATIONS, SCHEMA_VERSION, runCursor } from './schema.js';
export type { Migration } from './schema.js';
