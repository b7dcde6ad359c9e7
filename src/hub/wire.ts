/**
 * The client ↔ hub wire protocol, version 1 (docs/protocol.md): the shapes of commands, replies and pushes.
 *
 * One command, reply or push per transport message. Commands carry a positive integer `id` unique per
 * connection and a `type`; the reply carries the same `id` and either `result` or `error`. Pushes carry a
 * `type` and no `id`. Encodings: JSON (subprotocol `volley.v1.json`, WebSocket text) and MessagePack
 * (`volley.v1.msgpack`, WebSocket binary) carry the same shapes.
 *
 * @module
 */

import type { ClientInfo } from './engine.js';

/** Version of this protocol; the subprotocol names carry it. */
export const PROTOCOL_VERSION = 1;

/** Subprotocol names. When a client offers both, the first in the client's order is chosen. */
export const SUBPROTOCOL_JSON = 'volley.v1.json';
export const SUBPROTOCOL_MSGPACK = 'volley.v1.msgpack';
/** The encodings a transport can carry. */
export type Encoding = 'json' | 'msgpack';

/** A stream position as the client keeps it, per channel. */
export interface WirePosition {
  /** At most 64 printable ASCII characters; `''` in channels without history. */
  readonly epoch: string;
  readonly offset: number;
}

// ----------------------------------------------------------------------------------------- channel grammar

/** Characters allowed in a channel segment besides ASCII letters and digits. */
export const CHANNEL_PUNCTUATION = '_-.@=/,;#';

/**
 * A channel (or rpc method) name: `:`-separated segments, each one or more ASCII letters, digits or
 * {@link CHANNEL_PUNCTUATION}. No empty segment (`:x`, `x:`, `a::b`), no space, no control character.
 */
export const CHANNEL_NAME_PATTERN = /^[A-Za-z0-9_\-.@=/,;#]+(?::[A-Za-z0-9_\-.@=/,;#]+)*$/;

/**
 * Names a namespace (the first segment of a channel) or an rpc method may not take: the properties of
 * `Object.prototype`, `prototype`, and the events an `EventEmitter` treats specially. A lookup by such a name in
 * a plain object or an emitter would reach something other than data.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  '__proto__',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  'constructor',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  'toString',
  'valueOf',
  'prototype',
  'error',
  'newListener',
  'removeListener',
]);

// ------------------------------------------------------------------------------------------------- commands

export interface ConnectCommand {
  readonly id: number;
  readonly type: 'connect';
  /** JWT; required unless the hub allows anonymous connections. */
  readonly token?: string;
  /** Client library name and version, for logs and metrics. */
  readonly name?: string;
  readonly version?: string;
  /** Channels to resubscribe, with their positions, in one round trip after a reconnect. */
  readonly subscriptions?: Readonly<Record<string, { readonly recover?: WirePosition }>>;
}

export interface SubscribeCommand {
  readonly id: number;
  readonly type: 'subscribe';
  readonly channel: string;
  /** Recover everything published after this position (exclusive), then continue live. */
  readonly recover?: WirePosition;
  /** Presence data shown to other members. */
  readonly presenceData?: unknown;
}

export interface UnsubscribeCommand {
  readonly id: number;
  readonly type: 'unsubscribe';
  readonly channel: string;
}

export interface PublishCommand {
  readonly id: number;
  readonly type: 'publish';
  readonly channel: string;
  readonly data: unknown;
  /** A repeated key within the dedupe window returns the first result and publishes nothing. */
  readonly idempotencyKey?: string;
}

export interface PresenceCommand {
  readonly id: number;
  readonly type: 'presence';
  readonly channel: string;
  /** Only counts (large channels). @default false */
  readonly countsOnly?: boolean;
}

export interface HistoryCommand {
  readonly id: number;
  readonly type: 'history';
  readonly channel: string;
  readonly since?: number;
  readonly limit?: number;
  readonly reverse?: boolean;
}

export interface RpcCommand {
  readonly id: number;
  readonly type: 'rpc';
  readonly method: string;
  readonly data?: unknown;
}

export interface PingCommand {
  readonly id: number;
  readonly type: 'ping';
}

export interface RefreshCommand {
  readonly id: number;
  readonly type: 'refresh';
  /** A fresh JWT for the same user. */
  readonly token: string;
}

/** Every command a client may send. */
export type Command =
  | ConnectCommand
  | SubscribeCommand
  | UnsubscribeCommand
  | PublishCommand
  | PresenceCommand
  | HistoryCommand
  | RpcCommand
  | PingCommand
  | RefreshCommand;

/** The `type` of a command. */
export type CommandType = Command['type'];

// --------------------------------------------------------------------------------------------------- results

export interface ConnectResult {
  readonly clientId: string;
  readonly userId: string;
  /** When the token expires (ms since the epoch); the client must `refresh` before then. Absent: never. */
  readonly expiresAt?: number;
  /** The server pings (WebSocket) or expects a `ping` command (fallbacks) this often. */
  readonly pingIntervalMs: number;
  readonly server: { readonly name: string; readonly version: string };
  /** Results of the subscriptions asked for in the connect command. */
  readonly subscriptions?: Readonly<Record<string, SubscribeResult | { readonly error: WireError }>>;
}

export interface SubscribeResult {
  readonly epoch: string;
  /** Position of the newest publication when the subscription started. */
  readonly offset: number;
  /** True when every publication after the `recover` position was replayed (in `publications`). */
  readonly recovered: boolean;
  /** Replayed publications, oldest first; live ones follow as pushes with higher offsets. */
  readonly publications: readonly WirePublication[];
}

