import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';
import { OP, frame } from '../test-support/frames.js';
import { SIMD_CHUNK_THRESHOLD, setSimdMasking, simdMasking, unmaskWholeFrames, xorRangeSimd } from './simd-mask.js';
import { UNMASK_WASM_BASE64 } from './wasm/unmask-module.js';

const KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** The bytes of `frame(spec)` with the payload unmasked, as the parser should find them. */
function unmaskedCopy(bytes: Buffer, payloadAt: number): Buffer {
  const copy = Buffer.from(bytes);
  const key = copy.subarray(payloadAt - 4, payloadAt);
  for (let i = payloadAt; i < copy.length; i++) copy[i]! ^= key[(i - payloadAt) & 3]!;
  return copy;
}

/** A text frame of `size` ASCII bytes masked with KEY: the frame, and where its key and payload start. */
function textFrame(size: number, fill = 'a') {
  const bytes = frame({ opcode: OP.TEXT, payload: fill.repeat(size).slice(0, size), mask: KEY });
  const payloadAt = bytes.length - size;
  return { bytes, keyAt: payloadAt - 4, payloadAt };
}

/** Frames enough to pass the chunk threshold: `count` ASCII text frames of `size` bytes. */
function textFrames(count: number, size: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, () => textFrame(size).bytes));
}

