/**
 * What the long-polling (`polling.ts`) and SSE (`sse.ts`) transports do alike around their sessions: resolve and
 * check the options they share, take `POST PATH/send` for a session here or relay it to the node holding it, hand
 * relayed commands to a session, and disconnect sessions that stopped sending (the fallback keepalive rule).
 * The pieces of the HTTP exchange itself live in `http-session.ts`.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import type { Session } from '../hub/session.js';
import { DisconnectCode } from '../hub/wire.js';
import { invalidArgument } from '../protocol/errors.js';
import { clientAddressOf, type ClientAddress } from './client-address.js';
import {
  CommandInbox,
  FallbackError,
  HTTP_FALLBACK_DEFAULTS,
  integerOption,
  OriginPolicy,
  ownerOf,
  receiveCommands,
  relayCommands,
  sendError,
  sidOf,
  unknownSession,
  type HttpFallbackOptions,
  type RelayExchange,
  type RelayTransport,
  type SessionRelay,
} from './http-session.js';

/** The options every fallback transport has, which {@link fallbackSettings} resolves. */
export interface FallbackTransportOptions extends HttpFallbackOptions {
  /** Path prefix of the transport's endpoints (each transport documents its default). */
  readonly path?: string;
  /**
   * Relays requests for sessions held by other nodes (several nodes without sticky sessions).
   * @default none: every session is this node's
   */
  readonly relay?: SessionRelay;
}

/** A fallback transport's shared options, checked and with their defaults applied. */
export interface FallbackSettings {
  readonly origins: OriginPolicy;
  /** Path prefix of the transport's endpoints. */
  readonly base: string;
  readonly maxBodyBytes: number;
  readonly maxQueueBytes: number;
  /** 0 is unlimited. */
  readonly maxSessions: number;
  readonly pingTimeoutMs: number;
  readonly relay: SessionRelay | null;
  readonly clientAddress: ClientAddress;
}

/**
 * Checks the shared options and applies their defaults (`defaultPath` for `path`).
 *
 * @throws WebSocketError `VOLLEY_ERR_INVALID_ARGUMENT` for a malformed origin or path, or a limit out of
 *   range.
 */
export function fallbackSettings(hub: Hub, options: FallbackTransportOptions, defaultPath: string): FallbackSettings {
  const origins = new OriginPolicy(options.allowedOrigins);
  const base = options.path ?? defaultPath;
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(base) || base.endsWith('/')) invalidArgument('path must start with "/" and not end with one');
  return {
    origins,
    base,
    maxBodyBytes: integerOption(options.maxBodyBytes, HTTP_FALLBACK_DEFAULTS.maxBodyBytes, 'maxBodyBytes'),
    maxQueueBytes: integerOption(options.maxQueueBytes, HTTP_FALLBACK_DEFAULTS.maxQueueBytes, 'maxQueueBytes'),
    maxSessions: integerOption(options.maxSessions, HTTP_FALLBACK_DEFAULTS.maxSessions, 'maxSessions', 0),
    pingTimeoutMs: integerOption(options.pingTimeoutMs, hub.limits.pingIntervalMs + HTTP_FALLBACK_DEFAULTS.pingSlackMs, 'pingTimeoutMs'),
    relay: options.relay ?? null,
    clientAddress: clientAddressOf(options.trustProxy),
  };
}

/** A session of a fallback transport, as the shared pieces see it. */
export interface FallbackSession {
  /** Whether the hub session is still open. */
  isOpen(): boolean;
  readonly inbox: CommandInbox;
  readonly session: Session;
}

/** The node holding `sid` when it is another one and there is a relay to reach it, else null. */
export function remoteOwner(relay: SessionRelay | null, sid: string): string | null {
  if (relay === null) return null;
  const owner = ownerOf(sid);
  return owner === null || owner === relay.nodeId ? null : owner;
}

/** The transport whose `POST PATH/send` {@link acceptCommands} answers. */
export interface CommandEndpoint {
  readonly hub: Hub;
  readonly settings: FallbackSettings;
  readonly transport: RelayTransport;
  /** This node's session named `sid`, if any. */
  sessionOf(sid: string): FallbackSession | undefined;
}

/**
 * Answers `POST PATH/send?sid=…`: the commands go to the session when this node holds it, or are relayed to the
 * node that does.
 *
 * @throws FallbackError `not_found` for a malformed sid, or a session this node does not know or that ended.
 */
export function acceptCommands(req: IncomingMessage, res: ServerResponse, cors: Readonly<Record<string, string>>, query: URLSearchParams, endpoint: CommandEndpoint): void {
  const sid = sidOf(query);
  if (sid === null) throw unknownSession();
  const { hub, settings, transport } = endpoint;
  const options = { maxBodyBytes: settings.maxBodyBytes, maxDepth: hub.commandLimits.maxDepth, logger: hub.logger };
  const owner = remoteOwner(settings.relay, sid);
  if (owner !== null) return relayCommands(req, res, cors, { relay: settings.relay!, owner, transport, sid }, options);
  const target = endpoint.sessionOf(sid);
  if (target === undefined || !target.isOpen()) throw unknownSession();
  receiveCommands(req, res, cors, target.inbox, options);
}

/**
 * Answers a request that threw: a {@link FallbackError} with its own status and code; anything else is a bug,
 * logged (as `<transport> request failed`, with the route) and answered 500 without detail.
 */
export function answerFailure(
  hub: Hub,
  res: ServerResponse,
  cors: Readonly<Record<string, string>>,
  error: unknown,
  context: { readonly transport: string; readonly route: string },
): void {
  if (!(error instanceof FallbackError)) hub.logger.error({ err: error, route: context.route }, `${context.transport} request failed`);
  sendError(res, error, cors);
}

/** Hands the commands of a relayed `send` to `target`: 204 once handed over, 404 when it is gone or ended. */
export function handRelayedCommands(exchange: RelayExchange, target: FallbackSession | undefined): void {
  if (target === undefined || !target.isOpen()) return exchange.respond({ status: 404 });
  target.inbox.add(Promise.resolve([...(exchange.request.frames ?? [])])).then(
    (handed) => exchange.respond({ status: handed ? 204 : 404 }),
    () => exchange.respond({ status: 404 }),
  );
}

/**
 * Starts the one timer that applies the keepalive rule to every session of a transport: an open session that sent
 * no command for `pingTimeoutMs` is disconnected with 4005. Checks often enough to act within a quarter of the
 * timeout (at least once a second); the timer does not keep the process alive.
 */
export function startKeepaliveSweep(sessions: () => Iterable<FallbackSession>, pingTimeoutMs: number): NodeJS.Timeout {
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const entry of sessions()) {
      if (entry.isOpen() && now - entry.inbox.lastCommandAt > pingTimeoutMs) entry.session.disconnect(DisconnectCode.NO_PING, 'no ping');
    }
  }, Math.min(1000, Math.ceil(pingTimeoutMs / 4)));
  sweeper.unref();
  return sweeper;
}
