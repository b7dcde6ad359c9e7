/**
 * The options of a {@link Volley} client, their defaults, and their validation (at construction: a bad
 * option throws there, not at the first reconnect).
 *
 * @module
 */

import { DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js';
import {
  globalFetch,
  globalValue,
  randomUuid,
  systemClock,
  type Clock,
  type EventSourceConstructor,
  type FetchLike,
  type WebSocketConstructor,
} from './environment.js';
import { ClientErrorCode, invalidArgument, VolleyError } from './errors.js';
import { TRANSPORT_KINDS, type TransportKind } from './transport.js';
import { SDK_NAME, SDK_VERSION } from './version.js';

/** The outbox: publishes waiting for their ack, including those made while disconnected. */
export interface OutboxOptions {
  /** Most publishes awaiting their ack; one more rejects with `VOLLEY_ERR_OUTBOX_FULL`. @default 1000 */
  readonly maxMessages?: number;
}

/** Falling back from WebSocket and coming back to it. */
export interface FallbackOptions {
  /**
   * A connection that closes within this many ms of opening, without the hub saying why, is short-lived;
   * after two in a row, the next transport is preferred. @default 3000
   */
  readonly shortLivedMs?: number;
  /** While on SSE or long-polling, try WebSocket again this often. 0 turns it off. @default 60000 */
  readonly upgradeIntervalMs?: number;
}

/**
 * Options of a {@link Volley} client.
 *
 * @example
 * ```ts
 * const client = new Volley('https://rt.example.com', {
 *   getToken: async () => (await fetch('/api/realtime-token')).text(),
 *   reconnect: { minDelayMs: 500, maxDelayMs: 20_000 },
 * });
 * ```
 */
export interface VolleyOptions {
  /** A connect token (JWT). Without it and without `getToken` the connection is anonymous. */
  readonly token?: string;
  /**
   * Fetches a fresh token: before connecting when there is none, before a reconnect after the hub said the
   * token expired (4002), and before `expiresAt` to `refresh` the live connection. Throw a `VolleyError` with
   * code `unauthorized` to stop the client for good.
   */
  readonly getToken?: () => string | Promise<string>;
  /**
   * The WebSocket constructor. @default globalThis.WebSocket (browsers). In Node 20:
   * `import { WebSocket } from 'volley'`.
   */
  readonly WebSocket?: WebSocketConstructor;
  /** `fetch`, for SSE and long-polling. @default globalThis.fetch */
  readonly fetch?: FetchLike;
  /** `EventSource`, for SSE. @default globalThis.EventSource; without one, SSE is read with `fetch`. */
  readonly EventSource?: EventSourceConstructor;
  /** Transports to use, in order of preference; unavailable ones are skipped. @default ['websocket', 'sse', 'polling'] */
  readonly transports?: readonly TransportKind[];
  /** The encoding. Only JSON for now. @default 'json' */
  readonly encoding?: 'json';
  /** Reconnect delays (exponential, full jitter, capped). @default { minDelayMs: 250, maxDelayMs: 15000 } */
  readonly reconnect?: ReconnectOptions;
  /** @default { maxMessages: 1000 } */
  readonly outbox?: OutboxOptions;
  /** How long a publish in flight waits for its ack. @default 10000 */
  readonly publishTimeoutMs?: number;
  /** How long other commands (connect, subscribe, presence, history, rpc) wait for their reply. @default 10000 */
  readonly timeoutMs?: number;
  /** Fallback and upgrade timing. */
  readonly fallback?: FallbackOptions;
  /** Client name sent in `connect`. @default 'volley-js' */
  readonly name?: string;
  /** Client version sent in `connect`. @default the SDK's version */
  readonly version?: string;
  /** Time and timers (tests drive them). @default the platform's */
  readonly clock?: Clock;
  /** Randomness for reconnect jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Makes idempotency keys. @default crypto.randomUUID */
  readonly idempotencyKey?: () => string;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly token: string | undefined;
  readonly getToken: (() => string | Promise<string>) | undefined;
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly fetch: FetchLike | undefined;
  readonly EventSource: EventSourceConstructor | undefined;
  /** The requested transports that this platform can run, in order. */
  readonly transports: readonly TransportKind[];
  readonly reconnect: Required<ReconnectOptions>;
  readonly maxOutbox: number;
  readonly publishTimeoutMs: number;
  readonly timeoutMs: number;
  readonly shortLivedMs: number;
  readonly upgradeIntervalMs: number;
  readonly name: string;
  readonly version: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly idempotencyKey: () => string;
}

function nonNegativeInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalidArgument(`${name} must be an integer ≥ 0`);
  return value;
}

