/**
 * Connections to Redis: {@link createRedisClients} turns a URL (standalone, TLS, Cluster or Sentinel) into
 * {@link RedisClient}s configured so that nothing waits without bound and nothing runs twice:
 *
 * - No offline queue and no resending after a reconnect: a command issued while Redis is unreachable waits for the
 *   connection at most `offlineTimeoutMs`, then rejects `VOLLEY_ERR_ENGINE_UNAVAILABLE`; a command that rejected
 *   is never sent later behind the caller's back (a publish reported as failed must not appear afterwards).
 * - A command in flight when the connection drops rejects at once; one without a reply rejects after
 *   `commandTimeoutMs`.
 * - Reconnection never gives up (exponential backoff with jitter, capped at `reconnectDelayMaxMs`).
 * - Every client has an `error` listener: connection errors are reported through `onError` (once per outage by
 *   default), never thrown at the process.
 *
 * @example
 * ```ts
 * const clients = createRedisClients('redis://127.0.0.1:6379', { prefix: 'volley:' });
 * const history = new RedisHistoryStore({ client: clients.command });
 * const broker = new RedisBroker({ clients });
 * // …
 * await history.close(); await broker.close(); await clients.close();
 * ```
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { EngineError, EngineErrorCode, checkDuration, invalidArgument } from '../errors.js';
import { RedisEngineError, RedisErrorCode, toEngineError } from './errors.js';
import { DEFAULT_PREFIX, checkPrefix } from './keys.js';
import { type RedisMode, type RedisUrl, parseRedisUrl } from './url.js';

/** The URL used when none is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Options of {@link createRedisClients}. */
export interface RedisConnectionOptions {
  /**
   * Treat a `redis://` / `rediss://` URL listing `host:port,host:port` as Redis Cluster seed nodes.
   * @default false (use `redis+cluster://` URLs to say the same)
   */
  readonly cluster?: boolean;
  /**
   * The engines' key prefix; here it only names the connections (`CLIENT SETNAME volley-cmd-<prefix>` and
   * `volley-sub-<prefix>`), so an operator can find them in `CLIENT LIST`.
   * @default 'volley:'
   */
  readonly prefix?: string;
  /**
   * How long a command waits for a connection that is not ready (still connecting, or reconnecting after a drop)
   * before it rejects `VOLLEY_ERR_ENGINE_UNAVAILABLE`. Short blips are ridden out; a dead Redis fails fast.
   * @default 2_000
   */
  readonly offlineTimeoutMs?: number;
  /**
   * How long a sent command waits for its reply before it rejects `VOLLEY_ERR_ENGINE_UNAVAILABLE` (its outcome is
   * then unknown).
   * @default 5_000
   */
  readonly commandTimeoutMs?: number;
  /**
   * How long one connection attempt may take.
   * @default 5_000
   */
  readonly connectTimeoutMs?: number;
  /**
   * Longest pause between reconnection attempts (the pause doubles from 50 ms up to this, plus up to 25 % jitter).
   * @default 2_000
   */
  readonly reconnectDelayMaxMs?: number;
  /**
   * Receives connection errors (refused, reset, authentication…), once per outage: the first error after the
   * connection was ready or created. Commands still reject on their own.
   * @default emits a process warning
   */
  readonly onError?: (error: Error, connection: string) => void;
  /** Sentinel only: credentials of the Sentinels themselves (the URL's are the master's). */
  readonly sentinelUsername?: string;
  /** Sentinel only: password of the Sentinels. */
  readonly sentinelPassword?: string;
  /**
   * Extra ioredis options, applied last (TLS certificates, `family: 6`…). Overriding the queueing options above
   * voids the guarantees in the module description.
   */
  readonly ioredis?: Partial<RedisOptions>;
}

/** Settings of a {@link RedisClient}. */
interface ClientSettings {
  readonly mode: RedisMode;
  readonly name: string;
  readonly offlineTimeoutMs: number;
  readonly onError: (error: Error, connection: string) => void;
  /** Cluster command connection: connect to every master before counting as ready (see {@link RedisClient}). */
  readonly warmUp?: boolean;
}

