/**
 * {@link RedisEngine}: the Redis engines on shared connections — history, broker and presence, plus the shared
 * rate-limit buckets and the idempotency keys of channels without history — with the atomic path on by default: the
 * history append script publishes the publication itself (`PUBLISH` inside the same Lua script that assigned its
 * offset), and the engine's broker turns the hub's following `broker.publish` of that publication into a no-op.
 *
 * Why: with a separate publish, two nodes appending to one channel at once can take offsets 5 and 6 and then
 * publish them in the other order; subscribers would see 6 before 5 and report a false gap. When the publish is
 * part of the append, Pub/Sub order is offset order on every node, and a publication is in history whenever it
 * was delivered.
 *
 * @example
 * ```ts
 * const engine = new RedisEngine({ url: 'redis+sentinel://s1:26379,s2:26379/mymaster' });
 * const hub = new Hub({
 *   broker: engine.broker, history: engine.history, presence: engine.presence,
 *   sharedRateLimits: engine.rateLimits, idempotency: engine.idempotency, …
 * });
 * // …
 * await engine.close();
 * ```
 *
 * @module
 */

import { invalidArgument } from '../errors.js';
import { type RedisClients, type RedisConnectionOptions, createRedisClients, shardedOption } from './connection.js';
import { DEFAULT_PREFIX, checkPrefix } from './keys.js';
import { RedisBroker, type RedisBrokerOptions } from './redis-broker.js';
import { RedisHistoryStore, type RedisHistoryStoreOptions } from './redis-history.js';
import { RedisIdempotencyStore } from './redis-idempotency.js';
import { RedisPresenceStore } from './redis-presence.js';
import { RedisRateLimitStore } from './redis-rate-limit.js';

/** Options of {@link RedisEngine}. */
export interface RedisEngineOptions {
  /**
   * Where Redis is: `redis://`, `rediss://`, `redis+cluster://`, `redis+sentinel://`.
   * @default 'redis://127.0.0.1:6379'
   */
  readonly url?: string;
  /** Connection options (timeouts, `cluster: true`, error reporting). */
  readonly connection?: Omit<RedisConnectionOptions, 'prefix'>;
  /**
   * Prefix of every key and Pub/Sub channel: nodes with the same prefix on the same Redis form one hub.
   * @default 'volley:'
   */
  readonly prefix?: string;
  /**
   * Publish from inside the append script (see the module description). Turn off only to compare.
   * @default true
   */
  readonly atomicPublish?: boolean;
  /**
   * Sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+), for the broker, the append script and idempotent
   * publishes alike. On a Redis Cluster each message then stays in its shard, and a lost shard connection is
   * reported to `broker.onDisconnect` / `onResubscribe` (docs/redis.md, "Redis Cluster").
   * @default true on a Redis Cluster (`redis+cluster://` or `connection.cluster`), else false
   */
  readonly sharded?: boolean;
  /** History options (epoch generation, dedupe window, how long an empty stream keeps its epoch). */
  readonly history?: Pick<RedisHistoryStoreOptions, 'randomId' | 'dedupeWindowMs' | 'emptyStreamTtlMs'>;
  /** Broker hooks and batching. */
  readonly broker?: Pick<RedisBrokerOptions, 'onResubscribe' | 'onDisconnect' | 'onError' | 'subscribeBatchSize'>;
}

/**
 * History, broker, presence, shared rate limits and idempotency on one Redis, sharing one command connection plus
 * the broker's Pub/Sub one.
 */
export class RedisEngine {
  readonly clients: RedisClients;
  readonly history: RedisHistoryStore;
  readonly broker: RedisBroker;
  readonly presence: RedisPresenceStore;
  /** Token buckets shared by the nodes (hub option `sharedRateLimits`). */
  readonly rateLimits: RedisRateLimitStore;
  /** Idempotency keys of channels without history, shared by the nodes (hub option `idempotency`). */
  readonly idempotency: RedisIdempotencyStore;
  #closed = false;

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad URL or option. */
  constructor(options: RedisEngineOptions = {}) {
    if (typeof options !== 'object' || options === null) invalidArgument('options must be an object');
    const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
    this.clients = createRedisClients(options.url, { ...options.connection, prefix });
    const sharded = shardedOption(options.sharded, this.clients.mode);
    const client = this.clients.command;
    this.history = new RedisHistoryStore({ ...options.history, client, prefix, sharded, publishOnAppend: options.atomicPublish !== false });
    this.presence = new RedisPresenceStore({ client, prefix });
    this.rateLimits = new RedisRateLimitStore({ client, prefix });
    this.idempotency = new RedisIdempotencyStore({ client, prefix, sharded });
    const history = this.history;
    this.broker = new RedisBroker({
      ...options.broker,
      clients: this.clients,
      prefix,
      sharded,
      alreadyPublished: (publication) => history.publishedByHistory(publication),
    });
  }

  /** Closes the engines and both connections (the rate-limit and idempotency stores then reject). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.history.close(), this.presence.close(), this.broker.close()]);
    await this.clients.close();
  }
}
