/**
 * The Redis engines: history in Redis Streams, fan-out over Redis Pub/Sub, presence in hashes and sorted sets,
 * shared rate limits and idempotency keys, so several Volley nodes act as one hub. The history, broker and presence
 * engines pass the shared contract suites in `engines/contract/`.
 *
 * - {@link RedisEngine}: all of them on shared connections, with append and publish in one Lua script.
 * - {@link RedisHistoryStore}, {@link RedisBroker}, {@link RedisPresenceStore}: each on its own.
 * - {@link RedisRateLimitStore}, {@link RedisIdempotencyStore}: what the hub shares between nodes beyond the
 *   three engines (rate limits per user, IP or channel; idempotency keys of channels without history).
 * - {@link createRedisClients}: connections from a `redis://`, `rediss://`, `redis+cluster://` or
 *   `redis+sentinel://` URL.
 *
 * See docs/redis.md for the key layout, the scripts and the failure behaviour.
 *
 * @module
 */

export {
  DEFAULT_REDIS_URL,
  type RedisArg,
  RedisClient,
  type RedisClients,
  type RedisConnectionOptions,
  createRedisClients,
} from './connection.js';
export { RedisEngineError, RedisErrorCode } from './errors.js';
export { DEFAULT_PREFIX } from './keys.js';
export { DEFAULT_SUBSCRIBE_BATCH_SIZE, type PubSubOutage, RedisBroker, type RedisBrokerOptions } from './redis-broker.js';
export { RedisEngine, type RedisEngineOptions } from './redis-engine.js';
export { type RedisAppendResult, RedisHistoryStore, type RedisHistoryStoreOptions } from './redis-history.js';
export { RedisIdempotencyStore, type RedisIdempotencyStoreOptions } from './redis-idempotency.js';
export { RedisPresenceStore, type RedisPresenceStoreOptions } from './redis-presence.js';
export { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './redis-rate-limit.js';
export { type RedisMode, type RedisNode, type RedisUrl, parseRedisUrl } from './url.js';
