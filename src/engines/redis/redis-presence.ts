/**
 * {@link RedisPresenceStore}: who is in each channel, shared by every node. Per channel a hash of client id → info
 * JSON, a sorted set of client id → expiry (ms on Redis's clock) and two small hashes that keep the distinct user
 * count exact in O(1). `add` refreshes a member's expiry; a node that dies stops refreshing, and its members are
 * dropped by the next read (lazily, inside the same Lua script) or, when nobody reads, by Redis expiring the keys
 * with the last member.
 *
 * @example
 * ```ts
 * const presence = new RedisPresenceStore({ url: 'redis://127.0.0.1:6379' });
 * await presence.add('chat:lobby', { clientId: 'c1', userId: 'alice' }, 60_000);
 * await presence.stats('chat:lobby');  // { clients: 1, users: 1 }
 * ```
 *
 * @module
 */

import type { ClientInfo, PresenceStats, PresenceStore } from '../../hub/engine.js';
import { EngineError, EngineErrorCode, checkDuration, checkString, closedError, invalidArgument } from '../errors.js';
import { decodeJson, encodeJson } from '../json.js';
import { type RedisClient, type RedisConnectionOptions, createRedisClients } from './connection.js';
import { DEFAULT_PREFIX, KeySpace, checkPrefix } from './keys.js';
import { PRESENCE_ADD, PRESENCE_MEMBERS, PRESENCE_REMOVE, PRESENCE_STATS } from './scripts.js';

/** Options of {@link RedisPresenceStore}. */
export interface RedisPresenceStoreOptions {
  /** A shared command connection (from {@link createRedisClients}); the store does not close it. */
  readonly client?: RedisClient;
  /**
   * Where Redis is, when the store should open (and close) its own connection.
   * @default 'redis://127.0.0.1:6379' when `client` is absent
   */
  readonly url?: string;
  /** Options of the store's own connection (ignored with `client`). */
  readonly connection?: RedisConnectionOptions;
  /**
   * Prefix of every key.
   * @default 'volley:'
   */
  readonly prefix?: string;
}

const State = { OPEN: 'open', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/** The Redis presence store. See the module description. */
export class RedisPresenceStore implements PresenceStore {
  #state: State = State.OPEN;
  readonly #client: RedisClient;
  readonly #ownsClient: boolean;
  readonly #keys: KeySpace;

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for an option of the wrong type or out of range. */
  constructor(options: RedisPresenceStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) invalidArgument('options must be an object');
    const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
    this.#keys = new KeySpace(prefix);
    if (options.client !== undefined) {
      if (options.url !== undefined) invalidArgument('give client or url, not both');
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = createRedisClients(options.url, { prefix, ...options.connection }).command;
      this.#ownsClient = true;
    }
  }

  /**
   * Adds or refreshes a member until `ttlMs` from now (Redis's clock).
   *
   * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT`, `VOLLEY_ERR_NOT_JSON`, `VOLLEY_ERR_INVALID_STATE`.
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` or `VOLLEY_ERR_ENGINE_FAILED`.
   */
  async add(channel: string, info: ClientInfo, ttlMs: number): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    if (typeof info !== 'object' || info === null) invalidArgument('info must be an object');
    checkString('info.clientId', info.clientId);
    checkString('info.userId', info.userId);
    checkDuration('ttlMs', ttlMs);
    const json = encodeJson(info, 'info');
    await this.#client.evalScript(`presence add in ${channel}`, PRESENCE_ADD, this.#keys.presence(channel), [
      info.clientId,
      info.userId,
      json,
      Math.ceil(ttlMs),
    ]);
  }

  async remove(channel: string, clientId: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    checkString('clientId', clientId);
    await this.#client.evalScript(`presence remove in ${channel}`, PRESENCE_REMOVE, this.#keys.presence(channel), [clientId]);
  }

  async members(channel: string): Promise<ReadonlyMap<string, ClientInfo>> {
    this.#assertOpen();
    checkString('channel', channel);
    const flat = (await this.#client.evalScript(`presence of ${channel}`, PRESENCE_MEMBERS, this.#keys.presence(channel), [])) as string[];
    const members = new Map<string, ClientInfo>();
    for (let i = 0; i + 1 < flat.length; i += 2) members.set(flat[i]!, decodeJson(flat[i + 1]!) as ClientInfo);
    return members;
  }

  async stats(channel: string): Promise<PresenceStats> {
    this.#assertOpen();
    checkString('channel', channel);
    const [clients, users] = (await this.#client.evalScript(`presence stats of ${channel}`, PRESENCE_STATS, this.#keys.presence(channel), [])) as [
      number,
      number,
    ];
    return { clients, users };
  }

  /** Closes the store's own connection (not a shared one). Idempotent; later calls reject `VOLLEY_ERR_INVALID_STATE`. */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    if (this.#ownsClient) await this.#client.close();
  }

  #assertOpen(): void {
    if (this.#state !== State.OPEN) closedError('RedisPresenceStore');
    if (this.#client.closed) throw new EngineError(EngineErrorCode.INVALID_STATE, 'the Redis connection of RedisPresenceStore is closed');
  }
}