function positiveInteger(value: unknown, name: string, fallback: number): number {
  const n = nonNegativeInteger(value, name, fallback);
  if (n === 0) throw invalidArgument(`${name} must be an integer > 0`);
  return n;
}

function printable(value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length > 64 || !/^[\x20-\x7e]*$/.test(value)) {
    throw invalidArgument(`${name} must be at most 64 printable ASCII characters`);
  }
  return value;
}

function optionalFunction<T>(value: unknown, name: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidArgument(`${name} must be a function`);
  return value as T;
}

/**
 * Applies defaults and checks every option.
 *
 * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` for an invalid option, or `VOLLEY_ERR_NO_TRANSPORT` when
 * no requested transport can run here.
 */
export function resolveOptions(options: VolleyOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options must be an object');
  if (options.token !== undefined && (typeof options.token !== 'string' || !/^[\x21-\x7e]{1,16384}$/.test(options.token))) {
    throw invalidArgument('token must be 1 to 16384 printable ASCII characters');
  }
  if (options.encoding !== undefined && options.encoding !== 'json') throw invalidArgument("encoding must be 'json'");
  const reconnect = options.reconnect ?? {};
  const minDelayMs = nonNegativeInteger(reconnect.minDelayMs, 'reconnect.minDelayMs', DEFAULT_RECONNECT.minDelayMs);
  const maxDelayMs = nonNegativeInteger(reconnect.maxDelayMs, 'reconnect.maxDelayMs', Math.max(DEFAULT_RECONNECT.maxDelayMs, minDelayMs));
  if (maxDelayMs < minDelayMs) throw invalidArgument('reconnect.maxDelayMs must be at least reconnect.minDelayMs');

  const requested = options.transports ?? TRANSPORT_KINDS;
  if (!Array.isArray(requested) || requested.length === 0) throw invalidArgument('transports must be a non-empty array');
  for (const kind of requested) {
    if (!TRANSPORT_KINDS.includes(kind)) throw invalidArgument(`unknown transport ${JSON.stringify(kind)}`);
  }
  if (new Set(requested).size !== requested.length) throw invalidArgument('transports must not repeat');

  const WebSocket = optionalFunction<WebSocketConstructor>(options.WebSocket, 'WebSocket') ?? globalValue<WebSocketConstructor>('WebSocket');
  const fetch = optionalFunction<FetchLike>(options.fetch, 'fetch') ?? globalFetch();
  const EventSource = optionalFunction<EventSourceConstructor>(options.EventSource, 'EventSource') ?? globalValue<EventSourceConstructor>('EventSource');
  const canAbort = typeof AbortController === 'function';
  const canStream = typeof TextDecoder === 'function';
  const available = (kind: TransportKind): boolean => {
    switch (kind) {
      case 'websocket':
        return WebSocket !== undefined;
      case 'sse':
        return fetch !== undefined && canAbort && (EventSource !== undefined || canStream);
      case 'polling':
        return fetch !== undefined && canAbort;
    }
  };
  const transports = requested.filter(available);
  if (transports.length === 0) {
    throw new VolleyError(
      ClientErrorCode.NO_TRANSPORT,
      `none of the transports ${requested.join(', ')} can run here: pass a WebSocket constructor (in Node: import { WebSocket } from 'volley') or fetch`,
    );
  }

  const fallback = options.fallback ?? {};
  const clock = options.clock ?? systemClock;
  if (typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') {
    throw invalidArgument('clock must have now, setTimeout and clearTimeout');
  }
  return {
    token: options.token,
    getToken: optionalFunction(options.getToken, 'getToken'),
    WebSocket,
    fetch,
    EventSource,
    transports,
    reconnect: { minDelayMs, maxDelayMs },
    maxOutbox: nonNegativeInteger(options.outbox?.maxMessages, 'outbox.maxMessages', 1000),
    publishTimeoutMs: positiveInteger(options.publishTimeoutMs, 'publishTimeoutMs', 10_000),
    timeoutMs: positiveInteger(options.timeoutMs, 'timeoutMs', 10_000),
    shortLivedMs: nonNegativeInteger(fallback.shortLivedMs, 'fallback.shortLivedMs', 3000),
    upgradeIntervalMs: nonNegativeInteger(fallback.upgradeIntervalMs, 'fallback.upgradeIntervalMs', 60_000),
    name: printable(options.name, 'name', SDK_NAME),
    version: printable(options.version, 'version', SDK_VERSION),
    clock,
    random: optionalFunction<() => number>(options.random, 'random') ?? Math.random,
    idempotencyKey: optionalFunction<() => string>(options.idempotencyKey, 'idempotencyKey') ?? randomUuid,
  };
}
