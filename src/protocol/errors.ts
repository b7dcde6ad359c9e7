/**
 * Errors raised by the protocol core. Each carries a stable `code` (listed in docs/errors.md) and, where the
 * error came from the peer, the close code the connection is failed with.
 *
 * @module
 */

/** Stable error codes. Never renamed once released; docs/errors.md lists each with its meaning. */
export const ErrorCode = {
  /** A frame broke RFC 6455 framing rules (bad opcode, RSV bit, mask, control frame size, sequence). */
  PROTOCOL: 'VOLLEY_ERR_PROTOCOL',
  /** A 64-bit payload length had its most significant bit set. */
  INVALID_LENGTH: 'VOLLEY_ERR_INVALID_PAYLOAD_LENGTH',
  /** A text message or close reason was not valid UTF-8. */
  INVALID_UTF8: 'VOLLEY_ERR_INVALID_UTF8',
  /** A close frame carried a code that may not be sent, or a 1-byte payload. */
  INVALID_CLOSE_CODE: 'VOLLEY_ERR_INVALID_CLOSE_CODE',
  /** A message (after decompression) exceeded `maxMessageSize`. */
  PAYLOAD_TOO_BIG: 'VOLLEY_ERR_PAYLOAD_TOO_BIG',
  /** A fragmented message had more than `maxFragments` frames. */
  TOO_MANY_FRAGMENTS: 'VOLLEY_ERR_TOO_MANY_FRAGMENTS',
  /** Decompression failed (corrupt deflate stream). */
  INFLATE_FAILED: 'VOLLEY_ERR_INFLATE_FAILED',
  /** The opening handshake was invalid. */
  HANDSHAKE: 'VOLLEY_ERR_HANDSHAKE',
  /** An argument given by the caller was invalid (thrown synchronously, nothing sent). */
  INVALID_ARGUMENT: 'VOLLEY_ERR_INVALID_ARGUMENT',
  /** The operation is not allowed in the connection's current state (for example sending while connecting). */
  INVALID_STATE: 'VOLLEY_ERR_INVALID_STATE',
  /** The outbound buffer passed `maxBufferedAmount` under the `'close'` policy: the connection was terminated. */
  SLOW_CONSUMER: 'VOLLEY_ERR_SLOW_CONSUMER',
  /** The peer did not answer a heartbeat ping within `pongTimeout`: the connection was terminated. */
  HEARTBEAT_TIMEOUT: 'VOLLEY_ERR_HEARTBEAT_TIMEOUT',
} as const;

/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error of the WebSocket protocol. When the peer caused it, `closeCode` is the status code the connection
 * was (or will be) failed with.
 */
export class WebSocketError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Close code used to fail the connection, when the peer caused the error. */
  readonly closeCode: number | undefined;

  constructor(code: ErrorCode, message: string, closeCode?: number) {
    super(message);
    this.name = 'WebSocketError';
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** Throws a caller error synchronously (habit 4: a caller's error throws, nothing goes on the wire). */
export function invalidArgument(message: string): never {
  throw new WebSocketError(ErrorCode.INVALID_ARGUMENT, message);
}
