/**
 * {@link RedisHistoryStore}: channel history in Redis Streams, shared by every node. One Lua script per call makes
 * each append atomic: it creates the epoch when the stream is new, checks the idempotency key, takes the next
 * offset, adds the entry with stream id `<offset>-0`, trims to `size`, drops expired entries, sets the keys'
 * expiry and (on the atomic path) publishes the publication, so offsets are gapless across nodes and every node
 * sees one order.
 *
 * Time is Redis's clock (`TIME` inside the scripts), the same for every node; Redis expires the keys itself, so
 * the store runs no timer.
 *
 * @example
 * ```ts
 * const history = new RedisHistoryStore({ url: 'redis://127.0.0.1:6379' });
 * const { publication, epoch } = await history.append('chat:lobby', { data: { text: 'hi' }, time: Date.now() },
 *   { size: 100, ttlMs: 60_000 });
 * const page = await history.read('chat:lobby', { since: publication.offset - 1 });
 * await history.close();
 * ```
 *
 * @module
 */

import type { AppendResult, HistoryPage, HistoryQuery, HistoryStore, Publication, StreamPosition } from '../../hub/engine.js';
import { EngineError, EngineErrorCode, checkString, closedError, invalidArgument } from '../errors.js';
import {
  type AppendEntry,
  type AppendOptions,
  type HistoryStoreBaseOptions,
  checkAppend,
  checkQuery,
  newEpoch,
  resolveBaseOptions,
  toPublication,
} from '../history-args.js';
import { type RedisClient, type RedisConnectionOptions, createRedisClients, shardedOption } from './connection.js';
import { DEFAULT_PREFIX, KeySpace, checkPrefix } from './keys.js';
import { APPEND, POSITION, READ } from './scripts.js';

/** Options of {@link RedisHistoryStore}. */
export interface RedisHistoryStoreOptions extends Pick<HistoryStoreBaseOptions, 'randomId' | 'dedupeWindowMs' | 'emptyStreamTtlMs'> {
  /**
   * A shared command connection (from {@link createRedisClients}); the store does not close it. Give this or `url`.
   */
  readonly client?: RedisClient;
  /**
   * Where Redis is, when the store should open (and close) its own connection.
   * @default 'redis://127.0.0.1:6379' when `client` is absent
   */
  readonly url?: string;
  /** Options of the store's own connection (ignored with `client`). */
  readonly connection?: RedisConnectionOptions;
  /**
   * Prefix of every key. Stores (and brokers) with the same prefix on the same Redis share channels.
   * @default 'volley:'
   */
  readonly prefix?: string;
  /**
   * Publish every appended publication from inside the append script (the atomic path, see {@link RedisEngine}),
   * to the Pub/Sub channel a {@link RedisBroker} with the same prefix and `sharded` setting listens to. Results
   * then carry `publishedByHistory: true` and the hub must not publish them again.
   * @default false
   */
  readonly publishOnAppend?: boolean;
  /**
   * With `publishOnAppend`: publish with `SPUBLISH` (sharded Pub/Sub, Redis Cluster 7+) instead of `PUBLISH`.
   * @default true on a Redis Cluster, else false (as the {@link RedisBroker})
   */
  readonly sharded?: boolean;
}

/** What {@link RedisHistoryStore.append} reports. */
export interface RedisAppendResult extends AppendResult {
  /**
   * True when the append script already published the publication to every subscribed node (`publishOnAppend`,
   * and not a duplicate): the caller must not pass it to `Broker.publish`.
   */
  readonly publishedByHistory: boolean;
}

