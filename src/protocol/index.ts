/**
 * `volley/protocol`: the sans-I/O RFC 6455 / RFC 7692 core. Bytes in, events and bytes out; no sockets,
 * timers or zlib. Use it to run WebSockets over any transport, or to test a peer with byte literals.
 *
 * @module
 */

export * from './constants.js';
export * from './errors.js';
export type * from './types.js';
export { Connection, ConnectionState, encodeClosePayload, DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_MESSAGE_SIZE } from './connection.js';
export type { ConnectionEvents, ConnectionOptions } from './connection.js';
export { applyMask, maskInto } from './mask.js';
export { PreparedMessage } from './prepared.js';
export { Utf8Validator, isValidUtf8 } from './utf8.js';
export { encodeFrameHeader, frameHeaderSize, writeFrameHeader } from './frame-header.js';
export * from './handshake.js';
export * from './header-tokens.js';
export * from './permessage-deflate.js';
