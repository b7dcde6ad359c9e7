/**
 * Unmasking with WebAssembly SIMD: 16 bytes per instruction where the JavaScript path (`mask.ts`) does 4, and a
 * check that the unmasked bytes are ASCII in the same pass, which spares a text message its UTF-8 validation.
 *
 * WebAssembly cannot reach a Node Buffer's memory, so bytes are copied into the module's memory and back. The
 * copies are `memcpy`s, cheap next to a JavaScript XOR loop, but each call has a fixed cost, so two uses pay:
 * - {@link unmaskWholeFrames}: a server's read that holds several frames, unmasked in one call (one copy in, one
 *   copy out for all of them);
 * - {@link xorRangeSimd}: one long payload.
 *
 * The module is compiled once, synchronously (it is ~400 bytes), when this file is first imported. Where
 * WebAssembly or its SIMD instructions are missing (`node --jitless`, an old CPU) nothing here is used and the
 * JavaScript path does the work: {@link simdMasking} says which.
 *
 * @module
 */

import { UNMASK_WASM_BASE64 } from './wasm/unmask-module.js';

// The part of the WebAssembly global used here (the project's `lib` has no DOM types, which declare it).
declare const WebAssembly:
  | {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: unknown };
    }
  | undefined;

interface UnmaskExports {
  memory: { buffer: ArrayBuffer };
  unmask(ptr: number, length: number, key: number): number;
  unmaskFrames(length: number, maxLength: number): number;
}

/** The module's memory: two pages, never grown, so these views stay valid. */
const CAPACITY = 128 * 1024;

/** A read shorter than this is unmasked frame by frame in JavaScript: the call and copies would cost more. */
export const SIMD_CHUNK_THRESHOLD = 256;

/** From this many bytes on, one payload range is unmasked with SIMD. */
export const SIMD_RANGE_THRESHOLD = 1024;

function instantiate(): UnmaskExports | null {
  try {
    if (typeof WebAssembly !== 'object' || WebAssembly === null) return null;
    const module = new WebAssembly.Module(Buffer.from(UNMASK_WASM_BASE64, 'base64'));
    return new WebAssembly.Instance(module, {}).exports as unknown as UnmaskExports;
  } catch {
    // No SIMD on this CPU, or WebAssembly disabled: the JavaScript path remains.
    return null;
  }
}

const wasm = instantiate();
/** A Buffer over the module's memory, to copy into without making a view per call. */
const memory = wasm === null ? null : Buffer.from(wasm.memory.buffer, 0, CAPACITY);
let enabled = wasm !== null;

/** `Buffer#copy` for any Uint8Array source: a native copy without a view made for it. */
const copyBytes = (source: Uint8Array, start: number, end: number, target: Uint8Array, at: number): number =>
  Buffer.prototype.copy.call(source, target, at, start, end);

/** Whether unmasking uses WebAssembly SIMD in this process. */
export function simdMasking(): boolean {
  return enabled;
}

/**
 * @internal For tests: turn the SIMD path off (to test the JavaScript path) or back on where available.
 * Returns whether it is now on.
 */
export function setSimdMasking(on: boolean): boolean {
  enabled = on && wasm !== null;
  return enabled;
}

/**
 * A server's fast path for a read holding whole frames: unmasks, in place, the payload of every frame from
 * `chunk[0]` on that is whole, FIN, Text or Binary with RSV1-3 clear, masked, with a 7- or 16-bit length of at
 * most `maxLength`, and stops at the first frame that is anything else. Returns where it stopped (0 when it did
 * nothing): `chunk[0..result)` holds whole frames, all unmasked.
 *
 * Each of those frames' masking key is spent, and its first key byte is overwritten: 1 when the payload is all
 * ASCII (so valid UTF-8), 0 otherwise. The caller must parse `chunk[0..result)` knowing this; nothing else may
 * read those keys.
 */
export function unmaskWholeFrames(chunk: Buffer, maxLength: number): number {
  const length = chunk.length;
  if (!enabled || length < SIMD_CHUNK_THRESHOLD || length > CAPACITY) return 0;
  // A first frame that does not end in this read (a large one arriving over several reads) stops the walk at
  // once: skip the copy in. Its other checks are the module's.
  const b1 = chunk[1]! & 0x7f;
  const firstEnd = b1 < 126 ? 6 + b1 : b1 === 126 ? 8 + chunk.readUInt16BE(2) : Infinity;
  if (firstEnd > length) return 0;
  const mem = memory!;
  mem.set(chunk, 0);
  const end = wasm!.unmaskFrames(length, maxLength);
  if (end > 0) chunk.set(new Uint8Array(wasm!.memory.buffer, 0, end));
  return end;
}

/**
 * XORs `data[start..end)` with the key word `key` (little-endian: its low byte is the key byte for
 * `data[start]`), in place or, given `out`, into `out[outAt..)` with `data` left as it was. Returns whether the
 * result is all ASCII. Any length; worth it from {@link SIMD_RANGE_THRESHOLD} bytes on. Only call while
 * {@link simdMasking} is true.
 */
export function xorRangeSimd(data: Uint8Array, start: number, end: number, key: number, out: Uint8Array = data, outAt = start): boolean {
  const mem = memory!;
  const unmask = wasm!.unmask;
  let ascii = true;
  // Whole blocks of CAPACITY bytes (a multiple of 4) keep the key in step.
  for (let at = start; at < end; at += CAPACITY) {
    const n = Math.min(CAPACITY, end - at);
    // All of a view in one piece: the typed-array copy, without Buffer#copy's argument handling.
    if (n === data.length) mem.set(data, 0);
    else copyBytes(data, at, at + n, mem, 0);
    if (unmask(0, n, key) === 0) ascii = false;
    out.set(new Uint8Array(wasm!.memory.buffer, 0, n), outAt + (at - start));
  }
  return ascii;
}
