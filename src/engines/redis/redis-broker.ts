/**
 * {@link RedisBroker}: fan-out between nodes over Redis Pub/Sub (or sharded Pub/Sub, `SPUBLISH`/`SSUBSCRIBE`, on a
 * Redis Cluster). Each node subscribes, on one dedicated connection (one per master with sharded Pub/Sub on a
 * cluster), only to the channels its own clients use; subscribe and unsubscribe calls made in the same tick go out
 * as one command (at most `subscribeBatchSize` channels each, and with sharded Pub/Sub one command per hash slot,
 * as Redis requires), in call order.
 *
 * Ordering: publishes leave on one command connection in call order and Redis delivers one connection's messages
 * in order, so every node sees one channel's publications, joins and leaves in the order `publish*` was called
 * on the publishing node.
 *
 * Faults: Redis Pub/Sub is at-most-once. When the Pub/Sub connection drops, the broker reconnects (backoff with
 * jitter), subscribes again to every channel it had, in batches, and then calls `onResubscribe(channels, outage)`:
 * publications made during the outage were not delivered to this node, and the hub must check each channel's
 * position against history (see docs/redis.md). With sharded Pub/Sub on a Redis Cluster, ioredis holds one
 * Pub/Sub connection per master and replaces a lost one itself; the broker reports that loss the same way, once
 * the replacement holds every channel again. A publish while Redis is unreachable rejects
 * `VOLLEY_ERR_ENGINE_UNAVAILABLE` within `offlineTimeoutMs` (default 2 s); nothing is queued to be sent later.
 *
 * Wire format: each message is JSON, `{"t":"p","e":epoch,"p":publication}` for a publication and
 * `{"t":"j"|"l","i":clientInfo}` for a join or leave, on the Pub/Sub channel `<prefix>{<channel>}`.
 *
 * @example
 * ```ts
 * const broker = new RedisBroker({
 *   url: 'redis://127.0.0.1:6379',
 *   onResubscribe: (channels) => hub.checkPositions(channels),
 * });
 * broker.setHandler({ publication: (channel, pub) => console.log(channel, pub.data), join() {}, leave() {} });
 * await broker.subscribe('chat:lobby');
 * await broker.publish('chat:lobby', { offset: 1, data: 'hi', time: Date.now() }, epoch);
 * ```
 *
 * @module
 */

import type { Broker, BrokerHandler, ClientInfo, Publication } from '../../hub/engine.js';
import { EngineError, EngineErrorCode, checkBrokerHandler, checkInteger, checkString, closedError, invalidArgument } from '../errors.js';
import { encodeJson } from '../json.js';
import { type RedisClient, type RedisClients, type RedisConnectionOptions, createRedisClients, shardedOption } from './connection.js';
import { toEngineError } from './errors.js';
import { DEFAULT_PREFIX, KeySpace, checkPrefix, hashSlot } from './keys.js';

/** Channels per `SUBSCRIBE` command when not set: 512, like centrifuge. */
export const DEFAULT_SUBSCRIBE_BATCH_SIZE = 512;