/** A command argument. */
export type RedisArg = string | number | Buffer;

/** A Lua script with its SHA-1, run by {@link RedisClient.evalScript}. */
export class LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;

  constructor(name: string, source: string) {
    this.name = name;
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const State = { OPEN: 'open', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/**
 * One ioredis connection (or cluster) with bounded waits: {@link call} and {@link evalScript} wait for the
 * connection at most `offlineTimeoutMs` and turn every failure into a {@link RedisEngineError}.
 *
 * A cluster's command connection counts as ready only once its connection to every master is: ioredis connects
 * to a node on the first command for it, and while that connection is being made (with the offline queue off)
 * it retries the commands that follow 100 ms later through a random node, whose MOVED sends them on behind later
 * ones — the publishes of a burst then arrived out of order.
 */
export class RedisClient {
  /** The ioredis client; the broker listens to its Pub/Sub events. */
  readonly redis: Redis | Cluster;
  readonly mode: RedisMode;
  /** The connection name (`CLIENT SETNAME`). */
  readonly name: string;
  #state: State = State.OPEN;
  /** Cluster warm-ups started (one per 'ready'); the connection counts as ready once the latest one ended. */
  #warmUps = 0;
  #warmedUp = 0;
  #lastError: Error | undefined;
  #reported = false;
  readonly #waiters = new Set<Waiter>();
  readonly #settings: ClientSettings;

  /** @internal Use {@link createRedisClients}. */
  constructor(redis: Redis | Cluster, settings: ClientSettings) {
    this.redis = redis;
    this.mode = settings.mode;
    this.name = settings.name;
    this.#settings = settings;
    redis.on('error', (error: Error) => this.#failed(error));
    redis.on('ready', () => {
      if (settings.warmUp !== true) return this.#nowReady();
      const epoch = ++this.#warmUps;
      void this.#warmUp().then(() => {
        if (epoch === this.#warmUps && this.redis.status === 'ready') this.#nowReady();
      });
    });
  }

  /** Whether commands can be sent now. */
  get ready(): boolean {
    return this.#state === State.OPEN && this.#connected();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#state === State.CLOSED;
  }

  /**
   * Resolves when the connection is ready: at once, or after it (re)connects within `offlineTimeoutMs`.
   *
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` naming the last connection error when it does not.
   */
  whenReady(what: string): Promise<void> {
    if (this.#state === State.CLOSED) return Promise.reject(new EngineError(EngineErrorCode.INVALID_STATE, 'the Redis connection is closed'));
    if (this.#connected()) return Promise.resolve();
    if (this.redis.status === 'end') return Promise.reject(this.#unavailable(what));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(this.#unavailable(what));
        }, this.#settings.offlineTimeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Sends one command once the connection is ready.
   *
   * @param what What the caller is doing, for error messages (`'append to chat:1'`).
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` or `VOLLEY_ERR_ENGINE_FAILED`.
   */
  async call(what: string, command: string, args: readonly RedisArg[]): Promise<unknown> {
    await this.whenReady(what);
    try {
      return await this.redis.call(command, ...args);
    } catch (error) {
      throw toEngineError(error, what);
    }
  }

  /**
   * Runs a Lua script: `EVALSHA`, and `EVAL` (which also caches it) when Redis answers `NOSCRIPT`.
   *
   * @throws RedisEngineError `VOLLEY_ERR_ENGINE_UNAVAILABLE` or `VOLLEY_ERR_ENGINE_FAILED`.
   */
  async evalScript(what: string, script: LuaScript, keys: readonly string[], args: readonly RedisArg[]): Promise<unknown> {
    await this.whenReady(what);
    try {
      return await this.redis.call('EVALSHA', script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw toEngineError(error, what);
    }
    try {
      return await this.redis.call('EVAL', script.source, keys.length, ...keys, ...args);
    } catch (error) {
      throw toEngineError(error, what);
    }
  }

  /**
   * Closes the connection: `QUIT` when connected (bounded by `offlineTimeoutMs`), then disconnects. Waiting
   * commands reject. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new EngineError(EngineErrorCode.INVALID_STATE, 'the Redis connection is closed'));
    }
    this.#waiters.clear();
    if (this.redis.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.redis.quit().catch(() => undefined),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#settings.offlineTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
    this.redis.disconnect();
  }

  /** Connected, and (cluster command connection) warmed up since the last 'ready'. */
  #connected(): boolean {
    return this.redis.status === 'ready' && this.#warmedUp === this.#warmUps;
  }

  /** Connects to every master of the cluster (a PING each, failures ignored: commands then meet them). */
  async #warmUp(): Promise<void> {
    const nodes = (this.redis as Cluster).nodes('master');
    await Promise.all(nodes.map((node) => (node.status === 'ready' ? undefined : node.ping().catch(() => undefined))));
  }

  #nowReady(): void {
    this.#warmedUp = this.#warmUps;
    this.#lastError = undefined;
    this.#reported = false;
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.#waiters.clear();
  }

  #failed(error: Error): void {
    this.#lastError = error;
    if (this.#state === State.CLOSED || this.#reported) return;
    this.#reported = true;
    try {
      this.#settings.onError(error, this.name);
    } catch {
      // A failing error listener must not turn a connection error into a crash.
    }
  }

  #unavailable(what: string): RedisEngineError {
    const last = this.#lastError === undefined ? 'not connected' : describeError(this.#lastError);
    return new RedisEngineError(
      RedisErrorCode.UNAVAILABLE,
      `Redis unavailable: ${what} failed, no connection within ${this.#settings.offlineTimeoutMs} ms (${last})`,
      this.#lastError,
    );
  }
}

/** What {@link createRedisClients} returns. */
export interface RedisClients {
  readonly mode: RedisMode;
  /** The connection for commands (history, presence, publishing); engines may share it. */
  readonly command: RedisClient;
  /**
   * The dedicated Pub/Sub connection of one broker, created on first access. Sharded (`SSUBSCRIBE`) when asked
   * for on a cluster.
   */
  subscriber(sharded?: boolean): RedisClient;
  /** Closes both connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to Redis (the command connection at once, the Pub/Sub one on first use).
 *
 * @param url `redis://`, `rediss://`, `redis+cluster://`, `redis+sentinel://` (see {@link parseRedisUrl}).
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad URL or option.
 */
export function createRedisClients(url: string = DEFAULT_REDIS_URL, options: RedisConnectionOptions = {}): RedisClients {
  if (typeof options !== 'object' || options === null) invalidArgument('options must be an object');
  const parsed = parseRedisUrl(url, options.cluster === true);
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const settings = {
    offlineTimeoutMs: options.offlineTimeoutMs === undefined ? 2_000 : checkDuration('offlineTimeoutMs', options.offlineTimeoutMs),
    commandTimeoutMs: options.commandTimeoutMs === undefined ? 5_000 : checkDuration('commandTimeoutMs', options.commandTimeoutMs),
    connectTimeoutMs: options.connectTimeoutMs === undefined ? 5_000 : checkDuration('connectTimeoutMs', options.connectTimeoutMs),
    reconnectDelayMaxMs: options.reconnectDelayMaxMs === undefined ? 2_000 : checkDuration('reconnectDelayMaxMs', options.reconnectDelayMaxMs),
    onError:
      options.onError ??
      ((error: Error, connection: string) => process.emitWarning(`Redis connection ${connection}: ${describeError(error)}`, 'VolleyRedisWarning')),
  };
  if (typeof settings.onError !== 'function') invalidArgument('onError must be a function');
  const safe = prefix.replace(/[^!-~]/g, '_');
  const connect = (role: 'cmd' | 'sub', sharded: boolean): RedisClient => {
    const name = `volley-${role}-${safe}`;
    const redis = openRedis(parsed, options, settings, name, role === 'sub', sharded);
    return new RedisClient(redis, {
      mode: parsed.mode,
      name,
      offlineTimeoutMs: settings.offlineTimeoutMs,
      onError: settings.onError,
      warmUp: parsed.mode === 'cluster' && role === 'cmd',
    });
  };
  const command = connect('cmd', false);
  let subscriber: RedisClient | undefined;
  return {
    mode: parsed.mode,
    command,
    subscriber(sharded = false) {
      if (command.closed) throw new EngineError(EngineErrorCode.INVALID_STATE, 'the Redis clients are closed');
      subscriber ??= connect('sub', sharded);
      return subscriber;
    },
    async close() {
      await Promise.all([command.close(), subscriber?.close()]);
    },
  };
}

/** Pause before reconnection attempt `times` (1, 2, …): 50 ms doubling up to `max`, plus up to 25 % jitter. */
function backoff(times: number, max: number): number {
  const base = Math.min(max, 50 * 2 ** Math.min(times - 1, 16));
  return Math.round(base * (1 + Math.random() * 0.25));
}

function openRedis(
  url: RedisUrl,
  options: RedisConnectionOptions,
  settings: { commandTimeoutMs: number; connectTimeoutMs: number; reconnectDelayMaxMs: number },
  name: string,
  subscriber: boolean,
  sharded: boolean,
): Redis | Cluster {
  const retry = (times: number) => backoff(times, settings.reconnectDelayMaxMs);
  const common: RedisOptions = {
    connectionName: name,
    username: url.username,
    password: url.password,
    // RESP2: replies (and Lua results) keep one shape, and a Pub/Sub connection counts as type pubsub, so the
    // server's pubsub output-buffer limit protects it and CLIENT KILL TYPE pubsub finds it.
    protocol: 2,
    disableClientInfo: true,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The broker resubscribes itself (in batches, then reports the outage); ioredis does it for cluster shards.
    autoResubscribe: subscriber && url.mode === 'cluster',
    enableReadyCheck: true,
    ...(url.tls ? { tls: { servername: url.nodes[0]!.host } } : {}),
  };
  if (url.mode === 'cluster') {
    const { enableOfflineQueue: _q, retryStrategy: _r, ...redisOptions } = { ...common, ...options.ioredis };
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      clusterRetryStrategy: retry,
      shardedSubscribers: subscriber && sharded,
      redisOptions: url.tls ? { ...redisOptions, tls: {} } : redisOptions,
    };
    return new Cluster(url.nodes.map((n) => ({ host: n.host, port: n.port })), clusterOptions);
  }
  const redisOptions: RedisOptions = {
    ...common,
    db: url.db,
    enableOfflineQueue: false,
    retryStrategy: retry,
    ...(url.mode === 'sentinel'
      ? {
          sentinels: url.nodes.map((n) => ({ host: n.host, port: n.port })),
          name: url.masterName!,
          sentinelRetryStrategy: retry,
          // Reconnect as soon as a Sentinel announces +switch-master. Without it the connections stay on the old
          // master until it is demoted (a healthy one only at the Sentinel's next INFO poll, up to 10 s later),
          // and whatever is written there meanwhile is acknowledged, then lost when it resyncs from the new master.
          failoverDetector: true,
          ...(options.sentinelUsername !== undefined ? { sentinelUsername: options.sentinelUsername } : {}),
          ...(options.sentinelPassword !== undefined ? { sentinelPassword: options.sentinelPassword } : {}),
          ...(url.tls ? { enableTLSForSentinelMode: true } : {}),
        }
      : { host: url.nodes[0]!.host, port: url.nodes[0]!.port }),
    ...options.ioredis,
  };
  return new Redis(redisOptions);
}

/** An error's message with its code (`connect ECONNREFUSED 127.0.0.1:1`), never a password. */
function describeError(error: Error): string {
  return error.message || error.name || 'unknown error';
}

/**
 * The `sharded` option of the engines: checked, and by default on exactly on a Redis Cluster. Every engine that
 * shares channels with another must agree on it, so they all resolve it here.
 * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` when it is given and not a boolean.
 */
export function shardedOption(sharded: boolean | undefined, mode: RedisMode): boolean {
  if (sharded !== undefined && typeof sharded !== 'boolean') invalidArgument('sharded must be a boolean');
  return sharded ?? mode === 'cluster';
}
