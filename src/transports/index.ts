/**
 * `volley/transports`: how hub sessions reach clients — WebSocket, and the HTTP fallbacks (long-polling and
 * Server-Sent Events) for networks that block WebSockets.
 *
 * @module
 */

export { WebSocketTransport } from './websocket.js';
export type { WebSocketTransportOptions } from './websocket.js';
export { PollingTransport, POLLING_DEFAULTS } from './polling.js';
export type { PollingTransportOptions } from './polling.js';
export { SseTransport, SSE_DEFAULTS } from './sse.js';
export type { SseTransportOptions } from './sse.js';
export { decodePositions, encodePositions } from './sse-channels.js';
export type { Position } from './sse-channels.js';
export { FallbackErrorCode, HTTP_FALLBACK_DEFAULTS } from './http-session.js';
export type { HttpFallbackOptions, RequestHandler } from './http-session.js';
export { clientAddressOf } from './client-address.js';
export type { ClientAddress, TrustProxy } from './client-address.js';
