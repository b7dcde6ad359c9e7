/**
 * `volley/transports`: how hub sessions reach clients.
 *
 * @module
 */

export { WebSocketTransport } from './websocket.js';
export type { WebSocketTransportOptions } from './websocket.js';