const State = { OPEN: 'open', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/** A stream entry as `XRANGE` returns it: id and flat field list (`x`, `t`, `d`, optional `i`). */
type StreamEntry = [id: string, fields: string[]];

/** The Redis Streams history store. See the module description. */
export class RedisHistoryStore implements HistoryStore {
  #state: State = State.OPEN;
  readonly #client: RedisClient;
  readonly #ownsClient: boolean;
  readonly #keys: KeySpace;
  readonly #randomId: () => string;
  readonly #dedupeWindowMs: number;
  readonly #emptyStreamTtlMs: string;
  readonly #publishCommand: 'PUBLISH' | 'SPUBLISH' | undefined;
  /** Publications the append script published, so the engine's broker can skip them. */
  readonly #published = new WeakSet<Publication>();

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for an option of the wrong type or out of range. */
  constructor(options: RedisHistoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) invalidArgument('options must be an object');
    const base = resolveBaseOptions({
      ...(options.randomId !== undefined ? { randomId: options.randomId } : {}),
      ...(options.dedupeWindowMs !== undefined ? { dedupeWindowMs: options.dedupeWindowMs } : {}),
      ...(options.emptyStreamTtlMs !== undefined ? { emptyStreamTtlMs: options.emptyStreamTtlMs } : {}),
    });
    const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
    this.#keys = new KeySpace(prefix);
    this.#randomId = base.randomId;
    this.#dedupeWindowMs = base.dedupeWindowMs;
    this.#emptyStreamTtlMs = String(Math.ceil(base.emptyStreamTtlMs));
    if (options.client !== undefined) {
      if (options.url !== undefined) invalidArgument('give client or url, not both');
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = createRedisClients(options.url, { prefix, ...options.connection }).command;
      this.#ownsClient = true;
    }
    const sharded = shardedOption(options.sharded, this.#client.mode);
    this.#publishCommand = options.publishOnAppend === true ? (sharded ? 'SPUBLISH' : 'PUBLISH') : undefined;
  }

  /**
   * Whether `publication` (as returned by {@link append}) was already published by the append script. The
   * {@link RedisEngine}'s broker asks this to make `publish` a no-op for it.
   */
  publishedByHistory(publication: Publication): boolean {
    return this.#published.has(publication);
  }

  /**
   * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT`, `VOLLEY_ERR_NOT_JSON` (nothing stored), `VOLLEY_ERR_INVALID_STATE`.
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` (outcome unknown if the script was sent: retry with the
   * same idempotency key) or `VOLLEY_ERR_ENGINE_FAILED`.
   */
  async append(channel: string, entry: AppendEntry, options: AppendOptions): Promise<RedisAppendResult> {
    this.#assertOpen();
    const args = checkAppend(channel, entry, options, this.#dedupeWindowMs);
    const { meta, stream } = this.#keys.history(channel);
    const keys = args.idempotencyKey === undefined ? [meta, stream] : [meta, stream, this.#keys.idempotency(channel, args.idempotencyKey)];
    const reply = (await this.#client.evalScript(`append to ${channel}`, APPEND, keys, [
      newEpoch(this.#randomId),
      args.data,
      args.info ?? '',
      String(args.time),
      args.size,
      Math.ceil(args.ttlMs),
      this.#emptyStreamTtlMs,
      Math.ceil(args.dedupeWindowMs),
      this.#publishCommand === undefined ? '' : this.#keys.tag(channel),
      this.#publishCommand ?? '',
    ])) as [string, number, 0 | 1, string?, string?, string?];
    const [epoch, offset, duplicate] = reply;
    if (duplicate === 1) {
      const [, , , time, data, info] = reply;
      return { publication: toPublication(offset, data!, info || undefined, Number(time)), epoch, duplicate: true, publishedByHistory: false };
    }
    const publication: Publication =
      entry.info === undefined ? { offset, data: entry.data, time: args.time } : { offset, data: entry.data, info: entry.info, time: args.time };
    if (this.#publishCommand !== undefined) this.#published.add(publication);
    return { publication, epoch, duplicate: false, publishedByHistory: this.#publishCommand !== undefined };
  }

  async read(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    this.#assertOpen();
    const { since, limit, reverse } = checkQuery(channel, query);
    const { meta, stream } = this.#keys.history(channel);
    const [epoch, top, oldest, entries] = (await this.#client.evalScript(`read ${channel}`, READ, [meta, stream], [
      newEpoch(this.#randomId),
      this.#emptyStreamTtlMs,
      `${since + 1}-0`,
      limit === undefined ? '' : String(limit),
      reverse ? '1' : '0',
    ])) as [string, number, number, StreamEntry[]];
    const publications = limit === 0 ? [] : entries.map(toStoredPublication);
    return { epoch, offset: top, oldest, publications };
  }

  async position(channel: string): Promise<StreamPosition> {
    this.#assertOpen();
    checkString('channel', channel);
    const { meta, stream } = this.#keys.history(channel);
    const [epoch, offset] = (await this.#client.evalScript(`position of ${channel}`, POSITION, [meta, stream], [
      newEpoch(this.#randomId),
      this.#emptyStreamTtlMs,
    ])) as [string, number];
    return { epoch, offset };
  }

  /** Deletes the channel's stream and meta; its idempotency keys die with the epoch (and expire on their own). */
  async remove(channel: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    const { meta, stream } = this.#keys.history(channel);
    await this.#client.call(`remove ${channel}`, 'DEL', [meta, stream]);
  }

  /** Closes the store's own connection (not a shared one). Idempotent; later calls reject `VOLLEY_ERR_INVALID_STATE`. */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    if (this.#ownsClient) await this.#client.close();
  }

  #assertOpen(): void {
    if (this.#state !== State.OPEN) closedError('RedisHistoryStore');
    if (this.#client.closed) throw new EngineError(EngineErrorCode.INVALID_STATE, 'the Redis connection of RedisHistoryStore is closed');
  }
}

/** A stream entry back as a publication: offset from the id, fields `x` expiry, `t` time, `d` data, `i` info. */
function toStoredPublication([id, fields]: StreamEntry): Publication {
  let data = 'null';
  let info: string | undefined;
  let time = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!;
    switch (fields[i]) {
      case 'd':
        data = value;
        break;
      case 'i':
        info = value;
        break;
      case 't':
        time = Number(value);
        break;
    }
  }
  return toPublication(Number.parseInt(id, 10), data, info, time);
}
