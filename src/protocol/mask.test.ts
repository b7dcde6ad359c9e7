import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { applyMask, maskInto, unmaskInPlace, unmaskInto } from './mask.js';
import { WebSocketError } from './errors.js';
import { SIMD_RANGE_THRESHOLD, setSimdMasking } from './simd-mask.js';

/** The masking key of the RFC 6455 §5.7 example "A single-frame masked text message". */
const RFC_KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
const RFC_MASKED_HELLO = Uint8Array.of(0x7f, 0x9f, 0x4d, 0x51, 0x58);

function naiveMask(data: Uint8Array, mask: Uint8Array, offset: number): Uint8Array {
  return Uint8Array.from(data, (byte, i) => byte ^ mask[(offset + i) & 3]);
}

/** Bytes 0, 1, 2, ... wrapping at 256, then scrambled a little so that a shifted key cannot pass by chance. */
function sample(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 167 + 13) & 0xff;
  return bytes;
}

/** A view of `length` bytes at an odd `byteOffset` inside a larger buffer, like a slice of Node's pool. */
function oddView(contents: Uint8Array, byteOffset: number): Uint8Array {
  const backing = new ArrayBuffer(contents.length + byteOffset + 8);
  const view = new Uint8Array(backing, byteOffset, contents.length);
  view.set(contents);
  return view;
}

const SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70, 127, 128, 129, 130, 131, 1000, 65536];

describe('applyMask', () => {
  test('unmasks the "Hello" payload of the RFC 6455 §5.7 example', () => {
    const frame = Uint8Array.of(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
    const payload = frame.subarray(6);
    applyMask(payload, frame.subarray(2, 6));
    assert.equal(Buffer.from(payload).toString('latin1'), 'Hello');
  });

  test('masks "Hello" into the bytes of the RFC 6455 §5.7 example', () => {
    const payload = new TextEncoder().encode('Hello');
    applyMask(payload, RFC_KEY);
    assert.deepEqual(payload, RFC_MASKED_HELLO);
  });

  test('restores the original bytes when applied twice', () => {
    for (const size of SIZES) {
      const data = sample(size);
      applyMask(data, RFC_KEY, 3);
      if (size >= 4) assert.notDeepEqual(data, sample(size));
      applyMask(data, RFC_KEY, 3);
      assert.deepEqual(data, sample(size), `size ${size}`);
    }
  });

  test('matches a byte-by-byte reference for every offset 0..7 and every length 0..70', () => {
    for (let offset = 0; offset < 8; offset++) {
      for (let length = 0; length <= 70; length++) {
        const data = sample(length);
        applyMask(data, RFC_KEY, offset);
        assert.deepEqual(data, naiveMask(sample(length), RFC_KEY, offset), `offset ${offset}, length ${length}`);
      }
    }
  });

  test('matches the reference on the word-at-a-time path for every offset and every alignment', () => {
    for (let offset = 0; offset < 8; offset++) {
      for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
        for (const length of [127, 128, 129, 130, 131, 200, 1027]) {
          const data = oddView(sample(length), byteOffset);
          applyMask(data, RFC_KEY, offset);
          const expected = naiveMask(sample(length), RFC_KEY, offset);
          assert.deepEqual(data, expected, `offset ${offset}, byteOffset ${byteOffset}, length ${length}`);
        }
      }
    }
  });

  test(`matches the reference from ${SIMD_RANGE_THRESHOLD} bytes on, with WebAssembly SIMD and without, at every offset and alignment`, () => {
    for (const simd of [true, false]) {
      setSimdMasking(simd);
      try {
        for (let offset = 0; offset < 4; offset++) {
          for (let byteOffset = 0; byteOffset < 4; byteOffset++) {
            for (const length of [SIMD_RANGE_THRESHOLD - 1, SIMD_RANGE_THRESHOLD, SIMD_RANGE_THRESHOLD + 5, 4099, 65536]) {
              const data = oddView(sample(length), byteOffset);
              applyMask(data, RFC_KEY, offset);
              const expected = naiveMask(sample(length), RFC_KEY, offset);
              assert.deepEqual(data, expected, `simd ${simd}, offset ${offset}, byteOffset ${byteOffset}, length ${length}`);
            }
          }
        }
      } finally {
        setSimdMasking(true);
      }
    }
  });

  test('leaves the bytes around a view with an odd byteOffset untouched', () => {
    for (const length of SIZES) {
      const backing = new Uint8Array(length + 10).fill(0xaa);
      const view = backing.subarray(5, 5 + length);
      applyMask(view, RFC_KEY, 1);
      assert.deepEqual(backing.subarray(0, 5), new Uint8Array(5).fill(0xaa));
      assert.deepEqual(backing.subarray(5 + length), new Uint8Array(5).fill(0xaa));
      assert.deepEqual(view, naiveMask(new Uint8Array(length).fill(0xaa), RFC_KEY, 1), `length ${length}`);
    }
  });

  test('works on Buffers sliced from the shared pool', () => {
    const pooled = Buffer.from(sample(300));
    const slice = pooled.subarray(3, 290);
    const expected = naiveMask(slice, RFC_KEY, 0);
    applyMask(slice, RFC_KEY);
    assert.deepEqual(new Uint8Array(slice), expected);
  });

  test('unmasks a payload chunk by chunk to the same bytes as all at once', () => {
    const length = 1000;
    const whole = sample(length);
    applyMask(whole, RFC_KEY);
    for (const cuts of [[1], [3, 4], [5, 130, 131, 500, 997], [129], [2, 260, 261, 262], [999]]) {
      const chunked = oddView(sample(length), 3);
      let start = 0;
      for (const end of [...cuts, length]) {
        applyMask(chunked.subarray(start, end), RFC_KEY, start);
        start = end;
      }
      assert.deepEqual(chunked, whole, `cuts ${cuts.join(',')}`);
    }
  });

  test('uses only the low two bits of a payload offset beyond 2^32', () => {
    const data = sample(200);
    applyMask(data, RFC_KEY, 2 ** 40 + 6);
    assert.deepEqual(data, naiveMask(sample(200), RFC_KEY, 2));
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT when the key is not 4 bytes', () => {
    for (const key of [new Uint8Array(3), new Uint8Array(5)]) {
      assert.throws(
        () => applyMask(sample(8), key),
        (error: unknown) => error instanceof WebSocketError && error.code === 'VOLLEY_ERR_INVALID_ARGUMENT',
      );
    }
  });
});

