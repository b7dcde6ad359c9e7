import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer, isUtf8 } from 'node:buffer';
import { Utf8Validator, isValidUtf8 } from './utf8.js';
import { WebSocketError } from './errors.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.of(...values);
const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex').replace(/(..)(?=.)/g, '$1 ');
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** "κόσμε", the Greek word of Markus Kuhn's test file and Autobahn 6.3/6.4. */
const KOSME = bytes(0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5);
/** A 50-byte ASCII run: long enough to put the chunk on the native fast path. */
const ASCII_RUN = utf8('a'.repeat(50));

const VALID: ReadonlyArray<readonly [string, Uint8Array]> = [
  ['the empty string', bytes()],
  ['ASCII', utf8('Hello, world!')],
  ['Autobahn 6.2 text', utf8('Hello-µ@ßöäüàá-UTF-8!!')],
  ['κόσμε', KOSME],
  ['U+0000, the smallest 1-byte code point', bytes(0x00)],
  ['U+007F, the largest 1-byte code point', bytes(0x7f)],
  ['U+0080, the smallest 2-byte code point', bytes(0xc2, 0x80)],
  ['U+07FF, the largest 2-byte code point', bytes(0xdf, 0xbf)],
  ['U+0800, the smallest 3-byte code point', bytes(0xe0, 0xa0, 0x80)],
  ['U+D7FF, just below the surrogates', bytes(0xed, 0x9f, 0xbf)],
  ['U+E000, just above the surrogates', bytes(0xee, 0x80, 0x80)],
  ['U+FFFD, the replacement character', bytes(0xef, 0xbf, 0xbd)],
  ['U+FFFF, the largest 3-byte code point (a non-character)', bytes(0xef, 0xbf, 0xbf)],
  ['U+FFFE, a non-character', bytes(0xef, 0xbf, 0xbe)],
  ['U+FDD0, a non-character', bytes(0xef, 0xb7, 0x90)],
  ['U+10000, the smallest 4-byte code point', bytes(0xf0, 0x90, 0x80, 0x80)],
  ['U+1FFFF, a non-character', bytes(0xf0, 0x9f, 0xbf, 0xbf)],
  ['U+10FFFF, the largest code point', bytes(0xf4, 0x8f, 0xbf, 0xbf)],
  ['a long mix of every width', utf8('ASCII, Grüße, 世界, Привет, 🎉🚀, U+10FFFF \u{10ffff}, end. '.repeat(3))],
];

/** Invalid samples and the index of the first byte at which a fail-fast validator must reject. */
const INVALID: ReadonlyArray<readonly [string, Uint8Array, number]> = [
  ['a lone continuation byte 80', bytes(0x80), 0],
  ['a lone continuation byte BF', bytes(0xbf), 0],
  ['a continuation byte after ASCII', bytes(0x41, 0x80), 1],
  ['a continuation byte after a complete 2-byte sequence', bytes(0xc2, 0x80, 0x80), 2],
  ['the overlong 2-byte NUL C0 80', bytes(0xc0, 0x80), 0],
  ['the overlong 2-byte C1 BF', bytes(0xc1, 0xbf), 0],
  ['the overlong 3-byte NUL E0 80 80', bytes(0xe0, 0x80, 0x80), 1],
  ['the overlong 3-byte U+07FF E0 9F BF', bytes(0xe0, 0x9f, 0xbf), 1],
  ['the overlong 4-byte NUL F0 80 80 80', bytes(0xf0, 0x80, 0x80, 0x80), 1],
  ['the overlong 4-byte U+FFFF F0 8F BF BF', bytes(0xf0, 0x8f, 0xbf, 0xbf), 1],
  ['the high surrogate U+D800', bytes(0xed, 0xa0, 0x80), 1],
  ['the low surrogate U+DFFF', bytes(0xed, 0xbf, 0xbf), 1],
  ['a surrogate pair U+D800 U+DC00', bytes(0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80), 1],
  ['U+110000, above the last code point', bytes(0xf4, 0x90, 0x80, 0x80), 1],
  ['the never-valid byte F5', bytes(0xf5, 0x80, 0x80, 0x80), 0],
  ['the never-valid byte F7', bytes(0xf7, 0xbf, 0xbf, 0xbf), 0],
  ['a 5-byte form', bytes(0xf8, 0x88, 0x80, 0x80, 0x80), 0],
  ['a 6-byte form', bytes(0xfc, 0x84, 0x80, 0x80, 0x80, 0x80), 0],
  ['the byte FE', bytes(0xfe), 0],
  ['the byte FF', bytes(0xff), 0],
  ['a 2-byte lead followed by ASCII', bytes(0xc2, 0x41), 1],
  ['a 3-byte sequence cut short by ASCII', bytes(0xe2, 0x82, 0x41), 2],
  ['a 4-byte sequence cut short by ASCII', bytes(0xf0, 0x9f, 0x98, 0x41), 3],
  ['a 3-byte sequence cut short by a new lead', bytes(0xe2, 0x82, 0xe2, 0x82, 0xac), 2],
  ['Autobahn 6.4.1: κόσμε, U+D800, "edited"', concat(KOSME, bytes(0xed, 0xa0, 0x80), utf8('edited')), 12],
  ['Autobahn 6.4.2: κόσμε, U+110000, "edited"', concat(KOSME, bytes(0xf4, 0x90, 0x80, 0x80), utf8('edited')), 12],
  ['a surrogate after a long ASCII run', concat(ASCII_RUN, bytes(0xed, 0xa0, 0x80), ASCII_RUN), 51],
  ['a stray continuation byte in the middle of long text', concat(ASCII_RUN, bytes(0x80), ASCII_RUN), 50],
];