export interface PublishResult {
  readonly epoch: string;
  /** 0 in channels without history. */
  readonly offset: number;
}

export interface PresenceResult {
  readonly clients: number;
  readonly users: number;
  /** Absent with `countsOnly` or when the namespace is counts-only. */
  readonly members?: readonly ClientInfo[];
}

export interface RpcResult {
  readonly data: unknown;
}

export interface RefreshResult {
  readonly expiresAt?: number;
}

export interface HistoryResult {
  readonly epoch: string;
  readonly offset: number;
  readonly publications: readonly WirePublication[];
}

/** A reply: `result` on success, `error` on failure. */
export type Reply = { readonly id: number; readonly result: unknown } | { readonly id: number; readonly error: WireError };

/** Stable error codes in replies (docs/protocol.md lists each). */
export const HubErrorCode = {
  BAD_REQUEST: 'bad_request',
  UNAUTHORIZED: 'unauthorized',
  PERMISSION_DENIED: 'permission_denied',
  NOT_FOUND: 'not_found',
  ALREADY_SUBSCRIBED: 'already_subscribed',
  NOT_SUBSCRIBED: 'not_subscribed',
  LIMIT_EXCEEDED: 'limit_exceeded',
  RATE_LIMITED: 'rate_limited',
  TOKEN_EXPIRED: 'token_expired',
  METHOD_NOT_FOUND: 'method_not_found',
  UNAVAILABLE: 'unavailable',
  TIMEOUT: 'timeout',
  INTERNAL: 'internal',
} as const;
export type HubErrorCode = (typeof HubErrorCode)[keyof typeof HubErrorCode];

export interface WireError {
  readonly code: HubErrorCode;
  readonly message: string;
  /** For `rate_limited`: when to retry. */
  readonly retryAfterMs?: number;
}

// ----------------------------------------------------------------------------------------------------- pushes

export interface WirePublication {
  readonly offset: number;
  readonly data: unknown;
  readonly info?: ClientInfo;
  readonly time: number;
}

export interface PublicationPush extends WirePublication {
  readonly type: 'publication';
  readonly channel: string;
}

export interface JoinPush {
  readonly type: 'join';
  readonly channel: string;
  readonly info: ClientInfo;
}

export interface LeavePush {
  readonly type: 'leave';
  readonly channel: string;
  readonly info: ClientInfo;
}

/**
 * Recovery was impossible: publications `fromOffset`..`toOffset` (inclusive) of `channel` are lost to this client.
 * With `epochChanged` the range is in the new epoch and may be empty (`1..0`): the old stream is gone, and
 * everything still kept of the new one is replayed.
 */
export interface GapPush {
  readonly type: 'gap';
  readonly channel: string;
  readonly fromOffset: number;
  readonly toOffset: number;
  /** The stream was reset: offsets of the old epoch mean nothing now; `fromOffset`/`toOffset` are the new epoch's. */
  readonly epochChanged: boolean;
}

export interface RateLimitedPush {
  readonly type: 'rate_limited';
  readonly retryAfterMs: number;
}

/** The server ends the connection; `reconnect` says whether and when to come back. */
export interface DisconnectPush {
  readonly type: 'disconnect';
  readonly code: number;
  readonly reason: string;
  readonly reconnect: boolean;
  /** Wait at least this long before reconnecting (spread reconnects during a drain). */
  readonly reconnectAfterMs?: number;
}

/** The server removed a subscription (for example the channel's permission changed). */
export interface UnsubscribedPush {
  readonly type: 'unsubscribed';
  readonly channel: string;
  readonly reason: string;
}

/** The server subscribed this connection to a channel (server-side subscription). */
export interface SubscribedPush {
  readonly type: 'subscribed';
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
}

export type Push =
  | PublicationPush
  | JoinPush
  | LeavePush
  | GapPush
  | RateLimitedPush
  | DisconnectPush
  | UnsubscribedPush
  | SubscribedPush;

// ------------------------------------------------------------------------------------------ disconnect codes

/**
 * Close codes the hub uses (WebSocket close code and `disconnect.code`). 4000-4499: the client may reconnect
 * (and recover); 4500-4999: it must not reconnect without a change (new token, fixed client).
 */
export const DisconnectCode = {
  /** Server shutting down or draining: reconnect elsewhere (WebSocket 1001). */
  SHUTDOWN: 1001,
  /** The outbound queue overflowed: reconnect and recover. */
  SLOW: 4000,
  /** Rate limits exceeded repeatedly: reconnect after `reconnectAfterMs`. */
  RATE_LIMITED: 4001,
  /** The token expired without a refresh: get a new token, reconnect. */
  TOKEN_EXPIRED: 4002,
  /** No connect command within the connect timeout. */
  STALE: 4003,
  /** Disconnected by the server (API/admin) with permission to come back. */
  DISCONNECTED: 4004,
  /** Missed pings (fallback transports). */
  NO_PING: 4005,
  /** Invalid token or credentials. */
  UNAUTHORIZED: 4500,
  /** Malformed command or protocol violation. */
  BAD_REQUEST: 4501,
  /** Refused by a hook or policy. */
  FORBIDDEN: 4502,
  /** Too many connections (per IP or user). */
  CONNECTION_LIMIT: 4503,
  /** Disconnected by the server (API/admin), not to come back. */
  KICKED: 4504,
} as const;
export type DisconnectCode = (typeof DisconnectCode)[keyof typeof DisconnectCode];

/** Whether a client may reconnect after `code`. */
export function mayReconnect(code: number): boolean {
  return code === 1001 || code === 1006 || code === 1011 || code === 1012 || code === 1013 || (code >= 4000 && code < 4500);
}
