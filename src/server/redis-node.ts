/**
 * A node of a multi-node hub: {@link createRedisNode} builds, from the `redis` settings, the Redis engines
 * (history, broker, presence, shared rate limits and idempotency keys on shared connections), the session relay
 * of the HTTP fallbacks, and what operators see of them:
 *
 * - outages and recoveries in the log (warn when a connection drops, info when it is back, with how long it
 *   was down), and `volley_redis_up` / `volley_redis_outages_total` in the metrics;
 * - `/healthz` answering 503 `{"status":"degraded"}` while Redis is unreachable (see {@link RedisNode.health});
 * - after the broker lost its Pub/Sub connection and subscribed again, `hub.resync(channels)`: what was
 *   published meanwhile is replayed from history, or reported as a gap;
 * - `volley_rate_limit_sync_failures_total`: debits of the shared rate limits that Redis did not take (the hub
 *   then fails open, each node limiting on its own, and logs the outage once).
 *
 * Engine failures (`VOLLEY_ERR_ENGINE_UNAVAILABLE`, `VOLLEY_ERR_ENGINE_FAILED`) become the hub's `unavailable`
 * error in the hub itself (hub/engine-errors.ts).
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createRedisClients, type RedisClients } from '../engines/redis/connection.js';
import type { PubSubOutage, RedisBrokerOptions } from '../engines/redis/redis-broker.js';
import { RedisEngine } from '../engines/redis/redis-engine.js';
import type { Broker, BrokerHandler, ClientInfo, HistoryStore, PresenceStore, Publication } from '../hub/engine.js';
import type { Hub, HubLogger } from '../hub/hub.js';
import type { IdempotencyStore, SharedRateLimitStore } from '../hub/shared-limits.js';
import { sendJson } from '../http/respond.js';
import { type RedisConfig, redactRedisUrl } from './config.js';
import { RedisSessionRelay } from './session-relay.js';

/** What {@link RedisNode.health} reports. */
export interface RedisHealth {
  /** Every connection is up. */
  readonly ok: boolean;
  /** The command connection (history, presence, publishes). */
  readonly command: 'up' | 'down';
  /** The broker's Pub/Sub connection (deliveries from other nodes). */
  readonly pubsub: 'up' | 'down';
  /** The relay's Pub/Sub connection (HTTP fallback requests from other nodes). */
  readonly relay: 'up' | 'down';
}