/** Sequences that are valid so far but stop inside a code point. */
const INCOMPLETE: ReadonlyArray<readonly [string, Uint8Array]> = [
  ['a 2-byte lead', bytes(0xc2)],
  ['two bytes of a 3-byte sequence', bytes(0xe2, 0x82)],
  ['three bytes of a 4-byte sequence', bytes(0xf0, 0x9f, 0x98)],
  ['the first three bytes of U+10FFFF', bytes(0xf4, 0x8f, 0xbf)],
  ['long text ending inside a 4-byte sequence', concat(ASCII_RUN, KOSME, bytes(0xf0, 0x9f))],
];

/** Index of the first byte at which `feed` returns false when given one byte at a time, or -1. */
function failIndex(data: Uint8Array, feed: (byte: Uint8Array) => boolean): number {
  for (let i = 0; i < data.length; i++) if (!feed(data.subarray(i, i + 1))) return i;
  return -1;
}

/** A reference fail-fast index from the WHATWG decoder, which rejects at the same byte in streaming mode. */
function referenceFailIndex(data: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return failIndex(data, (byte) => {
    try {
      decoder.decode(byte, { stream: true });
      return true;
    } catch {
      return false;
    }
  });
}

/** mulberry32: a small seeded PRNG, so a failing random case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random bytes biased towards UTF-8 shapes: some valid text, some mutated text, some byte soup. */
function randomSample(random: () => number): Uint8Array {
  const int = (n: number): number => Math.floor(random() * n);
  const kind = int(3);
  if (kind === 0) {
    const length = int(24);
    return Uint8Array.from({ length }, () => {
      const pick = random();
      if (pick < 0.35) return int(0x80);
      if (pick < 0.65) return 0x80 + int(0x40);
      if (pick < 0.95) return 0xc0 + int(0x35);
      return int(256);
    });
  }
  let text = '';
  for (let n = int(12); n > 0; n--) {
    const range = [0x80, 0x800, 0x10000, 0x110000][int(4)];
    let codePoint = int(range);
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) codePoint = 0xfffd;
    text += String.fromCodePoint(codePoint);
  }
  const data = utf8(text);
  if (kind === 2 && data.length > 0) data[int(data.length)] = int(256);
  return data;
}

