/**
 * The WebSocket I/O layer: server, Node client and their options.
 *
 * @module
 */

export { WebSocket, SendStatus, SLOW_CONSUMER } from './websocket.js';
export type { BinaryType, WebSocketBaseOptions } from './websocket.js';
export { CloseEvent, ErrorEvent, MessageEvent, OpenEvent } from './events.js';
export { WebSocketServer, normalizeOrigin } from './server.js';
export type { Rejection, VerifyClientInfo, WebSocketServerOptions } from './server.js';
export type { ClientOptions } from './client.js';
export { Heartbeat } from './heartbeat.js';
export type { HeartbeatOptions } from './heartbeat.js';
