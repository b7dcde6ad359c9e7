/**
 * Payload masking (RFC 6455 §5.3): "octet i of the transformed data is the XOR of octet i of the original data
 * with octet at index i modulo 4 of the masking key".
 *
 * Masking runs over every byte a client sends and a server receives. Long ranges go to WebAssembly SIMD
 * (`simd-mask.ts`) where it is available; otherwise this works a 32-bit word at a time on the aligned middle of
 * the data and byte by byte only on the unaligned head and tail. Short inputs, where building
 * a word view costs more than it saves, take a byte loop unrolled four times with the key held in locals.
 *
 * @module
 */

import { invalidArgument } from './errors.js';
import { SIMD_RANGE_THRESHOLD, simdMasking, xorRangeSimd } from './simd-mask.js';

/**
 * From this many bytes on, XOR a 32-bit word at a time. Below it, an unrolled byte loop wins because creating the
 * `Int32Array` view costs about 55 ns (Node 20, x64): the byte loop runs 16 B in 11 ns and 96 B in 58 ns, the
 * word loop 96 B in 69 ns, and they tie at 128 B. At 64 KiB the word loop is about 4.5x faster.
 */
const WORD_THRESHOLD = 128;

/** Whether this machine stores the least significant byte of a word first (true on x64 and arm64). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function checkMask(mask: Uint8Array): void {
  if (mask.length !== 4) invalidArgument(`a masking key is 4 bytes, got ${mask.length}`);
}

/**
 * The key at `mask[keyAt..keyAt + 4)`, rotated by `phase`, as the word WebAssembly takes: little-endian (its low
 * byte is the key byte for the first data byte), whatever this machine's byte order.
 */
function simdKey(mask: Uint8Array, keyAt: number, phase: number): number {
  return (
    mask[keyAt + (phase & 3)]! |
    (mask[keyAt + ((phase + 1) & 3)]! << 8) |
    (mask[keyAt + ((phase + 2) & 3)]! << 16) |
    (mask[keyAt + ((phase + 3) & 3)]! << 24)
  );
}

/**
 * XORs `data[start..end)` in place with the 4-byte key at `mask[keyAt..keyAt + 4)`, rotated so that
 * `data[start]` takes `mask[keyAt + (phase & 3)]`: the key byte for `data[i]` is `mask[keyAt + ((phase + i - start) & 3)]`.
 */
function xorRange(data: Uint8Array, start: number, end: number, mask: Uint8Array, keyAt: number, phase: number): void {
  if (end - start >= SIMD_RANGE_THRESHOLD && simdMasking()) {
    xorRangeSimd(data, start, end, simdKey(mask, keyAt, phase));
    return;
  }
  let i = start;
  // Key bytes for data[i], data[i + 1], data[i + 2], data[i + 3]; `& 3` keeps the low bits of any safe integer.
  let k0 = mask[keyAt + (phase & 3)];
  let k1 = mask[keyAt + ((phase + 1) & 3)];
  let k2 = mask[keyAt + ((phase + 2) & 3)];
  let k3 = mask[keyAt + ((phase + 3) & 3)];

  if (end - start >= WORD_THRESHOLD) {
    // Unaligned head, byte by byte until data.byteOffset + i is a multiple of 4, rotating the key as we go.
    for (let head = (4 - ((data.byteOffset + i) & 3)) & 3; head > 0; head--) {
      data[i++] ^= k0;
      const k = k0;
      k0 = k1;
      k1 = k2;
      k2 = k3;
      k3 = k;
    }
    const key = LITTLE_ENDIAN ? k0 | (k1 << 8) | (k2 << 16) | (k3 << 24) : (k0 << 24) | (k1 << 16) | (k2 << 8) | k3;
    const words = (end - i) >>> 2;
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    let w = 0;
    for (const unrolled = words & ~7; w < unrolled; w += 8) {
      view[w] ^= key;
      view[w + 1] ^= key;
      view[w + 2] ^= key;
      view[w + 3] ^= key;
      view[w + 4] ^= key;
      view[w + 5] ^= key;
      view[w + 6] ^= key;
      view[w + 7] ^= key;
    }
    for (; w < words; w++) view[w] ^= key;
    i += words << 2;
    // A whole number of words went by, so k0..k3 still line up with data[i].
  }

  for (const unrolled = i + ((end - i) & ~3); i < unrolled; i += 4) {
    data[i] ^= k0;
    data[i + 1] ^= k1;
    data[i + 2] ^= k2;
    data[i + 3] ^= k3;
  }
  if (i < end) {
    data[i] ^= k0;
    if (++i < end) {
      data[i] ^= k1;
      if (++i < end) data[i] ^= k2;
    }
  }
}