/** The Redis side of a node. */
export interface RedisNode {
  /** The engines for the hub (which answers their failures as `unavailable`). */
  readonly broker: Broker;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  /** The hub's `sharedRateLimits`: failed debits are counted in the metrics. */
  readonly rateLimits: SharedRateLimitStore;
  /** The hub's `idempotency` for channels without history. */
  readonly idempotency: IdempotencyStore;
  readonly relay: RedisSessionRelay;
  readonly engine: RedisEngine;
  /** The hub to resync after a Pub/Sub outage (set once the hub exists). */
  attachHub(hub: Hub): void;
  /** Whether Redis is usable now. */
  health(): RedisHealth;
  /** Waits (briefly) for Redis, checks the node id, starts the relay. @throws when the node id is taken. */
  start(): Promise<void>;
  /** Closes the relay, the engines and every connection. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link createRedisNode}. */
export interface RedisNodeOptions {
  readonly nodeId: string;
  readonly logger: HubLogger;
  /** Where the Redis metrics go. */
  readonly registry: Registry;
}

/**
 * Builds the Redis side of a node. Nothing connects synchronously: ioredis connects in the background and
 * reconnects forever.
 */
export function createRedisNode(config: RedisConfig, options: RedisNodeOptions): RedisNode {
  const { logger, nodeId } = options;
  const where = redactRedisUrl(config.url);
  let hub: Hub | undefined;

  const outages = new Counter({
    name: 'volley_redis_outages_total',
    help: 'Redis connections lost (each outage counted once), by connection: command, pubsub, relay.',
    labelNames: ['connection'],
    registers: [options.registry],
  });
  const syncFailures = new Counter({
    name: 'volley_rate_limit_sync_failures_total',
    help: 'Debits of the shared rate limits that Redis did not take; meanwhile each node limits on its own (fail open).',
    registers: [options.registry],
  });
  const relayed = new Counter({
    name: 'volley_relayed_requests_total',
    help: 'HTTP fallback requests relayed to the node holding the session (out) or served for another node (in), by operation and answer status.',
    labelNames: ['direction', 'op', 'status'],
    registers: [options.registry],
  });

  const connection = {
    offlineTimeoutMs: config.offlineTimeoutMs,
    // Reported below through the connection events, once per outage.
    onError: (error: Error, name: string) => logger.warn({ cause: error.message, connection: name, redis: where }, 'Redis connection error: retrying'),
  };
  let closing = false;
  const engine = new RedisEngine({
    url: config.url,
    prefix: config.prefix,
    sharded: config.sharded,
    connection,
    broker: {
      ...resyncCallbacks({
        broker: () => broker,
        hub: () => hub,
        closing: () => closing,
        lost: () => {
          outages.inc({ connection: 'pubsub' });
          logger.warn({ redis: where }, 'Redis Pub/Sub connection lost: publications of other nodes wait until it is back');
        },
        back: (channels, outage) =>
          logger.warn({ channels: channels.length, durationMs: outage.durationMs }, 'Redis Pub/Sub connection back: resyncing subscribers from history'),
        resynced: (channels, ms) => logger.info({ channels: channels.length, ms }, 'resync done'),
        resyncFailed: (error) => logger.warn({ err: error }, 'resync failed: the periodic position check retries'),
      }),
      onError: (error, channel) => logger.warn({ err: error, channel }, 'Redis broker error'),
    },
  });
  // The relay has connections of its own: its traffic never queues behind the hub's, and its Pub/Sub connection
  // is not the broker's (whose channels are all hub channels).
  const relayClients: RedisClients = createRedisClients(config.url, { ...connection, prefix: `${config.prefix}relay` });
  const relay = new RedisSessionRelay({
    clients: relayClients,
    nodeId,
    prefix: config.prefix,
    sharded: config.sharded,
    timeoutMs: config.relayTimeoutMs,
    logger,
    onRequest: (direction, op, status) => relayed.inc({ direction, op, status: String(status) }),
  });

  const watch = { logger, outages, closing: () => closing };
  watchConnection(engine.clients.command.redis, 'command', watch);
  watchConnection(relayClients.subscriber(config.sharded).redis, 'relay', watch);

  const broker = new HoldingBroker(engine.broker, (error, channel) => logger.warn({ err: error, channel }, 'delivery failed'));
  const health = (): RedisHealth => {
    const command = engine.clients.command.ready ? 'up' : 'down';
    const pubsub = engine.broker.connected ? 'up' : 'down';
    const relayState = relay.listening ? 'up' : 'down';
    return { ok: command === 'up' && pubsub === 'up' && relayState === 'up', command, pubsub, relay: relayState };
  };
  new Gauge({
    name: 'volley_redis_up',
    help: '1 while every Redis connection of this node is up, else 0 (the node answers /healthz with 503).',
    registers: [options.registry],
    collect() {
      this.set(health().ok ? 1 : 0);
    },
  });

  let closed: Promise<void> | undefined;
  return {
    broker,
    history: engine.history,
    presence: engine.presence,
    rateLimits: {
      debit: (...args) =>
        engine.rateLimits.debit(...args).catch((error: unknown) => {
          syncFailures.inc();
          throw error;
        }),
    },
    idempotency: engine.idempotency,
    relay,
    engine,
    attachHub(value) {
      hub = value;
    },
    health,
    async start() {
      try {
        await engine.clients.command.whenReady('start');
      } catch {
        logger.warn({ redis: where }, 'Redis is unreachable: serving degraded (/healthz 503) until it answers');
      }
      await relay.start();
    },
    close() {
      closed ??= (async () => {
        closing = true;
        await relay.close();
        const results = await Promise.allSettled([engine.close(), relayClients.close()]);
        for (const result of results) if (result.status === 'rejected') logger.warn({ err: result.reason }, 'closing Redis failed');
      })();
      return closed;
    },
  };
}

/** Logs a connection's outages (when it drops after having been ready) and recoveries, with the downtime. */
function watchConnection(
  redis: RedisEngine['clients']['command']['redis'],
  name: string,
  { logger, outages, closing }: { logger: HubLogger; outages: Counter<string>; closing: () => boolean },
): void {
  let wasReady = false;
  let downSince: number | undefined;
  redis.on('ready', () => {
    if (downSince !== undefined) logger.warn({ connection: name, downMs: Date.now() - downSince }, 'Redis connection back');
    downSince = undefined;
    wasReady = true;
  });
  redis.on('close', () => {
    if (!wasReady || downSince !== undefined || closing()) return;
    downSince = Date.now();
    outages.inc({ connection: name });
    logger.warn({ connection: name }, 'Redis connection lost');
  });
}

/**
 * `/healthz` of a node with Redis: 200 `{"status":"ok"}`; 503 `{"status":"draining"}` during shutdown; 503
 * `{"status":"degraded"}` while a Redis connection is down. Why 503 and not 200: a node without Redis cannot
 * take publications (they fail `unavailable`), read history, recover clients or see other nodes' messages, so a
 * load balancer should send new clients to another node; clients already connected stay, and are resynced when
 * Redis is back. When every node is degraded (Redis itself is down) there is no better node anyway.
 */
export function createHealthHandler(source: { readonly nodeId: string; draining(): boolean; readonly redis: RedisNode }) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if ((req.url ?? '').split('?', 1)[0] !== '/healthz') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: { code: 'method_not_allowed', message: 'method not allowed' } }, { allow: 'GET, HEAD' });
      return true;
    }
    const redis = source.redis.health();
    const status = source.draining() ? 'draining' : redis.ok ? 'ok' : 'degraded';
    sendJson(res, status === 'ok' ? 200 : 503, { status, nodeId: source.nodeId, redis: { command: redis.command, pubsub: redis.pubsub, relay: redis.relay } });
    return true;
  };
}