describe('the WebAssembly module', () => {
  test('compiles and is in use on this machine (Node 20 has WebAssembly SIMD on x64 and arm64)', () => {
    assert.equal(simdMasking(), true);
  });

  test('is left out where WebAssembly is missing (node --jitless): masking still works, in JavaScript', () => {
    const script = `
      const { simdMasking } = await import(${JSON.stringify(new URL('./simd-mask.js', import.meta.url).href)});
      const { applyMask } = await import(${JSON.stringify(new URL('./mask.js', import.meta.url).href)});
      const data = Buffer.alloc(5000, 0x41);
      applyMask(data, Buffer.of(1, 2, 3, 4));
      console.log(JSON.stringify([simdMasking(), data[0], data[4999]]));`;
    const out = execFileSync(process.execPath, ['--jitless', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    assert.deepEqual(JSON.parse(out.toString()), [false, 0x41 ^ 1, 0x41 ^ 4]);
  });

  test('is unmask.wat as compiled now (run node scripts/build-wasm.mjs after editing the .wat)', async () => {
    const source = fileURLToPath(new URL('../../src/protocol/wasm/unmask.wat', import.meta.url));
    const tools = await wabt();
    const module = tools.parseWat('unmask.wat', readFileSync(source, 'utf8'), { simd: true });
    const bytes = Buffer.from(module.toBinary({}).buffer);
    module.destroy();
    assert.equal(UNMASK_WASM_BASE64, bytes.toString('base64'));
  });
});

describe('xorRangeSimd', () => {
  test('matches a byte-by-byte XOR for lengths around every 16-byte step, at any start', () => {
    for (const length of [0, 1, 15, 16, 17, 31, 32, 33, 1000, 1024, 1031]) {
      for (const start of [0, 1, 2, 3, 5]) {
        const data = Buffer.alloc(start + length + 3, 0xaa);
        for (let i = 0; i < length; i++) data[start + i] = (i * 167 + 13) & 0xff;
        const expected = Buffer.from(data);
        for (let i = 0; i < length; i++) expected[start + i]! ^= KEY[i & 3]!;
        xorRangeSimd(data, start, start + length, KEY[0]! | (KEY[1]! << 8) | (KEY[2]! << 16) | (KEY[3]! << 24));
        assert.deepEqual(data, expected, `length ${length}, start ${start}`);
      }
    }
  });

  test('keeps the key in step across more bytes than the module holds at once (128 KiB)', () => {
    const length = 128 * 1024 * 2 + 7;
    const data = Buffer.alloc(length, 0x41);
    xorRangeSimd(data, 0, length, 0x04030201);
    for (let i = 0; i < length; i++) assert.equal(data[i], 0x41 ^ ((i & 3) + 1), `byte ${i}`);
  });

  test('says whether the result is ASCII, whether the high bit is in the 16-byte steps or the tail', () => {
    const key = 0x04030201;
    const masked = (bytes: number[]) => Buffer.from(bytes.map((b, i) => b ^ ((i & 3) + 1)));
    const ascii = new Array(37).fill(0x61);
    assert.equal(xorRangeSimd(masked(ascii), 0, 37, key), true);
    for (const at of [0, 15, 16, 31, 32, 36]) {
      const bytes = [...ascii];
      bytes[at] = 0xc3;
      assert.equal(xorRangeSimd(masked(bytes), 0, 37, key), false, `non-ASCII byte at ${at}`);
    }
  });
});

describe('unmaskWholeFrames', () => {
  test('unmasks every whole Text and Binary frame, 7- and 16-bit lengths, and returns where they end', () => {
    const parts = [
      textFrame(10).bytes,
      frame({ opcode: OP.BINARY, payload: Buffer.alloc(300, 0xfe), mask: KEY }),
      textFrame(125).bytes,
      frame({ opcode: OP.TEXT, payload: 'é'.repeat(100), mask: KEY }),
      textFrame(0).bytes,
    ];
    const chunk = Buffer.concat(parts);
    const end = unmaskWholeFrames(chunk, 1 << 20);
    assert.equal(end, chunk.length);
    let at = 0;
    for (const part of parts) {
      const headerLength = part[1]! === (0x80 | 126) ? 4 : 2;
      const expected = unmaskedCopy(part, headerLength + 4);
      // The first key byte now says whether the payload is ASCII; the rest of the frame is the unmasked bytes.
      assert.deepEqual(chunk.subarray(at + headerLength + 4, at + part.length), expected.subarray(headerLength + 4));
      at += part.length;
    }
  });

  test('marks each frame in its first key byte: 1 for an ASCII payload, 0 for any other', () => {
    const ascii = textFrame(200);
    const utf8 = frame({ opcode: OP.TEXT, payload: 'x'.repeat(150) + 'ü', mask: KEY });
    const binary = frame({ opcode: OP.BINARY, payload: Buffer.alloc(100, 0x80), mask: KEY });
    const chunk = Buffer.concat([ascii.bytes, utf8, binary]);
    assert.equal(unmaskWholeFrames(chunk, 1 << 20), chunk.length);
    // Header lengths: 4 for the two 16-bit lengths, 2 for the 100-byte binary frame.
    assert.equal(chunk[ascii.keyAt], 1);
    assert.equal(chunk[ascii.bytes.length + 4], 0);
    assert.equal(chunk[ascii.bytes.length + utf8.length + 2], 0);
  });

  const stoppers: [string, Buffer][] = [
    ['a non-FIN frame', frame({ opcode: OP.TEXT, payload: 'abc', fin: false, mask: KEY })],
    ['a continuation frame', frame({ opcode: OP.CONT, payload: 'abc', mask: KEY })],
    ['a ping', frame({ opcode: OP.PING, payload: 'abc', mask: KEY })],
    ['a close frame', frame({ opcode: OP.CLOSE, payload: Buffer.of(3, 232), mask: KEY })],
    ['a frame with RSV1 set', frame({ opcode: OP.TEXT, payload: 'abc', rsv1: true, mask: KEY })],
    ['a frame with RSV2 set', frame({ opcode: OP.TEXT, payload: 'abc', rsv2: true, mask: KEY })],
    ['an unmasked frame', frame({ opcode: OP.TEXT, payload: 'abc', mask: false })],
    ['a 64-bit length', frame({ opcode: OP.BINARY, payload: Buffer.alloc(40), lengthForm: 64, mask: KEY })],
    ['a frame longer than maxLength', textFrame(1001).bytes],
    ['a reserved opcode', frame({ opcode: 0x3, payload: 'abc', mask: KEY })],
  ];
  for (const [name, stopper] of stoppers) {
    test(`stops at ${name} and leaves it and everything after it untouched`, () => {
      const before = textFrames(4, 100);
      const after = textFrame(50).bytes;
      const chunk = Buffer.concat([before, stopper, after]);
      const original = Buffer.from(chunk);
      assert.equal(unmaskWholeFrames(chunk, 1000), before.length);
      assert.deepEqual(chunk.subarray(before.length), original.subarray(before.length));
    });
  }

  test('stops where a frame does not end within the chunk, at every cut of its header and payload', () => {
    const before = textFrames(3, 100);
    const last = textFrame(300).bytes;
    for (let cut = 0; cut < last.length; cut++) {
      const chunk = Buffer.concat([before, last.subarray(0, cut)]);
      const original = Buffer.from(chunk);
      assert.equal(unmaskWholeFrames(chunk, 1 << 20), before.length, `cut at ${cut}`);
      assert.deepEqual(chunk.subarray(before.length), original.subarray(before.length), `cut at ${cut}`);
    }
  });

  test(`does nothing for a chunk under ${SIMD_CHUNK_THRESHOLD} bytes, over 128 KiB, or with SIMD turned off`, () => {
    const small = textFrames(1, SIMD_CHUNK_THRESHOLD - 10);
    assert.ok(small.length < SIMD_CHUNK_THRESHOLD);
    assert.equal(unmaskWholeFrames(Buffer.from(small), 1 << 20), 0);
    const large = textFrames(3, 50_000);
    assert.ok(large.length > 128 * 1024);
    assert.equal(unmaskWholeFrames(Buffer.from(large), 1 << 20), 0);
    const chunk = textFrames(4, 100);
    try {
      assert.equal(setSimdMasking(false), false);
      assert.equal(unmaskWholeFrames(Buffer.from(chunk), 1 << 20), 0);
    } finally {
      setSimdMasking(true);
    }
    assert.equal(unmaskWholeFrames(Buffer.from(chunk), 1 << 20), chunk.length);
  });
});