describe('maskInto', () => {
  test('writes the masked bytes at destOffset and leaves the source and the rest of dest untouched', () => {
    for (const length of SIZES) {
      for (const destOffset of [0, 1, 2, 3, 6]) {
        const src = sample(length);
        const dest = new Uint8Array(length + destOffset + 3).fill(0x55);
        maskInto(src, RFC_KEY, dest, destOffset);
        assert.deepEqual(src, sample(length), 'source modified');
        assert.deepEqual(dest.subarray(0, destOffset), new Uint8Array(destOffset).fill(0x55));
        assert.deepEqual(dest.subarray(destOffset, destOffset + length), naiveMask(src, RFC_KEY, 0));
        assert.deepEqual(dest.subarray(destOffset + length), Uint8Array.of(0x55, 0x55, 0x55));
      }
    }
  });

  test('produces the masked "Hello" of RFC 6455 §5.7 after a two-byte header', () => {
    const frame = new Uint8Array(11);
    frame.set([0x81, 0x85, ...RFC_KEY]);
    maskInto(new TextEncoder().encode('Hello'), RFC_KEY, frame, 6);
    assert.deepEqual(frame, Uint8Array.of(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58));
  });

  test('works between views at odd byteOffsets', () => {
    for (const length of [5, 127, 128, 129, 1001]) {
      const src = oddView(sample(length), 1);
      const dest = oddView(new Uint8Array(length + 4), 3);
      maskInto(src, RFC_KEY, dest, 2);
      assert.deepEqual(dest.subarray(2, 2 + length), naiveMask(sample(length), RFC_KEY, 0), `length ${length}`);
    }
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT when the source does not fit in dest', () => {
    for (const [destLength, destOffset] of [
      [9, 0],
      [10, 1],
      [20, -1],
      [20, 0.5],
    ] as const) {
      assert.throws(
        () => maskInto(sample(10), RFC_KEY, new Uint8Array(destLength), destOffset),
        (error: unknown) => error instanceof WebSocketError && error.code === 'VOLLEY_ERR_INVALID_ARGUMENT',
      );
    }
  });
});

describe('unmaskInPlace (the key read from the frame header itself)', () => {
  test('gives what applyMask gives, for every size around the word threshold and every alignment', () => {
    for (const size of [0, 1, 3, 4, 5, 127, 128, 129, 1000]) {
      for (const shift of [0, 1, 2, 3]) {
        const frame = Buffer.alloc(shift + 4 + size);
        for (let i = 0; i < frame.length; i++) frame[i] = (i * 31 + 7) & 0xff;
        const expected = Buffer.from(frame.subarray(shift + 4));
        applyMask(expected, frame.subarray(shift, shift + 4));
        unmaskInPlace(frame, shift + 4, shift + 4 + size, shift);
        assert.deepEqual(frame.subarray(shift + 4), expected, `size ${size}, key at ${shift}`);
      }
    }
  });
});

describe('unmaskInto (a piece of a payload unmasked into the buffer it is assembled in)', () => {
  test('matches the reference at every phase and alignment, with WebAssembly SIMD and without, source untouched', () => {
    const key = Uint8Array.of(0x9e, 0x01, 0x5a, 0xc3);
    for (const simd of [true, false]) {
      setSimdMasking(simd);
      try {
        for (const size of [0, 1, 5, 127, 128, SIMD_RANGE_THRESHOLD - 1, SIMD_RANGE_THRESHOLD, SIMD_RANGE_THRESHOLD + 3, 70_000, 200_001]) {
          for (const phase of [0, 1, 2, 3, 6]) {
            const src = oddView(sample(size), 1 + phase);
            const before = Uint8Array.from(src);
            const dest = oddView(new Uint8Array(size + 11).fill(0xee), 3);
            unmaskInto(src, key, phase, dest, 5);
            const label = `size ${size}, phase ${phase}, simd ${simd}`;
            assert.deepEqual(dest.subarray(5, 5 + size), naiveMask(before, key, phase), label);
            assert.deepEqual(src, before, `${label}: the source changed`);
            assert.ok(dest.subarray(0, 5).every((b) => b === 0xee) && dest.subarray(5 + size).every((b) => b === 0xee), `${label}: wrote outside its range`);
          }
        }
      } finally {
        setSimdMasking(true);
      }
    }
  });
});