/** What {@link resyncCallbacks} reports of the broker's Pub/Sub outages (for logs, metrics and tests). */
export interface ResyncReports {
  /** The Pub/Sub connection was lost while the node was not closing: deliveries are held from now on. */
  readonly lost?: () => void;
  /** The broker subscribed again to `channels` after `outage`; the hub's resync starts. */
  readonly back?: (channels: readonly string[], outage: PubSubOutage) => void;
  /** The resync of `channels` finished, `ms` after it started. */
  readonly resynced?: (channels: readonly string[], ms: number) => void;
  /** The resync failed; the hub's periodic position check retries. */
  readonly resyncFailed?: (error: unknown) => void;
}

/** What {@link resyncCallbacks} acts on, read when the broker calls (so each may be set after the engine). */
export interface ResyncTarget extends ResyncReports {
  /** The hub's broker, wrapping the engine's. */
  readonly broker: () => HoldingBroker;
  /** The hub to resync; none yet: nothing to resync, the held deliveries go at once. */
  readonly hub: () => Hub | undefined;
  /** Whether the node is closing: a connection lost then is not an outage, and nothing is held. */
  readonly closing: () => boolean;
}

/**
 * The `onDisconnect` and `onResubscribe` of a node's Redis broker, as every multi-node hub wires them: from the
 * loss of the Pub/Sub connection until the hub has started its resync, the {@link HoldingBroker} holds deliveries
 * (one arriving right after the resubscription would otherwise look like a gap before history is asked); once
 * the broker subscribed again, `hub.resync(channels)`, then the held deliveries go.
 */
export function resyncCallbacks(target: ResyncTarget): Required<Pick<RedisBrokerOptions, 'onDisconnect' | 'onResubscribe'>> {
  return {
    onDisconnect: () => {
      if (target.closing()) return;
      target.broker().hold();
      target.lost?.();
    },
    onResubscribe: (channels, outage) => {
      target.back?.(channels, outage);
      const hub = target.hub();
      if (hub === undefined) return target.broker().release();
      const started = Date.now();
      // resync() sets every subscription's catch-up buffer before it first waits: the held deliveries then
      // land behind the history read, which skips what it replayed.
      const resync = hub.resync(channels);
      target.broker().release();
      resync.then(
        () => target.resynced?.(channels, Date.now() - started),
        (error: unknown) => target.resyncFailed?.(error),
      );
    },
  };
}

/** Most deliveries held while a resync is pending; beyond, the oldest go (their subscribers then get a gap). */
const MAX_HELD = 100_000;

/**
 * A broker that can hold publications between the Pub/Sub connection's loss and the start of the hub's resync
 * ({@link hold}, {@link release}; {@link resyncCallbacks} calls them).
 */
export class HoldingBroker implements Broker {
  #handler: BrokerHandler | undefined;
  #held: Array<[channel: string, publication: Publication, epoch: string]> | null = null;

  constructor(
    private readonly inner: Broker,
    private readonly onError: (error: unknown, channel: string) => void,
  ) {}

  setHandler(handler: BrokerHandler): void {
    this.#handler = handler;
    this.inner.setHandler({
      publication: (channel, publication, epoch) => {
        if (this.#held === null) return handler.publication(channel, publication, epoch);
        if (this.#held.length >= MAX_HELD) this.#held.shift();
        this.#held.push([channel, publication, epoch]);
      },
      join: (channel, info) => handler.join(channel, info),
      leave: (channel, info) => handler.leave(channel, info),
    });
  }

  /** Holds publications from now on (the Pub/Sub connection was lost). */
  hold(): void {
    this.#held ??= [];
  }

  /** Delivers what was held, in order, and stops holding. */
  release(): void {
    const held = this.#held;
    this.#held = null;
    if (held === null || this.#handler === undefined) return;
    for (const [channel, publication, epoch] of held) {
      try {
        this.#handler.publication(channel, publication, epoch);
      } catch (error) {
        this.onError(error, channel);
      }
    }
  }

  publish(channel: string, publication: Publication, epoch: string): Promise<void> {
    return this.inner.publish(channel, publication, epoch);
  }
  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.inner.publishJoin(channel, info);
  }
  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.inner.publishLeave(channel, info);
  }
  subscribe(channel: string): Promise<void> {
    return this.inner.subscribe(channel);
  }
  unsubscribe(channel: string): Promise<void> {
    return this.inner.unsubscribe(channel);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
