/**
 * The composition root of a Volley node: from a {@link VolleyConfig} it builds the engines (memory broker,
 * SQLite or memory history, memory presence; or, with `redis`, the Redis engines and the HTTP fallbacks' session
 * relay, see `redis-node.ts`), the token verifier, the hub with Prometheus metrics and a pino logger, the
 * WebSocket transport, and one `node:http` server that routes
 *
 * - `GET <websocket.path>` with `Upgrade: websocket` → the hub (other upgrade paths: 404);
 * - `/poll/open`, `/poll`, `/poll/send` → long-polling; `/sse`, `/sse/send` → Server-Sent Events (the HTTP
 *   fallbacks, unless `fallbacks.polling` / `fallbacks.sse` turn them off);
 * - `/api/…` → the HTTP API; `/metrics` → Prometheus; `/healthz`, `/`, `/docs/…` → status and docs.
 *
 * {@link VolleyServer.shutdown} drains: it stops accepting, marks `/healthz` as draining, tells every client to
 * reconnect elsewhere (1001 with a spread-out reconnect delay), waits a bounded time for them to go, then
 * closes the engines and the server.
 *
 * @example
 * ```ts
 * const { config } = await loadConfig({ flags: { port: '0', memory: true } });
 * const server = await createVolleyServer(config);
 * const { url } = await server.listen();
 * // ...
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { Gauge } from 'prom-client';
import { MemoryBroker } from '../engines/memory-broker.js';
import { MemoryHistoryStore } from '../engines/memory-history.js';
import { MemoryPresenceStore } from '../engines/memory-presence.js';
import { SqliteHistoryStore } from '../engines/sqlite-history.js';
import { createTokenVerifier } from '../hub/auth.js';
import type { Broker, HistoryStore, PresenceStore } from '../hub/engine.js';
import { createHttpHooks } from '../hub/hooks.js';
import { Hub, type HubHooks } from '../hub/hub.js';
import { hubHooksFromHttp } from './http-hooks.js';
import { createApiHandler, type HttpHandler } from '../http/api.js';
import { createMetricsHandler, PromMetrics } from '../http/metrics.js';
import { sendJson } from '../http/respond.js';
import { createDemoHandler } from '../http/demo.js';
import { createStaticHandler } from '../http/static.js';
import { PollingTransport } from '../transports/polling.js';
import { SseTransport } from '../transports/sse.js';
import { WebSocketTransport } from '../transports/websocket.js';
import { redactConfig, tokenVerifierOptions, type VolleyConfig } from './config.js';
import { createHealthHandler, createRedisNode, type RedisNode } from './redis-node.js';

/** Lifecycle of a {@link VolleyServer}; it only moves forward. */
export const ServerState = {
  CREATED: 'created',
  LISTENING: 'listening',
  DRAINING: 'draining',
  CLOSED: 'closed',
} as const;
export type ServerState = (typeof ServerState)[keyof typeof ServerState];

/** Options of {@link createVolleyServer} beyond the configuration. */
export interface VolleyServerOptions {
  /** Use this logger instead of creating one from `config.logLevel`. */
  readonly logger?: Logger;
  /** Where the created logger writes JSON lines. @default stdout (synchronous writes) */
  readonly logStream?: DestinationStream;
  /** Application hooks for the hub (embedding only; `volley serve` has none). */
  readonly hooks?: HubHooks;
  /** This node's id, in logs, on the status page and in metrics. @default config.nodeId, else a random 8-hex-digit id */
  readonly nodeId?: string;
}

/** Where a server listens. */
export interface ListenAddress {
  /** The bound host as configured (`0.0.0.0`, `127.0.0.1`, `::`…). */
  readonly host: string;
  /** The bound port (the chosen one when the configuration said 0). */
  readonly port: number;
  /** `http://HOST:PORT` (IPv6 hosts in brackets). */
  readonly url: string;
  /** `ws://HOST:PORT/PATH`. */
  readonly wsUrl: string;
}

/** Options of {@link VolleyServer.shutdown}. */
export interface ShutdownOptions {
  /** Longest wait for clients to close after being told to go, in ms. @default config.shutdown.drainMs */
  readonly drainMs?: number;
}

/** A running (or ready to run) Volley node. */
export interface VolleyServer {
  readonly config: VolleyConfig;
  readonly hub: Hub;
  readonly metrics: PromMetrics;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly httpServer: Server;
  /** The Redis side of the node (engines, session relay, health), when `config.redis` is set. */
  readonly redis: RedisNode | null;
  readonly state: ServerState;
  /** Starts listening; resolves to the bound address (rejects when the port cannot be bound). */
  listen(): Promise<ListenAddress>;
  /**
   * Drains and closes everything. Idempotent: later calls return the same promise; a later call with
   * `drainMs: 0` stops waiting for clients at once.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

/** The package version (dist/server/create.js → ../../package.json). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `host:port` for a URL: IPv6 literals in brackets. */
function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Answers a raw upgrade socket with an HTTP error and closes it. */
function rejectUpgrade(socket: Socket, status: number, text: string): void {
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** Resolves once `done()` is true or `ms` have passed; returns whether `done()` became true. */
async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(25, Math.max(1, deadline - Date.now())));
  }
  return true;
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  return Promise.race([promise.then(noop, noop), sleep(ms)]);
}

