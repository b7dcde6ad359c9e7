import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { encodeFrameHeader, frameHeaderSize, writeFrameHeader } from './frame-header.js';
import { Opcode } from './constants.js';
import { WebSocketError } from './errors.js';

const KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');

const isInvalidArgument = (error: unknown): boolean =>
  error instanceof WebSocketError && error.code === 'VOLLEY_ERR_INVALID_ARGUMENT';

/** Payload lengths at each boundary of the length encoding, with the length bytes the RFC prescribes. */
const LENGTHS: ReadonlyArray<readonly [number, string]> = [
  [0, '00'],
  [1, '01'],
  [125, '7d'],
  [126, '7e007e'],
  [127, '7e007f'],
  [65535, '7effff'],
  [65536, '7f0000000000010000'],
  [2 ** 32 - 1, '7f00000000ffffffff'],
  [2 ** 32 + 5, '7f0000000100000005'],
  [2 ** 53 - 1, '7f001fffffffffffff'],
];

describe('frameHeaderSize', () => {
  test('is 2, 4 or 10 bytes by payload length, 4 more when masked', () => {
    for (const [length, lengthBytes] of LENGTHS) {
      const unmasked = lengthBytes.length / 2 + 1;
      assert.equal(frameHeaderSize(length, false), unmasked, `length ${length}`);
      assert.equal(frameHeaderSize(length, true), unmasked + 4, `masked length ${length}`);
    }
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT for a negative, fractional or unsafe length', () => {
    for (const length of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => frameHeaderSize(length, false), isInvalidArgument, `length ${length}`);
    }
  });
});

describe('encodeFrameHeader', () => {
  test('encodes the RFC 6455 §5.7 single-frame unmasked "Hello" header', () => {
    assert.equal(hex(encodeFrameHeader(Opcode.Text, true, false, 5, null)), '8105');
  });

  test('encodes the RFC 6455 §5.7 single-frame masked "Hello" header', () => {
    assert.equal(hex(encodeFrameHeader(Opcode.Text, true, false, 5, KEY)), '818537fa213d');
  });

  test('encodes the RFC 6455 §5.7 fragmented "Hel" "lo" headers', () => {
    assert.equal(hex(encodeFrameHeader(Opcode.Text, false, false, 3, null)), '0103');
    assert.equal(hex(encodeFrameHeader(Opcode.Continuation, true, false, 2, null)), '8002');
  });

  test('encodes the RFC 6455 §5.7 256-byte and 64 KiB binary headers', () => {
    assert.equal(hex(encodeFrameHeader(Opcode.Binary, true, false, 256, null)), '827e0100');
    assert.equal(hex(encodeFrameHeader(Opcode.Binary, true, false, 65536, null)), '827f0000000000010000');
  });

  test('encodes every length boundary in the shortest form, unmasked and masked', () => {
    for (const [length, lengthBytes] of LENGTHS) {
      assert.equal(hex(encodeFrameHeader(Opcode.Binary, true, false, length, null)), `82${lengthBytes}`, `${length}`);
      const masked = `82${(parseInt(lengthBytes.slice(0, 2), 16) | 0x80).toString(16)}${lengthBytes.slice(2)}37fa213d`;
      assert.equal(hex(encodeFrameHeader(Opcode.Binary, true, false, length, KEY)), masked, `masked ${length}`);
    }
  });

  test('sets FIN and RSV1 independently and never RSV2 or RSV3', () => {
    assert.equal(hex(encodeFrameHeader(Opcode.Text, false, false, 0, null)), '0100');
    assert.equal(hex(encodeFrameHeader(Opcode.Text, true, false, 0, null)), '8100');
    assert.equal(hex(encodeFrameHeader(Opcode.Text, false, true, 0, null)), '4100');
    assert.equal(hex(encodeFrameHeader(Opcode.Text, true, true, 0, null)), 'c100');
  });

  test('puts each opcode in the low four bits of the first byte', () => {
    for (const opcode of Object.values(Opcode)) {
      const [first] = encodeFrameHeader(opcode, true, false, 0, null);
      assert.equal(first, 0x80 | opcode, `opcode ${opcode}`);
    }
    for (let opcode = 0; opcode <= 0xf; opcode++) {
      assert.equal(encodeFrameHeader(opcode, false, false, 0, null)[0], opcode);
    }
  });

  test('allocates exactly the header', () => {
    for (const [length] of LENGTHS) {
      for (const mask of [null, KEY]) {
        assert.equal(encodeFrameHeader(Opcode.Binary, true, false, length, mask).length, frameHeaderSize(length, mask !== null));
      }
    }
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT for a bad opcode, length or key', () => {
    assert.throws(() => encodeFrameHeader(16, true, false, 0, null), isInvalidArgument);
    assert.throws(() => encodeFrameHeader(-1, true, false, 0, null), isInvalidArgument);
    assert.throws(() => encodeFrameHeader(1.5, true, false, 0, null), isInvalidArgument);
    assert.throws(() => encodeFrameHeader(Opcode.Text, true, false, -1, null), isInvalidArgument);
    assert.throws(() => encodeFrameHeader(Opcode.Text, true, false, 2 ** 53, null), isInvalidArgument);
    assert.throws(() => encodeFrameHeader(Opcode.Text, true, false, 1, new Uint8Array(3)), isInvalidArgument);
  });
});

describe('writeFrameHeader', () => {
  test('writes at the offset, returns the offset past the header and leaves other bytes alone', () => {
    for (const [length] of LENGTHS) {
      for (const mask of [null, KEY]) {
        const target = new Uint8Array(20).fill(0xee);
        const end = writeFrameHeader(target, 3, Opcode.Ping, true, false, length, mask);
        const expected = encodeFrameHeader(Opcode.Ping, true, false, length, mask);
        assert.equal(end, 3 + expected.length);
        assert.equal(hex(target.subarray(3, end)), hex(expected));
        assert.equal(hex(target.subarray(0, 3)), 'eeeeee');
        assert.ok(target.subarray(end).every((byte) => byte === 0xee));
      }
    }
  });

  test('writes a header that exactly fills the target', () => {
    const target = new Uint8Array(14);
    assert.equal(writeFrameHeader(target, 0, Opcode.Binary, true, true, 2 ** 32 + 5, KEY), 14);
    assert.equal(hex(target), 'c2ff000000010000000537fa213d');
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT and writes nothing when the header does not fit', () => {
    const target = new Uint8Array(5);
    assert.throws(() => writeFrameHeader(target, 0, Opcode.Text, true, false, 126, KEY), isInvalidArgument);
    assert.throws(() => writeFrameHeader(target, 4, Opcode.Text, true, false, 0, null), isInvalidArgument);
    assert.throws(() => writeFrameHeader(target, -1, Opcode.Text, true, false, 0, null), isInvalidArgument);
    assert.equal(hex(target), '0000000000');
  });
});