describe('Utf8Validator', () => {
  test('accepts each valid sample and ends complete', () => {
    for (const [name, data] of VALID) {
      const validator = new Utf8Validator();
      assert.equal(validator.update(data), true, name);
      assert.equal(validator.complete, true, name);
    }
  });

  test('accepts each valid sample split at every byte index across two updates', () => {
    for (const [name, data] of VALID) {
      for (let cut = 0; cut <= data.length; cut++) {
        const validator = new Utf8Validator();
        assert.equal(validator.update(data.subarray(0, cut)), true, `${name}, first part of cut ${cut}`);
        assert.equal(validator.update(data.subarray(cut)), true, `${name}, second part of cut ${cut}`);
        assert.equal(validator.complete, true, `${name}, cut ${cut}`);
      }
    }
  });

  test('accepts each valid sample fed one byte at a time', () => {
    for (const [name, data] of VALID) {
      const validator = new Utf8Validator();
      assert.equal(
        failIndex(data, (byte) => validator.update(byte)),
        -1,
        name,
      );
      assert.equal(validator.complete, true, name);
    }
  });

  test('rejects each invalid sample at exactly its first invalid byte when fed one byte at a time', () => {
    for (const [name, data, index] of INVALID) {
      const validator = new Utf8Validator();
      assert.equal(
        failIndex(data, (byte) => validator.update(byte)),
        index,
        `${name} (${hex(data)})`,
      );
      assert.equal(referenceFailIndex(data), index, `reference decoder disagrees on ${name}`);
    }
  });

  test('rejects each invalid sample in the first chunk that reaches its first invalid byte, at every split', () => {
    for (const [name, data, index] of INVALID) {
      for (let cut = 0; cut <= data.length; cut++) {
        const validator = new Utf8Validator();
        const first = validator.update(data.subarray(0, cut));
        assert.equal(first, cut <= index, `${name}, first part of cut ${cut}`);
        assert.equal(validator.update(data.subarray(cut)), false, `${name}, second part of cut ${cut}`);
        assert.equal(validator.complete, false);
      }
    }
  });

  test('accepts a sequence that stops inside a code point but does not report it complete', () => {
    for (const [name, data] of INCOMPLETE) {
      const validator = new Utf8Validator();
      assert.equal(validator.update(data), true, name);
      assert.equal(validator.complete, false, name);
    }
  });

  test('reports complete once the missing continuation bytes arrive', () => {
    const validator = new Utf8Validator();
    assert.equal(validator.update(bytes(0xf0, 0x9f)), true);
    assert.equal(validator.complete, false);
    assert.equal(validator.update(bytes(0x8e)), true);
    assert.equal(validator.complete, false);
    assert.equal(validator.update(bytes(0x89)), true);
    assert.equal(validator.complete, true);
  });

  test('is complete before any byte is fed', () => {
    assert.equal(new Utf8Validator().complete, true);
  });

  test('keeps returning false after a rejection until reset', () => {
    const validator = new Utf8Validator();
    assert.equal(validator.update(bytes(0xc0)), false);
    assert.equal(validator.update(utf8('fine')), false);
    assert.equal(validator.update(utf8('a much longer chunk that would take the native path, if it ran')), false);
    assert.equal(validator.complete, false);
    validator.reset();
    assert.equal(validator.complete, true);
    assert.equal(validator.update(utf8('fine')), true);
  });

  test('forgets an incomplete sequence on reset', () => {
    const validator = new Utf8Validator();
    validator.update(bytes(0xe2, 0x82));
    validator.reset();
    assert.equal(validator.update(bytes(0x41)), true);
    assert.equal(validator.complete, true);
  });

  test('reads only the bytes between start and end', () => {
    const data = concat(bytes(0xff), utf8('€uro and more text to pass the native threshold'), bytes(0xc0));
    const validator = new Utf8Validator();
    assert.equal(validator.update(data, 1, data.length - 1), true);
    assert.equal(validator.complete, true);
    assert.equal(validator.update(data, 1, 3), true);
    assert.equal(validator.complete, false);
    assert.equal(validator.update(data, 3, 4), true);
    assert.equal(validator.complete, true);
    assert.equal(validator.update(data, 5, 5), true);
    assert.equal(validator.update(data, 0, 1), false);
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT for a range outside the data', () => {
    const data = utf8('abc');
    for (const [start, end] of [
      [-1, 2],
      [2, 1],
      [0, 4],
      [0.5, 2],
    ]) {
      assert.throws(
        () => new Utf8Validator().update(data, start, end),
        (error: unknown) => error instanceof WebSocketError && error.code === 'VOLLEY_ERR_INVALID_ARGUMENT',
      );
    }
  });

  test('agrees with isUtf8 and the WHATWG decoder on 5000 random byte strings, in one piece and byte by byte', () => {
    const random = prng(0x5eed);
    let valid = 0;
    for (let n = 0; n < 5000; n++) {
      const data = randomSample(random);
      const expected = isUtf8(data);
      const label = `sample ${n}: ${hex(data)}`;

      const whole = new Utf8Validator();
      assert.equal(whole.update(data) && whole.complete, expected, label);

      const stepwise = new Utf8Validator();
      const index = failIndex(data, (byte) => stepwise.update(byte));
      assert.equal(index, referenceFailIndex(data), label);

      // Random chunks reject in the chunk that holds the first invalid byte.
      const chunked = new Utf8Validator();
      let start = 0;
      while (start < data.length) {
        const end = Math.min(data.length, start + 1 + Math.floor(random() * 40));
        assert.equal(chunked.update(data, start, end), index === -1 || index >= end, `${label}, chunk ${start}..${end}`);
        start = end;
      }
      if (expected) valid++;
    }
    assert.ok(valid > 1000 && valid < 4000, `a useful mix of valid (${valid}) and invalid samples`);
  });

  test('agrees with isUtf8 on long random text split into random chunks', () => {
    const random = prng(42);
    for (let n = 0; n < 300; n++) {
      const data = concat(ASCII_RUN, randomSample(random), ASCII_RUN, randomSample(random), ASCII_RUN);
      const index = referenceFailIndex(data);
      const validator = new Utf8Validator();
      let start = 0;
      while (start < data.length) {
        const end = Math.min(data.length, start + 1 + Math.floor(random() * 120));
        assert.equal(validator.update(data, start, end), index === -1 || index >= end, `sample ${n}: ${hex(data)}`);
        start = end;
      }
      assert.equal(validator.complete, isUtf8(data), `sample ${n}: ${hex(data)}`);
    }
  });
});

describe('isValidUtf8', () => {
  test('accepts each valid sample', () => {
    for (const [name, data] of VALID) assert.equal(isValidUtf8(data), true, name);
  });

  test('rejects each invalid and each incomplete sample', () => {
    for (const [name, data] of [...INVALID, ...INCOMPLETE]) assert.equal(isValidUtf8(data), false, name);
  });

  test('agrees with the WHATWG decoder on random byte strings', () => {
    const random = prng(7);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (let n = 0; n < 2000; n++) {
      const data = randomSample(random);
      let expected = true;
      try {
        decoder.decode(data);
      } catch {
        expected = false;
      }
      assert.equal(isValidUtf8(data), expected, hex(data));
    }
  });
});
