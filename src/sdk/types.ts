/**
 * The SDK's public data types: publications, stream positions, results and event payloads.
 *
 * @module
 */

import type { WirePublication } from '../hub/wire.js';
import type { VolleyError } from './errors.js';
import type { TransportKind } from './transport.js';

/** Who published or is present: the connection id, the user id (`''` when anonymous) and optional data. */
export type ClientInfo = NonNullable<WirePublication['info']>;

/**
 * A position in a channel's stream: its epoch and the offset of a publication. Keep it (e.g. in
 * `localStorage`) to resume after a page reload with `channel.subscribe({ since })`.
 */
export interface StreamPosition {
  readonly epoch: string;
  readonly offset: number;
}

/**
 * A message in a channel.
 *
 * @example
 * ```ts
 * room.on('publication', (pub: Publication<{ text: string }>) => render(pub.data.text, pub.info?.userId));
 * ```
 */
export interface Publication<T = unknown> {
  readonly channel: string;
  readonly data: T;
  /** Position in the channel's stream: 1, 2, 3… within an epoch; 0 in namespaces without history. */
  readonly offset: number;
  /** The publisher, when a client published it (absent for server-side publishes). */
  readonly info?: ClientInfo;
  /** When the hub accepted it, ms since the Unix epoch. */
  readonly time: number;
}

/** The hub's acknowledgement of a publish: the publication's position (`{epoch: '', offset: 0}` without history). */
export interface PublishAck {
  readonly epoch: string;
  readonly offset: number;
}

/** Options of a publish. */
export interface PublishOptions {
  /**
   * Deduplication key: the hub publishes a key once per channel within its dedupe window (2 minutes by
   * default) and answers repeats with the first result. @default a random UUID made at the call
   */
  readonly idempotencyKey?: string;
}

/** Options of a history query. */
export interface HistoryOptions {
  /** Only publications with an offset greater than this. */
  readonly since?: number;
  /** At most this many (0 to 1000). @default all the hub returns */
  readonly limit?: number;
  /** Newest first. @default false */
  readonly reverse?: boolean;
}

/** A page of history. */
export interface HistoryResult<T = unknown> {
  readonly epoch: string;
  /** The newest offset of the stream. */
  readonly offset: number;
  readonly publications: readonly Publication<T>[];
}

/** Options of a presence query. */
export interface PresenceOptions {
  /** Only the counts. @default false */
  readonly countsOnly?: boolean;
}

/** Who is in a channel. */
export interface PresenceResult {
  /** Connections present. */
  readonly clients: number;
  /** Distinct user ids among them. */
  readonly users: number;
  /** One entry per connection; absent with `countsOnly` or in counts-only namespaces. */
  readonly members?: readonly ClientInfo[];
}

/**
 * Publications `fromOffset`..`toOffset` (inclusive) of a channel were lost to this client (trimmed from
 * history, or the stream's epoch changed). Reload the state from your application, or show that messages
 * are missing. With `epochChanged`, the range is in the new epoch and may be empty (`1..0`): then the old
 * stream's tail is lost and how much of it is unknown.
 */
export interface GapEvent {
  readonly channel: string;
  readonly fromOffset: number;
  readonly toOffset: number;
  readonly epochChanged: boolean;
}

/** A subscription became active. */
export interface SubscribedEvent {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  /** The subscription resumed from a known position. */
  readonly wasRecovering: boolean;
  /** Every publication after that position was replayed (no gap). */
  readonly recovered: boolean;
}

/** A subscription ended. */
export interface UnsubscribedEvent {
  readonly channel: string;
  readonly reason: string;
  /** The hub (or a refused subscribe) ended it, not `unsubscribe()`. */
  readonly byServer: boolean;
}

/** A subscription is being (re)established. */
export interface SubscribingEvent {
  readonly channel: string;
  readonly reason: 'subscribe' | 'reconnect' | 'retry';
}

/** Events of a {@link Channel}. */
export interface ChannelEvents<T> {
  publication: Publication<T>;
  gap: GapEvent;
  subscribing: SubscribingEvent;
  subscribed: SubscribedEvent;
  unsubscribed: UnsubscribedEvent;
  /** A subscribe was refused; transient refusals are retried, permanent ones also end the subscription. */
  error: { readonly channel: string; readonly error: VolleyError };
  /** A client joined (namespaces with join/leave events). */
  join: { readonly channel: string; readonly info: ClientInfo };
  leave: { readonly channel: string; readonly info: ClientInfo };
}

/**
 * Connection states; the client moves between them in one place and reports each move.
 *
 * @example
 * ```ts
 * client.on('state', ({ state }) => banner.hidden = state === ClientState.CONNECTED);
 * ```
 */
export const ClientState = {
  DISCONNECTED: 'disconnected',
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
} as const;
export type ClientState = (typeof ClientState)[keyof typeof ClientState];

/** Why the client is connecting. */
export interface ConnectingEvent {
  readonly reason: 'connect' | 'reconnect' | 'upgrade';
}

/** The connection is up (the hub answered `connect`). */
export interface ConnectedEvent {
  readonly clientId: string;
  readonly userId: string;
  readonly transport: TransportKind;
  /** When the token expires (ms since the epoch), if it does. */
  readonly expiresAt?: number;
}

/** A connection ended. */
export interface DisconnectedEvent {
  /** The hub's disconnect code (docs/protocol.md §7), the WebSocket close code, or 1000 for `disconnect()`. */
  readonly code: number;
  readonly reason: string;
  /** Whether the client will reconnect by itself. */
  readonly reconnect: boolean;
}

/** The client will reconnect after `delayMs`. */
export interface ReconnectingEvent {
  readonly delayMs: number;
  /** 1 for the first attempt since the last successful connect. */
  readonly attempt: number;
}

/** Every change of {@link ClientState}. */
export interface StateEvent {
  readonly state: ClientState;
  readonly previous: ClientState;
  readonly transport: TransportKind | null;
}

/** Events of a {@link Volley} client. */
export interface ClientEvents {
  connecting: ConnectingEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  reconnecting: ReconnectingEvent;
  state: StateEvent;
  /** The transport in use changed (a fallback, or an upgrade back to WebSocket). */
  transport: { readonly transport: TransportKind; readonly previous: TransportKind | null };
  /** Something went wrong that no promise reports (token refresh, a malformed message). */
  error: { readonly error: VolleyError };
  /** The hub asked to slow down; commands are held back for `retryAfterMs`. */
  rate_limited: { readonly retryAfterMs: number };
  /** A publication in a server-side subscription (one the client has no {@link Channel} for). */
  publication: Publication<unknown>;
  /** The hub subscribed this connection to a channel (server-side subscription). */
  subscribed: { readonly channel: string; readonly epoch: string; readonly offset: number };
  /** The hub ended a server-side subscription. */
  unsubscribed: { readonly channel: string; readonly reason: string };
  /** A gap in a server-side subscription. */
  gap: GapEvent;
}

/**
 * Channel states.
 *
 * @example
 * ```ts
 * if (room.state !== ChannelState.SUBSCRIBED) showSpinner();
 * ```
 */
export const ChannelState = {
  UNSUBSCRIBED: 'unsubscribed',
  SUBSCRIBING: 'subscribing',
  SUBSCRIBED: 'subscribed',
} as const;
export type ChannelState = (typeof ChannelState)[keyof typeof ChannelState];

