/**
 * Wire constants of RFC 6455: opcodes, close codes and the handshake GUID.
 *
 * @module
 */

/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** One of the opcodes defined by RFC 6455. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Close status codes (RFC 6455 §7.4.1) with the names Volley uses for them. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Reserved: never sent on the wire; reported when a close frame had no code. */
  NO_STATUS: 1005,
  /** Reserved: never sent on the wire; reported when the connection dropped without a close frame. */
  ABNORMAL: 1006,
  INVALID_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  /** Reserved: never sent on the wire; reported when the TLS handshake failed. */
  TLS_HANDSHAKE: 1015,
} as const;

/** The GUID appended to the client's key to compute `Sec-WebSocket-Accept` (RFC 6455 §1.3). */
export const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version RFC 6455 defines. */
export const WEBSOCKET_VERSION = 13;

/** Control frames carry at most 125 bytes of payload (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A close reason fits in a control frame after the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4).
 *
 * 1000-1003 and 1007-1014 are defined (1012-1014 by the IANA registry), 3000-4999 belong to libraries and
 * applications. 1004, 1005, 1006 and 1015 are reserved and must never be sent.
 */
export function isValidWireCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}
