/**
 * Volley: a strictly conformant, fast WebSocket library for Node.js, and the realtime hub built on it.
 *
 * @example
 * ```ts
 * import { WebSocketServer } from 'volley';
 * const wss = new WebSocketServer({ port: 9001 });
 * wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString())));
 * ```
 *
 * @module
 */

export * from './socket/index.js';
export { CloseCode, ErrorCode, PreparedMessage, WebSocketError } from './protocol/index.js';
export type { PerMessageDeflateOptions } from './protocol/permessage-deflate.js';