/** What {@link RedisBrokerOptions.onResubscribe} is told about the outage. */
export interface PubSubOutage {
  /** When the Pub/Sub connection was lost (ms since the Unix epoch, this node's clock). */
  readonly since: number;
  /** How long this node received nothing, up to the moment every channel was subscribed again. */
  readonly durationMs: number;
}

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions {
  /**
   * Connections from {@link createRedisClients}: the broker publishes on `command` and takes the Pub/Sub
   * connection `subscriber()` for itself (one broker per clients object). The broker closes neither.
   */
  readonly clients?: RedisClients;
  /**
   * Where Redis is, when the broker should open (and close) its own two connections.
   * @default 'redis://127.0.0.1:6379' when `clients` is absent
   */
  readonly url?: string;
  /** Options of the broker's own connections (ignored with `clients`). */
  readonly connection?: RedisConnectionOptions;
  /**
   * Prefix of the Pub/Sub channel names. Brokers with the same prefix on the same Redis are nodes of one hub.
   * @default 'volley:'
   */
  readonly prefix?: string;
  /**
   * Use sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+): on a Redis Cluster each message then travels only
   * within its shard instead of to every node of the cluster, and a lost shard connection is reported through
   * `onDisconnect` / `onResubscribe` (without it, ioredis replaces a lost cluster Pub/Sub connection silently).
   * Every engine sharing the channels must agree (the {@link RedisEngine} passes its own setting to all).
   * @default true on a Redis Cluster (`redis+cluster://` or `cluster: true`), else false
   */
  readonly sharded?: boolean;
  /**
   * Channels per `SUBSCRIBE` / `UNSUBSCRIBE` command (batching, and resubscription after a reconnect). With
   * sharded Pub/Sub a command also holds channels of one cluster slot only.
   * @default 512
   */
  readonly subscribeBatchSize?: number;
  /**
   * Called after the Pub/Sub connection was lost and came back, once every channel is subscribed again, with the
   * channels this node is subscribed to. Anything published to them during the outage never reached this node:
   * the hub should compare each subscriber's position with the history (replay or report a gap) and tell
   * subscribers of channels without history that messages may have been lost.
   * @default none
   */
  readonly onResubscribe?: (channels: readonly string[], outage: PubSubOutage) => void;
  /**
   * Called once when the Pub/Sub connection is lost (deliveries stop until `onResubscribe`), e.g. to report the
   * node as degraded.
   * @default none
   */
  readonly onDisconnect?: () => void;
  /**
   * Receives an error thrown by the handler, a malformed message, or a failed resubscription (which is retried
   * at the next reconnect). The publisher is not told.
   * @default emits a process warning
   */
  readonly onError?: (error: unknown, channel: string) => void;
  /**
   * Publications for which this returns true are not sent by `publish` (which resolves at once): the
   * {@link RedisEngine} passes its history store's `publishedByHistory`, since the append script published them.
   * @default none
   */
  readonly alreadyPublished?: (publication: Publication) => boolean;
}

