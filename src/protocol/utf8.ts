/**
 * UTF-8 validation (RFC 3629 §4), whole-buffer and incremental.
 *
 * RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not,
 * in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_." A text message may arrive in
 * many fragments and each fragment in many reads, so {@link Utf8Validator} carries its state across chunks and
 * rejects at the first byte that cannot continue valid UTF-8 — `ED A0` (a surrogate) is rejected at the `A0`, not
 * at the end of the message.
 *
 * @module
 */

import * as nodeBuffer from 'node:buffer';
import { invalidArgument } from './errors.js';

/** Node's native (SIMD) validator, present since Node 18.14; looked up so an older runtime falls back to the DFA. */
const nativeIsUtf8: ((input: Uint8Array) => boolean) | undefined =
  typeof nodeBuffer.isUtf8 === 'function' ? nodeBuffer.isUtf8 : undefined;

/**
 * Chunks at least this long are first handed to the native validator. A native call costs about 25 ns (80 ns when
 * a subarray has to be made for it) while the DFA takes about 1.3 ns per ASCII byte and 2 ns per non-ASCII byte
 * (Node 20, x64), so the DFA alone wins only on shorter chunks.
 */
const NATIVE_THRESHOLD = 32;

// Byte classes. Each lead byte whose first continuation byte has a narrower range than 80..BF gets its own class
// (RFC 3629 §4, the UTF8-3 and UTF8-4 rules), which is what lets the DFA reject overlongs, surrogates and
// code points above U+10FFFF at their second byte.
const ASCII = 0; // 00..7F
const CONT_80 = 1; // 80..8F
const CONT_90 = 2; // 90..9F
const CONT_A0 = 3; // A0..BF
const NEVER = 4; // C0, C1 (overlong 2-byte leads), F5..FF (beyond U+10FFFF, old 5- and 6-byte forms)
const LEAD_2 = 5; // C2..DF
const LEAD_E0 = 6; // E0: next byte A0..BF, else overlong
const LEAD_3 = 7; // E1..EC, EE, EF
const LEAD_ED = 8; // ED: next byte 80..9F, else a UTF-16 surrogate
const LEAD_F0 = 9; // F0: next byte 90..BF, else overlong
const LEAD_4 = 10; // F1..F3
const LEAD_F4 = 11; // F4: next byte 80..8F, else above U+10FFFF
const CLASSES = 12;

// States, premultiplied by CLASSES so a transition is one add and one load.
const ACCEPT = 0; // on a code point boundary
const REJECT = 1 * CLASSES; // not valid UTF-8, whatever follows
const NEED_1 = 2 * CLASSES; // one continuation byte (80..BF) to go
const NEED_2 = 3 * CLASSES; // two to go, the next one 80..BF
const NEED_2_AFTER_E0 = 4 * CLASSES; // two to go, the next one A0..BF
const NEED_2_AFTER_ED = 5 * CLASSES; // two to go, the next one 80..9F
const NEED_3 = 6 * CLASSES; // three to go, the next one 80..BF
const NEED_3_AFTER_F0 = 7 * CLASSES; // three to go, the next one 90..BF
const NEED_3_AFTER_F4 = 8 * CLASSES; // three to go, the next one 80..8F
const STATES = 9;

/** Class of each byte value. */
const BYTE_CLASS = new Uint8Array(256);
/** Next state, indexed by state + class; every transition not listed goes to REJECT. */
const TRANSITION = new Uint8Array(STATES * CLASSES).fill(REJECT);

function classify(from: number, to: number, byteClass: number): void {
  BYTE_CLASS.fill(byteClass, from, to + 1);
}

function allow(state: number, byteClasses: readonly number[], next: number): void {
  for (const byteClass of byteClasses) TRANSITION[state + byteClass] = next;
}

classify(0x00, 0x7f, ASCII);
classify(0x80, 0x8f, CONT_80);
classify(0x90, 0x9f, CONT_90);
classify(0xa0, 0xbf, CONT_A0);
classify(0xc0, 0xc1, NEVER);
classify(0xc2, 0xdf, LEAD_2);
classify(0xe0, 0xe0, LEAD_E0);
classify(0xe1, 0xec, LEAD_3);
classify(0xed, 0xed, LEAD_ED);
classify(0xee, 0xef, LEAD_3);
classify(0xf0, 0xf0, LEAD_F0);
classify(0xf1, 0xf3, LEAD_4);
classify(0xf4, 0xf4, LEAD_F4);
classify(0xf5, 0xff, NEVER);

