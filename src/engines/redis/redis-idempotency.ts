/**
 * {@link RedisIdempotencyStore}: idempotent publishing in channels without history, shared by every node. One
 * Lua script sets the key with `SET NX PX window` and, only when it was not there, publishes the publication to
 * the channel's Pub/Sub channel, in the broker's wire format. Both happen in one atomic step, so of any number of
 * publishes with one key — concurrent ones on several nodes included — exactly one is delivered, and a failed
 * call never leaves a key behind that would swallow the client's retry.
 *
 * Publishing from a script on the command connection keeps the broker's ordering: the {@link RedisBroker} publishes
 * on the same connection, and the hub sends one channel's publishes one at a time.
 *
 * @example
 * ```ts
 * const engine = new RedisEngine({ url: 'redis://127.0.0.1:6379' });
 * const hub = new Hub({ …, idempotency: engine.idempotency });
 * ```
 *
 * @module
 */

import type { Publication } from '../../hub/engine.js';
import type { IdempotencyStore, PublishOnceOptions } from '../../hub/shared-limits.js';
import { checkDuration, checkString, invalidArgument } from '../errors.js';
import { type RedisClient, shardedOption } from './connection.js';
import { DEFAULT_PREFIX, KeySpace, checkPrefix } from './keys.js';
import { encodePublicationMessage } from './redis-broker.js';
import { PUBLISH_ONCE } from './scripts.js';

/** Options of {@link RedisIdempotencyStore}. */
export interface RedisIdempotencyStoreOptions {
  /** A command connection (from `createRedisClients`, e.g. a {@link RedisEngine}'s); the store does not close it. */
  readonly client: RedisClient;
  /**
   * Prefix of every key and Pub/Sub channel: the same as the broker's.
   * @default 'volley:'
   */
  readonly prefix?: string;
  /**
   * Publish with `SPUBLISH` (sharded Pub/Sub): the same as the broker's setting.
   * @default true on a Redis Cluster, else false (as the {@link RedisBroker})
   */
  readonly sharded?: boolean;
}

/** Idempotency keys of channels without history in Redis. See the module description. */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #client: RedisClient;
  readonly #keys: KeySpace;
  readonly #publish: 'PUBLISH' | 'SPUBLISH';

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad prefix or a missing client. */
  constructor(options: RedisIdempotencyStoreOptions) {
    if (typeof options !== 'object' || options === null || typeof options.client !== 'object') invalidArgument('options.client is required');
    this.#client = options.client;
    this.#keys = new KeySpace(checkPrefix(options.prefix ?? DEFAULT_PREFIX));
    this.#publish = shardedOption(options.sharded, options.client.mode) ? 'SPUBLISH' : 'PUBLISH';
  }

  /**
   * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT`, or `VOLLEY_ERR_NOT_JSON` (nothing stored or published).
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` (outcome unknown if the script was sent: retry with the
   * same key) or `VOLLEY_ERR_ENGINE_FAILED` (nothing stored or published).
   */
  async publishOnce(channel: string, publication: Publication, options: PublishOnceOptions): Promise<boolean> {
    checkString('channel', channel);
    checkString('idempotencyKey', options.idempotencyKey);
    checkDuration('windowMs', options.windowMs);
    const reply = await this.#client.evalScript(
      `publish once to ${channel}`,
      PUBLISH_ONCE,
      [this.#keys.idempotencyWithoutHistory(channel, options.idempotencyKey)],
      [Math.ceil(options.windowMs), this.#publish, this.#keys.tag(channel), encodePublicationMessage(publication, '')],
    );
    return reply === 1;
  }
}