const State = { AWAITING_HANDLER: 'awaiting-handler', READY: 'ready', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/** A queued subscribe or unsubscribe. */
interface Op {
  readonly kind: 'subscribe' | 'unsubscribe';
  readonly channel: string;
  /** The channel's Redis name (`KeySpace.tag`), worked out once when the op is queued. */
  readonly name: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

type Envelope =
  | { readonly t: 'p'; readonly e: string; readonly p: Publication }
  | { readonly t: 'j' | 'l'; readonly i: ClientInfo };

/** The Redis Pub/Sub broker. See the module description. */
export class RedisBroker implements Broker {
  #state: State = State.AWAITING_HANDLER;
  #handler: BrokerHandler | undefined;
  readonly #clients: RedisClients;
  readonly #ownsClients: boolean;
  readonly #command: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #keys: KeySpace;
  readonly #sharded: boolean;
  /** Sharded Pub/Sub on a Redis Cluster: one ioredis connection per master, which ioredis replaces itself. */
  readonly #shardedCluster: boolean;
  readonly #batchSize: number;
  readonly #onResubscribe: ((channels: readonly string[], outage: PubSubOutage) => void) | undefined;
  readonly #onDisconnect: (() => void) | undefined;
  readonly #onError: (error: unknown, channel: string) => void;
  readonly #alreadyPublished: ((publication: Publication) => boolean) | undefined;
  /** Pub/Sub channel name → hub channel, for every channel this node wants. */
  readonly #routes = new Map<string, string>();
  /** Subscribes not yet confirmed, by hub channel, so a repeated subscribe waits for the same one. */
  readonly #pending = new Map<string, Promise<void>>();
  #ops: Op[] = [];
  #flushScheduled = false;
  /** Set while the Pub/Sub connection is lost (from the drop until every channel is subscribed again). */
  #downSince: number | undefined;
  /** Whether the Pub/Sub connection was ever ready (a failed first connection is not an outage). */
  #wasReady = false;
  /** Pub/Sub connections lost so far (one outage may count several: retries, or several cluster shards). */
  #losses = 0;
  readonly #listeners: Array<[event: string, listener: (...args: unknown[]) => void]> = [];

  /** @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad option. */
  constructor(options: RedisBrokerOptions = {}) {
    if (typeof options !== 'object' || options === null) invalidArgument('options must be an object');
    const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
    this.#keys = new KeySpace(prefix);
    this.#batchSize =
      options.subscribeBatchSize === undefined ? DEFAULT_SUBSCRIBE_BATCH_SIZE : checkInteger('subscribeBatchSize', options.subscribeBatchSize, 1, 100_000);
    for (const name of ['onResubscribe', 'onDisconnect', 'onError', 'alreadyPublished'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') invalidArgument(`${name} must be a function`);
    }
    this.#onResubscribe = options.onResubscribe;
    this.#onDisconnect = options.onDisconnect;
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
    this.#alreadyPublished = options.alreadyPublished;
    if (options.clients !== undefined) {
      if (options.url !== undefined) invalidArgument('give clients or url, not both');
      this.#clients = options.clients;
      this.#ownsClients = false;
    } else {
      this.#clients = createRedisClients(options.url, { prefix, ...options.connection });
      this.#ownsClients = true;
    }
    this.#sharded = shardedOption(options.sharded, this.#clients.mode);
    this.#command = this.#clients.command;
    this.#subscriber = this.#clients.subscriber(this.#sharded);
    const redis = this.#subscriber.redis;
    this.#shardedCluster = this.#sharded && this.#clients.mode === 'cluster';
    this.#listen(redis, this.#sharded ? 'smessage' : 'message', (name: string, message: string) => this.#receive(name, message));
    this.#listen(redis, 'close', () => this.#lost());
    this.#listen(redis, 'ready', () => {
      this.#wasReady = true;
      this.#reconnected();
    });
    if (this.#shardedCluster) {
      // ioredis keeps one Pub/Sub connection per cluster master, outside the cluster's own close/ready events.
      // When one ends it emits '-node' with the node's key (the connection pool's '-node' has none), then
      // '-subscriber' as it drops it; once the replacements are connected and it has written their SSUBSCRIBEs
      // again, 'subscribersReady' (after a full reconnection that may come before or after 'ready': both count).
      this.#listen(redis, '-node', (_node: unknown, nodeKey?: string) => {
        if (nodeKey !== undefined) this.#lost();
      });
      this.#listen(redis, '-subscriber', () => this.#lost());
      this.#listen(redis, 'subscribersReady', () => {
        if (this.#subscriber.ready) this.#reconnected();
      });
    }
  }

  /** Channels this node wants (subscribed, or being subscribed). */
  get channels(): string[] {
    return [...this.#routes.values()];
  }

  /** Whether the Pub/Sub connection is up with every channel subscribed (false during an outage). */
  get connected(): boolean {
    return this.#subscriber.ready && this.#downSince === undefined;
  }

  /**
   * Installs the receiver of deliveries.
   *
   * @throws EngineError `VOLLEY_ERR_INVALID_STATE` when a handler is already installed or the broker is closed.
   */
  setHandler(handler: BrokerHandler): void {
    if (this.#state !== State.AWAITING_HANDLER) {
      throw new EngineError(EngineErrorCode.INVALID_STATE, this.#state === State.CLOSED ? 'RedisBroker is closed' : 'setHandler was already called');
    }
    checkBrokerHandler(handler);
    this.#handler = handler;
    this.#state = State.READY;
  }

  /**
   * @throws EngineError `VOLLEY_ERR_NOT_JSON` when the publication is not JSON.
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` when Redis is unreachable (within `offlineTimeoutMs`).
   */
  async publish(channel: string, publication: Publication, epoch: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    checkString('epoch', epoch);
    if (this.#alreadyPublished?.(publication) === true) return;
    await this.#send(channel, encodePublicationMessage(publication, epoch));
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    await this.#send(channel, encodeJson({ t: 'j', i: plainInfo(info) }, 'info'));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    await this.#send(channel, encodeJson({ t: 'l', i: plainInfo(info) }, 'info'));
  }

  /**
   * Starts receiving `channel`; resolves once Redis confirmed the subscription. Idempotent.
   *
   * @throws EngineError `VOLLEY_ERR_INVALID_STATE` before `setHandler` or after `close`.
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` when Redis is unreachable; the channel is then not kept.
   */
  async subscribe(channel: string): Promise<void> {
    this.#assertOpen();
    if (this.#state !== State.READY) throw new EngineError(EngineErrorCode.INVALID_STATE, 'setHandler must be called before subscribe');
    checkString('channel', channel);
    const name = this.#keys.tag(channel);
    const pending = this.#pending.get(channel);
    if (pending !== undefined) return pending;
    if (this.#routes.has(name)) return;
    this.#routes.set(name, channel);
    const promise = new Promise<void>((resolve, reject) => this.#enqueue({ kind: 'subscribe', channel, name, resolve, reject }));
    this.#pending.set(channel, promise);
    try {
      await promise;
    } catch (error) {
      if (this.#pending.get(channel) === promise) this.#routes.delete(name);
      throw error;
    } finally {
      if (this.#pending.get(channel) === promise) this.#pending.delete(channel);
    }
  }

  /**
   * Stops receiving `channel` at once (later messages are dropped here) and tells Redis. Idempotent; never rejects
   * because Redis is unreachable (a lost connection holds no subscription).
   */
  async unsubscribe(channel: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    const name = this.#keys.tag(channel);
    if (!this.#routes.delete(name)) return;
    this.#pending.delete(channel);
    await new Promise<void>((resolve, reject) => this.#enqueue({ kind: 'unsubscribe', channel, name, resolve, reject }));
  }

  /**
   * Stops every delivery and closes the broker's own connections (with shared `clients`, unsubscribes instead).
   * Idempotent; every later call rejects `VOLLEY_ERR_INVALID_STATE`.
   */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    this.#handler = undefined;
    const names = [...this.#routes.keys()];
    this.#routes.clear();
    this.#pending.clear();
    for (const [event, listener] of this.#listeners) this.#subscriber.redis.off(event, listener);
    if (this.#ownsClients) {
      await this.#clients.close();
    } else if (names.length > 0 && this.#subscriber.ready) {
      await Promise.all(this.#batches(names, (name) => name).map((batch) => this.#subscribeCommand('unsubscribe', batch).catch(() => undefined)));
    }
  }

  #assertOpen(): void {
    if (this.#state === State.CLOSED) closedError('RedisBroker');
  }

  #listen(redis: RedisClient['redis'], event: string, listener: (...args: never[]) => void): void {
    const erased = listener as (...args: unknown[]) => void;
    redis.on(event, erased);
    this.#listeners.push([event, erased]);
  }

  async #send(channel: string, payload: string): Promise<void> {
    await this.#command.call(`publish to ${channel}`, this.#sharded ? 'SPUBLISH' : 'PUBLISH', [this.#keys.tag(channel), payload]);
  }

  #enqueue(op: Op): void {
    this.#ops.push(op);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => void this.#flush());
  }

  /** Sends the queued subscribes and unsubscribes: consecutive ones of a kind as one command, in call order. */
  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    let ops = this.#ops;
    this.#ops = [];
    if (!this.#subscriber.ready) {
      // Nothing to unsubscribe while disconnected: the server dropped the dead connection's subscriptions, and
      // only channels still wanted are subscribed again.
      for (const op of ops) if (op.kind === 'unsubscribe') op.resolve();
      ops = ops.filter((op) => op.kind === 'subscribe');
      if (ops.length === 0) return;
      try {
        await this.#subscriber.whenReady('subscribe');
      } catch (error) {
        for (const op of ops) op.reject(error);
        return;
      }
    }
    const runs: Array<{ kind: Op['kind']; ops: Op[] }> = [];
    for (const op of ops) {
      // A subscribe undone (or redone) by a later call in the same batch needs no command of its own.
      if (op.kind === 'subscribe' && this.#pending.get(op.channel) === undefined) {
        op.resolve();
        continue;
      }
      const last = runs[runs.length - 1];
      if (last !== undefined && last.kind === op.kind) last.ops.push(op);
      else runs.push({ kind: op.kind, ops: [op] });
    }
    // Written back to back, so Redis applies them in call order: on the one connection, or, with sharded Pub/Sub
    // on a cluster, on the connection of each channel's shard, where that channel's commands keep their order.
    const sent = runs.flatMap((run) =>
      this.#batches(run.ops, (op) => op.name).map((batch) => ({
        batch,
        reply: this.#subscribeCommand(run.kind, batch.map((op) => op.name)),
      })),
    );
    for (const { batch, reply } of sent) {
      try {
        await reply;
        for (const op of batch) op.resolve();
      } catch (error) {
        // An unsubscribe that failed leaves at worst a subscription whose messages are dropped here.
        for (const op of batch) (op.kind === 'subscribe' ? op.reject : op.resolve)(error);
      }
    }
  }

  /**
   * Splits `items` into the batches of one (UN)SUBSCRIBE command each, keeping their order within a batch: at
   * most `subscribeBatchSize` items and, with sharded Pub/Sub, items of one hash slot only (Redis refuses a
   * sharded command across slots with CROSSSLOT, and ioredis would not know which shard to send it to).
   */
  #batches<T>(items: readonly T[], name: (item: T) => string): T[][] {
    const batches: T[][] = [];
    const open = new Map<number, T[]>();
    for (const item of items) {
      const key = this.#sharded ? hashSlot(name(item)) : 0;
      let batch = open.get(key);
      if (batch === undefined || batch.length >= this.#batchSize) {
        batch = [];
        batches.push(batch);
        open.set(key, batch);
      }
      batch.push(item);
    }
    return batches;
  }

  async #subscribeCommand(kind: Op['kind'], names: readonly string[]): Promise<void> {
    const redis = this.#subscriber.redis;
    try {
      if (kind === 'subscribe') await (this.#sharded ? redis.ssubscribe(...names) : redis.subscribe(...names));
      else await (this.#sharded ? redis.sunsubscribe(...names) : redis.unsubscribe(...names));
    } catch (error) {
      throw toEngineError(error, `${kind} of ${names.length} channel(s)`);
    }
  }

  /** The Pub/Sub connection closed (a drop, or a failed reconnection attempt). */
  #lost(): void {
    if (this.#state === State.CLOSED || !this.#wasReady) return;
    this.#losses += 1;
    if (this.#downSince !== undefined) return;
    this.#downSince = Date.now();
    this.#safely(() => this.#onDisconnect?.(), '');
  }

  /** The Pub/Sub connection is ready: after an outage, subscribe again to everything, then report. */
  #reconnected(): void {
    if (this.#state === State.CLOSED || this.#downSince === undefined) return;
    const since = this.#downSince;
    const losses = this.#losses;
    const names = [...this.#routes.keys()];
    const channels = [...this.#routes.values()];
    const batches = this.#batches(names, (name) => name).map((batch) => this.#resubscribe(batch));
    void Promise.all(batches).then(
      () => {
        // A connection lost while these were out may have taken a confirmed subscription with it (on a cluster,
        // each shard has its own): the outage goes on until the next 'ready' resubscribes without a loss.
        if (this.#state === State.CLOSED || this.#downSince !== since || this.#losses !== losses) return;
        this.#downSince = undefined;
        this.#safely(() => this.#onResubscribe?.(channels, { since, durationMs: Date.now() - since }), '');
      },
      // The connection dropped again: the next 'ready' retries, and the outage continues.
      (error: unknown) => this.#safely(() => this.#onError(error, ''), ''),
    );
  }

  /**
   * Subscribes again to `names` (one batch) after an outage; resolves once Redis has them.
   *
   * With sharded Pub/Sub on a cluster, ioredis has already written the SSUBSCRIBEs again on each new shard
   * connection, from a list per slot to which every SSUBSCRIBE sent through it appends (never deduplicated): one
   * more from here would grow that list, and the command ioredis resends, at every outage. Instead an
   * SUNSUBSCRIBE of a name in the batch's slot that is never subscribed goes to the same shard connection behind
   * ioredis's SSUBSCRIBE: its reply proves Redis processed that, and says how many shard channels the connection
   * holds. None means ioredis did not resubscribe; then the broker does.
   */
  async #resubscribe(names: readonly string[]): Promise<void> {
    if (!this.#shardedCluster) return this.#subscribeCommand('subscribe', names);
    const redis = this.#subscriber.redis;
    let remaining: unknown;
    try {
      remaining = await redis.sunsubscribe(`${names[0]!}:barrier`);
    } catch (error) {
      throw toEngineError(error, `resubscribe of ${names.length} channel(s)`);
    }
    if (Number(remaining) === 0) await this.#subscribeCommand('subscribe', names);
  }

  /** A message from Redis: decoded and handed to the handler if this node still wants the channel. */
  #receive(name: string, message: string): void {
    const channel = this.#routes.get(name);
    const handler = this.#handler;
    if (channel === undefined || handler === undefined) return;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(message) as Envelope;
    } catch {
      this.#safely(() => this.#onError(new Error(`malformed message on ${channel}: not JSON`), channel), channel);
      return;
    }
    try {
      if (envelope?.t === 'p' && typeof envelope.e === 'string' && isPublication(envelope.p)) handler.publication(channel, envelope.p, envelope.e);
      else if (envelope?.t === 'j' && isClientInfo(envelope.i)) handler.join(channel, envelope.i);
      else if (envelope?.t === 'l' && isClientInfo(envelope.i)) handler.leave(channel, envelope.i);
      else this.#onError(new Error(`malformed message on ${channel}: unknown shape`), channel);
    } catch (error) {
      this.#safely(() => this.#onError(error, channel), channel);
    }
  }

  #safely(call: () => void, channel: string): void {
    try {
      call();
    } catch (error) {
      try {
        this.#onError(error, channel);
      } catch {
        // Nothing a hook throws may reach the process.
      }
    }
  }
}

/**
 * The Pub/Sub message that carries a publication: only the fields of the wire format. Shared with the
 * idempotency store's publish-once script, so every publication reaches the brokers in one format.
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for an `info` that is not an object, `VOLLEY_ERR_NOT_JSON` when
 * the publication is not JSON.
 */
export function encodePublicationMessage(publication: Publication, epoch: string): string {
  const { offset, data, info, time } = publication;
  const p: Publication = info === undefined ? { offset, data, time } : { offset, data, info: plainInfo(info), time };
  return encodeJson({ t: 'p', e: epoch, p }, 'publication');
}

/** The info without an absent `data` (an own `data: undefined` would not be JSON). */
function plainInfo(info: ClientInfo): ClientInfo {
  if (typeof info !== 'object' || info === null) invalidArgument('info must be an object');
  return info.data === undefined ? { clientId: info.clientId, userId: info.userId } : { clientId: info.clientId, userId: info.userId, data: info.data };
}

function isPublication(value: unknown): value is Publication {
  const p = value as Publication | null;
  return typeof p === 'object' && p !== null && typeof p.offset === 'number' && typeof p.time === 'number' && (p.info === undefined || isClientInfo(p.info));
}

function isClientInfo(value: unknown): value is ClientInfo {
  const i = value as ClientInfo | null;
  return typeof i === 'object' && i !== null && typeof i.clientId === 'string' && typeof i.userId === 'string';
}