const ANY_CONT = [CONT_80, CONT_90, CONT_A0];
allow(ACCEPT, [ASCII], ACCEPT);
allow(ACCEPT, [LEAD_2], NEED_1);
allow(ACCEPT, [LEAD_E0], NEED_2_AFTER_E0);
allow(ACCEPT, [LEAD_3], NEED_2);
allow(ACCEPT, [LEAD_ED], NEED_2_AFTER_ED);
allow(ACCEPT, [LEAD_F0], NEED_3_AFTER_F0);
allow(ACCEPT, [LEAD_4], NEED_3);
allow(ACCEPT, [LEAD_F4], NEED_3_AFTER_F4);
allow(NEED_1, ANY_CONT, ACCEPT);
allow(NEED_2, ANY_CONT, NEED_1);
allow(NEED_2_AFTER_E0, [CONT_A0], NEED_1);
allow(NEED_2_AFTER_ED, [CONT_80, CONT_90], NEED_1);
allow(NEED_3, ANY_CONT, NEED_2);
allow(NEED_3_AFTER_F0, [CONT_90, CONT_A0], NEED_2);
allow(NEED_3_AFTER_F4, [CONT_80], NEED_2);

/** Runs the DFA over `data[start..end)` from `state`; returns the final state, stopping early at REJECT. */
function run(state: number, data: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    if (state === ACCEPT) {
      // Fast path: runs of ASCII leave the state at ACCEPT.
      while (i < end && data[i] < 0x80) i++;
      if (i === end) break;
    }
    state = TRANSITION[state + BYTE_CLASS[data[i++]]];
    if (state === REJECT) break;
  }
  return state;
}

/**
 * Where the last, possibly incomplete, code point of `data[start..end)` begins if it is incomplete; otherwise
 * `end`. Only looks at the last four bytes; anything odd there is left for the validators to judge.
 */
function lastBoundary(data: Uint8Array, start: number, end: number): number {
  let i = end - 1;
  const stop = Math.max(start, end - 4);
  while (i > stop && (data[i] & 0xc0) === 0x80) i--;
  const lead = data[i];
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return i + length > end ? i : end;
}

/**
 * Incremental UTF-8 validator for text that arrives in pieces (fragments, reads). Feed the bytes in order with
 * {@link Utf8Validator.update}; when the message ends, {@link Utf8Validator.complete} says whether it stopped on
 * a code point boundary.
 *
 * Fails fast: `update` returns `false` for the chunk holding the first byte that cannot continue valid UTF-8
 * (overlong forms, surrogates, code points above U+10FFFF, bytes C0, C1, F5..FF, stray continuation bytes), even
 * if that chunk is the middle of a fragment. Non-characters such as U+FFFE and U+FFFF are valid.
 *
 * @example
 * ```ts
 * const validator = new Utf8Validator();
 * validator.update(Uint8Array.of(0xe2, 0x82)); // true: a prefix of '€'
 * validator.complete; // false
 * validator.update(Uint8Array.of(0xac)); // true
 * validator.complete; // true
 * validator.update(Uint8Array.of(0xed, 0xa0)); // false: U+D800 is a surrogate
 * ```
 */
export class Utf8Validator {
  #state = ACCEPT;

  /**
   * Validates the next bytes of the text, `data[start..end)`.
   *
   * @param data - The bytes; not modified.
   * @param start - Index of the first byte to read. @default 0
   * @param end - Index after the last byte to read. @default data.length
   * @returns `false` once the bytes seen since the last {@link Utf8Validator.reset} cannot begin valid UTF-8;
   * it keeps returning `false` until reset.
   * @throws {@link WebSocketError} `VOLLEY_ERR_INVALID_ARGUMENT` when `start`/`end` are not integers with
   * `0 <= start <= end <= data.length`.
   */
  update(data: Uint8Array, start = 0, end = data.length): boolean {
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= data.length)) {
      invalidArgument(`invalid range [${start}, ${end}) of ${data.length} bytes`);
    }
    let state = this.#state;
    if (state === REJECT) return false;
    if (state === ACCEPT && end - start >= NATIVE_THRESHOLD && nativeIsUtf8 !== undefined) {
      // Let the native validator vouch for everything up to the last complete code point; the DFA takes the rest.
      const boundary = lastBoundary(data, start, end);
      const whole = start === 0 && boundary === data.length;
      if (nativeIsUtf8(whole ? data : data.subarray(start, boundary))) start = boundary;
    }
    state = run(state, data, start, end);
    this.#state = state;
    return state !== REJECT;
  }

  /** Whether the bytes so far are valid UTF-8 ending on a code point boundary (true before any byte is fed). */
  get complete(): boolean {
    return this.#state === ACCEPT;
  }

  /** Forgets everything fed so far, ready for the next message. */
  reset(): void {
    this.#state = ACCEPT;
  }
}

/**
 * Whether `data` is, as a whole, valid UTF-8. Uses Node's native `isUtf8` (`node:buffer`, SIMD accelerated)
 * when the runtime has it and the DFA of {@link Utf8Validator} otherwise.
 *
 * @example
 * ```ts
 * isValidUtf8(new TextEncoder().encode('Grüße')); // true
 * isValidUtf8(Uint8Array.of(0xc0, 0x80)); // false: overlong NUL
 * ```
 */
export function isValidUtf8(data: Uint8Array): boolean {
  if (nativeIsUtf8 !== undefined) return nativeIsUtf8(data);
  return run(ACCEPT, data, 0, data.length) === ACCEPT;
}
