/**
 * Types shared across the protocol core and the layers that drive it: extension offers and the injected
 * per-message compression codec.
 *
 * @module
 */

import type { WebSocketError } from './errors.js';

/** Which end of the connection this side plays. */
export type Role = 'server' | 'client';

/**
 * One extension from a `Sec-WebSocket-Extensions` header (RFC 6455 §9.1), e.g.
 * `permessage-deflate; client_max_window_bits` → `{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }`.
 *
 * Parameters are kept as an ordered list of pairs, not an object, so a name such as `__proto__` or a duplicate
 * parameter can never alias an `Object.prototype` property or overwrite an earlier one unnoticed.
 */
export interface ExtensionOffer {
  /** Extension token, as sent (case preserved). */
  readonly name: string;
  /** Parameters in order; a parameter without `=value` has the value `true`. Quoted values are unquoted. */
  readonly params: ReadonlyArray<readonly [name: string, value: string | true]>;
}

/** Parameters of an agreed permessage-deflate extension (RFC 7692 §7), with defaults resolved. */
export interface DeflateParams {
  /** The server resets its compression context after each message. */
  readonly serverNoContextTakeover: boolean;
  /** The client resets its compression context after each message. */
  readonly clientNoContextTakeover: boolean;
  /** LZ77 window the server compresses with (8-15). */
  readonly serverMaxWindowBits: number;
  /** LZ77 window the client compresses with (8-15). */
  readonly clientMaxWindowBits: number;
}

/** Callback of {@link MessageCodec} operations. */
export type CodecCallback = (error: WebSocketError | Error | null, data?: Uint8Array) => void;

/**
 * Per-message compression, injected into the protocol core (which never calls zlib itself). The socket layer
 * implements it with `node:zlib`; tests may use a synchronous fake.
 *
 * Calls for one direction are made strictly one after another: the core never starts a `decompress` before the
 * previous one called back, and likewise for `compress`.
 */
export interface MessageCodec {
  /**
   * Inflates one frame's payload of a compressed message. On `fin` the codec appends the `00 00 ff ff` tail
   * (RFC 7692 §7.2.2) and, without context takeover, resets its window afterwards.
   *
   * Must fail with a `WebSocketError` of code `VOLLEY_ERR_PAYLOAD_TOO_BIG` (close 1009) as soon as the bytes
   * produced for this call exceed `limit`, and stop inflating; a corrupt stream fails with
   * `VOLLEY_ERR_INFLATE_FAILED` (close 1007).
   */
  decompress(data: Uint8Array, fin: boolean, limit: number, callback: CodecCallback): void;
  /**
   * Deflates a whole message and strips the `00 00 ff ff` tail (RFC 7692 §7.2.1). Without context takeover
   * the codec resets its window after the message.
   */
  compress(data: Uint8Array, callback: CodecCallback): void;
  /** Releases zlib resources; pending callbacks are never called afterwards. Idempotent. */
  close(): void;
}
