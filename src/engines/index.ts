/**
 * Engines: the implementations of the hub's `Broker`, `HistoryStore` and `PresenceStore` interfaces
 * (hub/engine.ts) that need nothing but Node.
 *
 * - {@link MemoryHistoryStore}: bounded in-process history (new epochs after a restart).
 * - {@link SqliteHistoryStore}: durable history on an embedded SQLite file, the default of `volley serve`.
 * - {@link MemoryBroker} (with {@link MemoryBus} for several nodes in one process): in-process fan-out.
 * - {@link MemoryPresenceStore}: in-process presence with expiry.
 *
 * Every engine passes the shared contract suites in `engines/contract/`.
 *
 * @module
 */

export { randomEpoch } from './epoch.js';
export { EngineError, EngineErrorCode } from './errors.js';
export {
  DEFAULT_DEDUPE_WINDOW_MS,
  DEFAULT_EMPTY_STREAM_TTL_MS,
  DEFAULT_SWEEP_INTERVAL_MS,
  type HistoryStoreBaseOptions,
} from './history-args.js';
export { MAX_JSON_DEPTH } from './json.js';
export { MemoryBroker, MemoryBus, type MemoryBrokerOptions } from './memory-broker.js';
export { MemoryHistoryStore, type MemoryHistoryStoreOptions } from './memory-history.js';
export { MemoryPresenceStore, type MemoryPresenceStoreOptions } from './memory-presence.js';
export { DEFAULT_SQLITE_PATH, SqliteHistoryStore, type SqliteHistoryStoreOptions } from './sqlite-history.js';
export type { Timers } from './sweeper.js';
