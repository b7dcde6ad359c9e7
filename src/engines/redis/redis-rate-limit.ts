/**
 * {@link RedisRateLimitStore}: the token buckets that several nodes share so that a limit per user, IP or
 * channel holds across the hub (hub/shared-limits.ts describes how nodes use it and the over-admission bound).
 * One Lua script per debit refills the bucket on Redis's clock, takes what the node admitted (even below zero)
 * and answers the level; the key expires once the bucket would be full again.
 *
 * @example
 * ```ts
 * const engine = new RedisEngine({ url: 'redis://127.0.0.1:6379' });
 * const hub = new Hub({ …, rateLimits: { user: { commandsPerSecond: 20 } }, sharedRateLimits: engine.rateLimits });
 * ```
 *
 * @module
 */

import type { BucketDebit, SharedDebit, SharedLevels, SharedRateLimitScope, SharedRateLimitStore } from '../../hub/shared-limits.js';
import { checkString, invalidArgument } from '../errors.js';
import type { RedisArg, RedisClient } from './connection.js';
import { DEFAULT_PREFIX, KeySpace, checkPrefix } from './keys.js';
import { RATE_LIMIT_DEBIT } from './scripts.js';

/** Options of {@link RedisRateLimitStore}. */
export interface RedisRateLimitStoreOptions {
  /** A command connection (from `createRedisClients`, e.g. a {@link RedisEngine}'s); the store does not close it. */
  readonly client: RedisClient;
  /**
   * Prefix of every key: nodes with the same prefix share buckets.
   * @default 'volley:'
   */
  readonly prefix?: string;
}

const SCOPES: ReadonlySet<string> = new Set<SharedRateLimitScope>(['user', 'ip', 'channel']);

/** Shared token buckets in Redis hashes. See the module description. */
export class RedisRateLimitStore implements SharedRateLimitStore {
  readonly #client: RedisClient;
  readonly #keys: KeySpace;

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad prefix or a missing client. */
  constructor(options: RedisRateLimitStoreOptions) {
    if (typeof options !== 'object' || options === null || typeof options.client !== 'object') invalidArgument('options.client is required');
    this.#client = options.client;
    this.#keys = new KeySpace(checkPrefix(options.prefix ?? DEFAULT_PREFIX));
  }

  /**
   * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for an unknown scope or a bad number.
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` or `VOLLEY_ERR_ENGINE_FAILED`.
   */
  async debit(scope: SharedRateLimitScope, key: string, debit: SharedDebit): Promise<SharedLevels> {
    if (!SCOPES.has(scope)) invalidArgument(`scope must be user, ip or channel, got ${String(scope)}`);
    checkString('key', key);
    const reply = (await this.#client.evalScript(`rate limit of ${scope} ${key}`, RATE_LIMIT_DEBIT, [this.#keys.rateLimit(scope, key)], [
      ...dimension('commands', debit.commands),
      ...dimension('bytes', debit.bytes),
    ])) as [string, string];
    const [commands, bytes] = reply;
    return {
      ...(commands !== '' && { commands: Number(commands) / 1000 }),
      ...(bytes !== '' && { bytes: Number(bytes) / 1000 }),
    };
  }
}

/** The script arguments of one dimension: rate, burst, spent; three empty strings when it is not limited. */
function dimension(name: string, debit: BucketDebit | undefined): RedisArg[] {
  if (debit === undefined) return ['', '', ''];
  const { rate, burst, spent } = debit;
  if (!(Number.isFinite(rate) && rate > 0 && Number.isFinite(burst) && burst >= 1 && Number.isFinite(spent) && spent >= 0)) {
    invalidArgument(`${name}: rate must be > 0, burst ≥ 1 and spent ≥ 0, all finite`);
  }
  return [String(rate), String(burst), String(spent)];
}
