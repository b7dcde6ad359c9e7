/**
 * Send timestamps carried inside message payloads: 8 characters of the base64url alphabet encoding a 48-bit count
 * of microseconds on the generator's monotonic clock. The characters are ASCII (valid UTF-8 for text frames) and
 * need no escaping in JSON (Socket.IO wraps payloads in a JSON array), so the same stamp works in every mode.
 *
 * Stamps sit at a payload offset that is a multiple of 4, so byte `j` of a stamp is masked with key byte `j & 3`.
 *
 * @module
 */

/** Bytes a stamp occupies in a payload. */
export const STAMP_SIZE = 8;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ENCODE = Buffer.from(ALPHABET, 'latin1');
const DECODE = new Int8Array(256).fill(-1);
for (let i = 0; i < ENCODE.length; i++) DECODE[ENCODE[i]!] = i;

/** Microseconds on the monotonic clock (`performance.now()`), as an integer. */
export function nowMicros(): number {
  return Math.round(performance.now() * 1000);
}

/** Writes the 8 stamp characters of `micros` into `out` (8 bytes), most significant digit first. */
export function encodeStamp(micros: number, out: Uint8Array): void {
  let v = micros;
  for (let j = STAMP_SIZE - 1; j >= 0; j--) {
    const digit = v % 64;
    out[j] = ENCODE[digit]!;
    v = (v - digit) / 64;
  }
}

/**
 * Reads a stamp at `buf[at..at+8)`, unmasking with `mask` (4 key bytes packed big-endian, 0 when unmasked).
 * Returns -1 when the bytes are not a stamp.
 */
export function decodeStamp(buf: Uint8Array, at: number, mask: number): number {
  let v = 0;
  for (let j = 0; j < STAMP_SIZE; j++) {
    const d = DECODE[buf[at + j]! ^ ((mask >>> (24 - 8 * (j & 3))) & 0xff)]!;
    if (d < 0) return -1;
    v = v * 64 + d;
  }
  return v;
}
