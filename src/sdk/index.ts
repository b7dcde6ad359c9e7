/**
 * The Volley client SDK, for browsers and Node: connect to a hub, subscribe to typed channels, publish with
 * acks, and let the SDK handle reconnects, exact recovery, the outbox, token refresh and fallbacks. The
 * reference is docs/client.md; the protocol underneath is docs/protocol.md.
 *
 * @example
 * ```ts
 * import { Volley } from 'volley/client';
 * import { WebSocket } from 'volley'; // Node 20 only; browsers have one
 *
 * const client = new Volley('http://localhost:8080', { WebSocket });
 * client.connect();
 * const room = client.channel<{ text: string }>('chat:lobby');
 * room.on('publication', ({ data, offset }) => console.log(offset, data.text));
 * await room.subscribe();
 * await room.publish({ text: 'hello' });
 * ```
 *
 * @module
 */

export { Volley } from './client.js';
export { shouldReconnect, tokenRefreshDelay } from './policy.js';
export { Channel } from './channel.js';
export type { SubscribeOptions } from './channel.js';
export { VolleyError, ClientErrorCode } from './errors.js';
export type { VolleyErrorCode, VolleyErrorDetails } from './errors.js';
export { backoffDelay, backoffBounds, DEFAULT_RECONNECT } from './backoff.js';
export type { ReconnectOptions } from './backoff.js';
export type { VolleyOptions, OutboxOptions, FallbackOptions } from './options.js';
export { ChannelState, ClientState } from './types.js';
export type {
  ChannelEvents,
  ClientEvents,
  ClientInfo,
  ConnectedEvent,
  ConnectingEvent,
  DisconnectedEvent,
  GapEvent,
  HistoryOptions,
  HistoryResult,
  PresenceOptions,
  PresenceResult,
  Publication,
  PublishAck,
  PublishOptions,
  ReconnectingEvent,
  StateEvent,
  StreamPosition,
  SubscribedEvent,
  SubscribingEvent,
  UnsubscribedEvent,
} from './types.js';
export type { TransportKind } from './transport.js';
export type {
  Clock,
  EventSourceConstructor,
  EventSourceLike,
  FetchLike,
  ResponseLike,
  WebSocketConstructor,
  WebSocketLike,
} from './environment.js';
export { Emitter } from './emitter.js';
export type { Listener } from './emitter.js';
export { SDK_NAME, SDK_VERSION } from './version.js';