function noop(): void {}

/** A listen error in words an operator can act on. */
function describeListenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new Error(`port ${port} on ${host} is already in use`, { cause: error });
    case 'EACCES':
      return new Error(`not allowed to listen on port ${port} (ports below 1024 need privileges)`, { cause: error });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new Error(`cannot listen on ${host}: no such local address`, { cause: error });
    default:
      return error;
  }
}

/**
 * Builds a Volley node from a configuration. Opening the SQLite file happens here (synchronously), so a data
 * directory that cannot be written fails now rather than at the first publish.
 *
 * @throws when an engine cannot be created (e.g. the history database cannot be opened).
 */
export async function createVolleyServer(config: VolleyConfig, options: VolleyServerOptions = {}): Promise<VolleyServer> {
  const nodeId = options.nodeId ?? config.nodeId ?? randomBytes(4).toString('hex');
  const version = packageVersion();
  const logger: Logger =
    options.logger ??
    pino(
      { level: config.logLevel, base: { nodeId }, timestamp: pino.stdTimeFunctions.isoTime },
      options.logStream ?? pino.destination({ dest: 1, sync: true }),
    );

  const metrics = new PromMetrics({ namespaces: Object.keys(config.namespaces.namespaces ?? {}) });
  new Gauge({
    name: 'volley_node_info',
    help: 'Always 1; labels name this node and its version.',
    labelNames: ['node_id', 'version'],
    registers: [metrics.registry],
  }).set({ node_id: nodeId, version }, 1);

  let broker: Broker;
  let presence: PresenceStore;
  let history: HistoryStore;
  const redis: RedisNode | null = config.redis === undefined ? null : createRedisNode(config.redis, { nodeId, logger, registry: metrics.registry });
  if (redis !== null) {
    ({ broker, presence, history } = redis);
  } else {
    broker = new MemoryBroker({ onError: (error, channel) => logger.error({ err: error, channel }, 'broker delivery failed') });
    presence = new MemoryPresenceStore();
    try {
      history =
        config.history === 'sqlite'
          ? new SqliteHistoryStore({
              path: join(config.dataDir, 'history.db'),
              onError: (error) => logger.warn({ err: error }, 'history sweep failed'),
            })
          : new MemoryHistoryStore();
    } catch (error) {
      await Promise.allSettled([broker.close(), presence.close()]);
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot open the history database in ${config.dataDir}: ${message}`, { cause: error });
    }
  }

  // Hooks from the config ask the application's backend; hooks given in code (embedding) take precedence.
  let hubRef: Hub | null = null;
  const hooks = options.hooks ?? (config.hooks !== undefined ? hubHooksFromHttp(createHttpHooks(config.hooks), () => hubRef!) : undefined);
  const hub = new Hub({
    broker,
    history,
    presence,
    namespaces: config.namespaces,
    verifier: config.token === undefined ? null : createTokenVerifier(tokenVerifierOptions(config.token)),
    allowAnonymous: config.allowAnonymous,
    rateLimits: config.rateLimits,
    // With Redis, limits per user, IP and channel and the idempotency keys of channels without history are the
    // hub's, not this node's.
    ...(redis !== null ? { sharedRateLimits: redis.rateLimits, idempotency: redis.idempotency } : {}),
    limits: config.limits,
    metrics,
    logger,
    server: { name: 'volley', version },
    ...(hooks !== undefined ? { hooks } : {}),
  });
  hubRef = hub;
  redis?.attachHub(hub);
  const transport = new WebSocketTransport(hub, {
    maxMessageSize: config.websocket.maxMessageSize,
    maxQueueBytes: config.websocket.maxQueueBytes,
    perMessageDeflate: config.websocket.perMessageDeflate,
    maxConnections: config.websocket.maxConnections,
    maxConnectionsPerIp: config.websocket.maxConnectionsPerIp,
    trustProxy: config.trustProxy,
    ...(config.allowedOrigins !== undefined ? { allowedOrigins: config.allowedOrigins } : {}),
  });

  const fallbackOptions = {
    maxQueueBytes: config.fallbacks.maxQueueBytes,
    maxBodyBytes: config.fallbacks.maxBodyBytes,
    maxSessions: config.fallbacks.maxSessions,
    trustProxy: config.trustProxy,
    ...(config.allowedOrigins !== undefined ? { allowedOrigins: config.allowedOrigins } : {}),
    ...(redis !== null ? { relay: redis.relay } : {}),
  };
  const polling = config.fallbacks.polling
    ? new PollingTransport(hub, { ...fallbackOptions, pollTimeoutMs: config.fallbacks.pollTimeoutMs, sessionIdleMs: config.fallbacks.sessionIdleMs })
    : null;
  const sse = config.fallbacks.sse ? new SseTransport(hub, { ...fallbackOptions, keepaliveMs: config.fallbacks.keepaliveMs }) : null;
  /** Open client connections on every transport. */
  const connections = (): number => transport.connections + (polling?.connections ?? 0) + (sse?.connections ?? 0);

  let state: ServerState = ServerState.CREATED;
  const draining = (): boolean => state === ServerState.DRAINING || state === ServerState.CLOSED;
  const handlers: HttpHandler[] = [
    ...(redis !== null ? [createHealthHandler({ nodeId, draining, redis })] : []),
    ...(polling !== null ? [(req: IncomingMessage, res: ServerResponse) => polling.handle(req, res)] : []),
    ...(sse !== null ? [(req: IncomingMessage, res: ServerResponse) => sse.handle(req, res)] : []),
    createApiHandler({
      hub,
      apiKey: config.apiKey,
      maxBodyBytes: config.api.maxBodyBytes,
      maxBroadcastChannels: config.api.maxBroadcastChannels,
      onResponse: (route, status) => metrics.httpRequest(route, status),
    }),
    createMetricsHandler(metrics),
    createDemoHandler(),
    createStaticHandler({
      status: {
        version,
        nodeId,
        connections,
        draining,
        websocketPath: config.websocket.path,
        apiEnabled: config.apiKey !== undefined,
      },
    }),
  ];

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      for (const handler of handlers) if (handler(req, res)) return;
      sendJson(res, 404, { error: { code: 'not_found', message: 'not found' } });
    } catch (error) {
      logger.error({ err: error, url: req.url }, 'HTTP request failed');
      sendJson(res, 500, { error: { code: 'internal', message: 'internal error' } });
    }
  };
  const httpServer = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, onRequest);

  /** Upgraded sockets, destroyed at the end of a shutdown if a client never completes its close. */
  const upgraded = new Set<Socket>();
  httpServer.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (state !== ServerState.LISTENING) return rejectUpgrade(socket, 503, 'Service Unavailable');
    if (path !== config.websocket.path) return rejectUpgrade(socket, 404, 'Not Found');
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    try {
      transport.handleUpgrade(req, socket, head);
    } catch (error) {
      logger.error({ err: error }, 'WebSocket upgrade failed');
      socket.destroy();
    }
  });

  let shutdownPromise: Promise<void> | undefined;
  let forced = false;

  const closeEngines = async (): Promise<void> => {
    hub.close();
    const results = await Promise.allSettled(redis !== null ? [redis.close()] : [broker.close(), history.close(), presence.close()]);
    for (const result of results) if (result.status === 'rejected') logger.warn({ err: result.reason }, 'engine close failed');
  };

  const server: VolleyServer = {
    config,
    hub,
    metrics,
    logger,
    nodeId,
    httpServer,
    redis,
    get state() {
      return state;
    },

    async listen() {
      if (state !== ServerState.CREATED) throw new Error(`cannot listen: the server is ${state}`);
      // Before the port opens: the sids handed out must be reachable from the other nodes.
      await redis?.start();
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error): void => reject(describeListenError(error, config.host, config.port));
        httpServer.once('error', onError);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', onError);
          resolve();
        });
      });
      // After listening, a server error (EMFILE…) is logged; it must not crash the process.
      httpServer.on('error', (error) => logger.error({ err: error }, 'HTTP server error'));
      if (state !== ServerState.CREATED) {
        // shutdown() was called while the port was opening.
        httpServer.close();
        throw new Error('the server was shut down while it started');
      }
      state = ServerState.LISTENING;
      const port = (httpServer.address() as AddressInfo).port;
      const address: ListenAddress = {
        host: config.host,
        port,
        url: `http://${authority(config.host, port)}`,
        wsUrl: `ws://${authority(config.host, port)}${config.websocket.path}`,
      };
      logger.info({ url: address.url, ws: address.wsUrl, version, config: redactConfig(config) }, 'listening');
      return address;
    },

    shutdown(shutdownOptions = {}) {
      // A second call with `drainMs: 0` (a second Ctrl-C) cuts a drain in progress short.
      if (shutdownPromise !== undefined && shutdownOptions.drainMs === 0) forced = true;
      shutdownPromise ??= (async () => {
        const drainMs = shutdownOptions.drainMs ?? config.shutdown.drainMs;
        const wasListening = state === ServerState.LISTENING;
        state = ServerState.DRAINING;
        logger.info({ connections: connections(), drainMs }, 'draining');
        const serverClosed = wasListening ? new Promise<void>((resolve) => httpServer.close(() => resolve())) : Promise.resolve();
        httpServer.closeIdleConnections();
        hub.shutdown({ reconnectWindowMs: config.shutdown.reconnectWindowMs });
        const drained = await waitFor(() => connections() === 0 || forced, drainMs);
        if (!drained) logger.warn({ connections: connections() }, 'clients still connected after the drain period: closing them');
        await bounded(Promise.all([transport.close(), polling?.close(), sse?.close()]), 1000);
        for (const socket of upgraded) socket.destroy();
        await closeEngines();
        // In-flight HTTP requests had the drain period too.
        httpServer.closeAllConnections();
        await bounded(serverClosed, 1000);
        state = ServerState.CLOSED;
        logger.info('stopped');
      })();
      return shutdownPromise;
    },
  };
  return server;
}
