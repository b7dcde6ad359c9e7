/**
 * Frame header encoding (RFC 6455 §5.2):
 *
 * ```
 *  0                   1                   2                   3
 * +-+-+-+-+-------+-+-------------+-------------------------------+
 * |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 * |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 * |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 * | |1|2|3|       |K|             |                               |
 * +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 * |     Extended payload length continued, if payload len == 127  |
 * + - - - - - - - - - - - - - - - +-------------------------------+
 * |                               |Masking-key, if MASK set to 1  |
 * +-------------------------------+-------------------------------+
 * ```
 *
 * "In all cases, the minimal number of bytes MUST be used to encode the length": up to 125 in the 7 bits, up to
 * 65535 in 16 bits after a 126, anything larger in 64 bits after a 127, whose most significant bit MUST be 0.
 * The encoder is mechanical: whether an opcode, RSV bit or length is allowed for a given frame is the sender's
 * business.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { invalidArgument } from './errors.js';

/** Largest payload length carried in the 7-bit field. */
const MAX_7BIT = 125;
/** Largest payload length carried in the 16-bit extended field. */
const MAX_16BIT = 0xffff;
/** 2^32, to split a 64-bit length into two 32-bit halves. */
const TWO_POW_32 = 0x1_0000_0000;

function checkLength(payloadLength: number): void {
  // Lengths up to 2^53 - 1 are exact in a number and leave the 64-bit field's most significant bit at 0.
  if (!(Number.isSafeInteger(payloadLength) && payloadLength >= 0)) {
    invalidArgument(`payload length must be an integer from 0 to 2^53 - 1, got ${payloadLength}`);
  }
}

/**
 * Number of bytes of the header of a frame with this payload length: 2, 4 or 10, plus 4 for the masking key.
 *
 * @param payloadLength - Payload length in bytes, 0 to 2^53 - 1.
 * @param masked - Whether the frame carries a masking key (every client-to-server frame does).
 * @throws {@link WebSocketError} `VOLLEY_ERR_INVALID_ARGUMENT` when the length is not an integer in range.
 *
 * @example
 * ```ts
 * frameHeaderSize(125, false); // 2
 * frameHeaderSize(126, true); // 8
 * ```
 */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  checkLength(payloadLength);
  const size = payloadLength <= MAX_7BIT ? 2 : payloadLength <= MAX_16BIT ? 4 : 10;
  return masked ? size + 4 : size;
}

/**
 * Writes a frame header into `target` at `offset`: FIN, RSV1, opcode, the payload length in its shortest form
 * and, when `mask` is given, the MASK bit and the 4-byte masking key. RSV2 and RSV3 are always 0.
 *
 * @param target - Buffer to write into; needs {@link frameHeaderSize} bytes from `offset`.
 * @param offset - Index of the header's first byte.
 * @param opcode - Frame opcode, 0 to 15.
 * @param fin - Whether this is the final fragment of a message.
 * @param rsv1 - Whether to set RSV1 (the "per-message compressed" bit of RFC 7692).
 * @param payloadLength - Payload length in bytes, 0 to 2^53 - 1.
 * @param mask - The 4-byte masking key, or `null` for an unmasked frame.
 * @returns The offset just past the header, where the payload goes.
 * @throws {@link WebSocketError} `VOLLEY_ERR_INVALID_ARGUMENT` when an argument is out of range or the header
 * does not fit in `target`; nothing is written then.
 *
 * @example
 * ```ts
 * const frame = Buffer.allocUnsafe(frameHeaderSize(payload.length, false) + payload.length);
 * const at = writeFrameHeader(frame, 0, Opcode.Binary, true, false, payload.length, null);
 * frame.set(payload, at);
 * ```
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  payloadLength: number,
  mask: Uint8Array | null,
): number {
  if (!(Number.isInteger(opcode) && opcode >= 0 && opcode <= 0xf)) invalidArgument(`invalid opcode ${opcode}`);
  if (mask !== null && mask.length !== 4) invalidArgument(`a masking key is 4 bytes, got ${mask.length}`);
  const size = frameHeaderSize(payloadLength, mask !== null);
  if (!(Number.isInteger(offset) && offset >= 0 && offset + size <= target.length)) {
    invalidArgument(`a ${size}-byte header does not fit in ${target.length} bytes at offset ${offset}`);
  }

  let at = offset;
  target[at++] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = mask !== null ? 0x80 : 0;
  if (payloadLength <= MAX_7BIT) {
    target[at++] = maskBit | payloadLength;
  } else if (payloadLength <= MAX_16BIT) {
    target[at++] = maskBit | 126;
    target[at++] = payloadLength >>> 8;
    target[at++] = payloadLength & 0xff;
  } else {
    target[at++] = maskBit | 127;
    const high = Math.floor(payloadLength / TWO_POW_32);
    const low = payloadLength >>> 0;
    target[at++] = high >>> 24;
    target[at++] = (high >>> 16) & 0xff;
    target[at++] = (high >>> 8) & 0xff;
    target[at++] = high & 0xff;
    target[at++] = low >>> 24;
    target[at++] = (low >>> 16) & 0xff;
    target[at++] = (low >>> 8) & 0xff;
    target[at++] = low & 0xff;
  }
  if (mask !== null) {
    target[at++] = mask[0];
    target[at++] = mask[1];
    target[at++] = mask[2];
    target[at++] = mask[3];
  }
  return at;
}

/**
 * Allocates a Buffer holding exactly the frame header described by the arguments (see {@link writeFrameHeader}).
 * For small headers the bytes come from Node's shared pool.
 *
 * @param opcode - Frame opcode, 0 to 15.
 * @param fin - Whether this is the final fragment of a message.
 * @param rsv1 - Whether to set RSV1 (the "per-message compressed" bit of RFC 7692).
 * @param payloadLength - Payload length in bytes, 0 to 2^53 - 1.
 * @param mask - The 4-byte masking key, or `null` for an unmasked frame.
 * @throws {@link WebSocketError} `VOLLEY_ERR_INVALID_ARGUMENT` when an argument is out of range.
 *
 * @example
 * ```ts
 * encodeFrameHeader(Opcode.Text, true, false, 5, null); // <Buffer 81 05>
 * ```
 */
export function encodeFrameHeader(
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  payloadLength: number,
  mask: Uint8Array | null,
): Buffer {
  const header = Buffer.allocUnsafe(frameHeaderSize(payloadLength, mask !== null));
  writeFrameHeader(header, 0, opcode, fin, rsv1, payloadLength, mask);
  return header;
}