/**
 * Masks or unmasks `data` in place (the operation is its own inverse).
 *
 * `offset` is the position of `data[0]` within the frame payload, so a payload that arrives in several chunks can
 * be unmasked chunk by chunk: the key byte for `data[i]` is `mask[(offset + i) & 3]`. Works on any view, whatever
 * its `byteOffset` (Buffers sliced from Node's pool included).
 *
 * @param data - Bytes to transform in place.
 * @param mask - The 4-byte masking key from the frame header.
 * @param offset - Position of `data[0]` in the payload. @default 0
 * @throws {@link WebSocketError} `VOLLEY_ERR_INVALID_ARGUMENT` when `mask` is not 4 bytes long.
 *
 * @example
 * ```ts
 * const payload = Uint8Array.of(0x7f, 0x9f, 0x4d, 0x51, 0x58);
 * applyMask(payload, Uint8Array.of(0x37, 0xfa, 0x21, 0x3d));
 * new TextDecoder().decode(payload); // 'Hello'
 * ```
 */
export function applyMask(data: Uint8Array, mask: Uint8Array, offset = 0): void {
  checkMask(mask);
  xorRange(data, 0, data.length, mask, 0, offset);
}

/**
 * Unmasks a whole frame's payload `data[start..end)` in place with the key the frame header holds at
 * `data[keyAt..keyAt + 4)` (before `start`): the parser's one-step path, without copying the key out first.
 * Not checked: the caller guarantees `keyAt + 4 <= start <= end <= data.length`.
 */
export function unmaskInPlace(data: Uint8Array, start: number, end: number, keyAt: number): void {
  xorRange(data, start, end, data, keyAt, 0);
}

/**
 * Unmasks `src` into `dest[destOffset..)`, leaving `src` as it was: a payload arriving over several reads goes
 * straight into the buffer it is assembled in, with no copy to join the pieces afterwards. `phase` is the position
 * of `src[0]` in the frame payload (the key byte for `src[i]` is `mask[(phase + i) & 3]`).
 * Not checked: the caller guarantees a 4-byte `mask` and that `src` fits in `dest` at `destOffset`.
 *
 * @internal
 */
export function unmaskInto(src: Uint8Array, mask: Uint8Array, phase: number, dest: Uint8Array, destOffset: number): void {
  const length = src.length;
  if (length >= SIMD_RANGE_THRESHOLD && simdMasking()) {
    // Copied into WebAssembly memory, unmasked there and copied out to `dest`: the copy out is the join.
    xorRangeSimd(src, 0, length, simdKey(mask, 0, phase), dest, destOffset);
    return;
  }
  dest.set(src, destOffset);
  xorRange(dest, destOffset, destOffset + length, mask, 0, phase);
}

/**
 * Writes `src` XOR `mask` into `dest` starting at `destOffset`, leaving `src` untouched: a client masks an
 * application's buffer straight into the outgoing frame. The key starts at `mask[0]` for `src[0]`.
 *
 * @param src - Payload to mask; not modified.
 * @param mask - The 4-byte masking key written in the frame header.
 * @param dest - Buffer receiving the masked bytes.
 * @param destOffset - Index in `dest` of the first masked byte.
 * @throws {@link WebSocketError} `VOLLEY_ERR_INVALID_ARGUMENT` when `mask` is not 4 bytes long or `src` does not
 * fit in `dest` at `destOffset`.
 *
 * @example
 * ```ts
 * const frame = new Uint8Array(header.length + payload.length);
 * frame.set(header);
 * maskInto(payload, key, frame, header.length);
 * ```
 */
export function maskInto(src: Uint8Array, mask: Uint8Array, dest: Uint8Array, destOffset: number): void {
  checkMask(mask);
  const length = src.length;
  if (!(destOffset >= 0 && destOffset + length <= dest.length) || !Number.isInteger(destOffset)) {
    invalidArgument(`${length} bytes do not fit in a buffer of ${dest.length} at offset ${destOffset}`);
  }
  if (length < WORD_THRESHOLD) {
    const k0 = mask[0];
    const k1 = mask[1];
    const k2 = mask[2];
    const k3 = mask[3];
    let i = 0;
    for (const unrolled = length & ~3; i < unrolled; i += 4) {
      dest[destOffset + i] = src[i] ^ k0;
      dest[destOffset + i + 1] = src[i + 1] ^ k1;
      dest[destOffset + i + 2] = src[i + 2] ^ k2;
      dest[destOffset + i + 3] = src[i + 3] ^ k3;
    }
    for (; i < length; i++) dest[destOffset + i] = src[i] ^ mask[i & 3];
    return;
  }
  // A native copy then an in-place word XOR beats any byte loop; src and dest alignments rarely match.
  dest.set(src, destOffset);
  xorRange(dest, destOffset, destOffset + length, mask, 0, 0);
}
