import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OP, closeFrame, cut, frame } from '../test-support/frames.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { setSimdMasking } from './simd-mask.js';

// A server unmasks a read of several whole frames in one WebAssembly SIMD pass before parsing it
// (simd-mask.ts, unmaskWholeFrames). These tests hold that pass to the JavaScript path: same messages, same
// errors, same bytes written, however the input is split into reads.

type Event = [string, string, boolean] | ['closed', number, string | null];

/** Feeds `reads` to a fresh server connection; returns what it reported and wrote. */
function run(reads: Buffer[], options: Partial<ConnectionOptions> = {}) {
  const events: Event[] = [];
  const written: Buffer[] = [];
  const conn = new Connection({ role: 'server', ...options } as ConnectionOptions, {
    write: (data) => written.push(Buffer.from(data)),
    message: (data, isBinary) => events.push(['message', isBinary ? data.toString('hex') : data.toString('utf8'), isBinary]),
    ping: (data) => events.push(['ping', data.toString('hex'), false]),
    pong: (data) => events.push(['pong', data.toString('hex'), false]),
    closed: (code, _reason, error) => events.push(['closed', code, error?.code ?? null]),
  });
  // receive() takes ownership (it unmasks in place), so each run gets its own copies.
  for (const read of reads) conn.receive(Buffer.from(read));
  conn.flushOutput();
  return { events, out: Buffer.concat(written).toString('hex') };
}

/** Runs `reads` with the SIMD pass and without it, asserts both agree, and returns the result. */
function bothWays(reads: Buffer[], options: Partial<ConnectionOptions> = {}) {
  const simd = run(reads, options);
  setSimdMasking(false);
  try {
    const plain = run(reads, options);
    assert.deepEqual(simd.events, plain.events);
    assert.equal(simd.out, plain.out);
  } finally {
    setSimdMasking(true);
  }
  return simd;
}

/** Every kind of frame a server reads, several of each, ~6 KiB in all. */
const MIXED = Buffer.concat([
  ...Array.from({ length: 5 }, (_, i) => frame({ opcode: OP.TEXT, payload: `message ${i} `.repeat(20) })),
  frame({ opcode: OP.BINARY, payload: Buffer.alloc(700, 0x9c) }),
  frame({ opcode: OP.TEXT, payload: 'naïve café, 日本語, 🎉 '.repeat(10) }),
  frame({ opcode: OP.PING, payload: 'are you there' }),
  frame({ opcode: OP.TEXT, payload: 'first part ', fin: false }),
  frame({ opcode: OP.PING, payload: 'in between' }),
  frame({ opcode: OP.CONT, payload: 'last part' }),
  frame({ opcode: OP.BINARY, payload: Buffer.alloc(3000, 0x01) }),
  frame({ opcode: OP.TEXT, payload: '' }),
  frame({ opcode: OP.BINARY, payload: Buffer.alloc(200, 0x7f), lengthForm: 64 }),
  ...Array.from({ length: 5 }, (_, i) => frame({ opcode: OP.TEXT, payload: `tail ${i}`.repeat(30) })),
]);

describe('a server read of many whole frames (the SIMD pass)', () => {
  test('delivers what the JavaScript path delivers, read whole', () => {
    const { events } = bothWays([MIXED]);
    assert.equal(events.filter((e) => e[0] === 'message').length, 16);
    assert.equal(events.filter((e) => e[0] === 'ping').length, 2);
  });

  test('delivers what the JavaScript path delivers, cut into two reads at every 7th byte', () => {
    for (let at = 1; at < MIXED.length; at += 7) bothWays(cut(MIXED, [at]));
  });

  test('delivers what the JavaScript path delivers, cut into reads of every size from 200 to 1,200 bytes', () => {
    for (let size = 200; size <= 1200; size += 50) {
      const at: number[] = [];
      for (let end = size; end < MIXED.length; end += size) at.push(end);
      bothWays(cut(MIXED, at));
    }
  });

  test('fails with 1007 on invalid UTF-8 in a text frame the pass unmasked, and delivers nothing after it', () => {
    const bad = frame({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.alloc(300, 0x61), Buffer.of(0xed, 0xa0, 0x80)]) });
    const good = frame({ opcode: OP.TEXT, payload: 'after' });
    const { events } = bothWays([Buffer.concat([frame({ opcode: OP.TEXT, payload: 'before' }), bad, good])]);
    assert.deepEqual(events.map((e) => e[0] === 'closed' ? e : e[1]), ['before', ['closed', 1007, 'VOLLEY_ERR_INVALID_UTF8']]);
  });

  test('fails with 1009 on a frame over maxMessageSize, after delivering the frames before it', () => {
    const reads = [Buffer.concat([frame({ opcode: OP.TEXT, payload: 'x'.repeat(400) }), frame({ opcode: OP.BINARY, payload: Buffer.alloc(600) })])];
    const { events } = bothWays(reads, { maxMessageSize: 500 });
    assert.deepEqual(events.map((e) => e[0]), ['message', 'closed']);
    assert.equal(events[1]![1], 1009);
  });

  test('answers a close frame that follows whole frames in the same read, and delivers nothing after it', () => {
    const before = Array.from({ length: 5 }, (_, i) => frame({ opcode: OP.TEXT, payload: `${i}`.repeat(100) }));
    const reads = [Buffer.concat([...before, closeFrame(1000, 'bye'), frame({ opcode: OP.TEXT, payload: 'late'.repeat(100) })])];
    const { events, out } = bothWays(reads);
    assert.deepEqual(events.map((e) => e[1]), ['0'.repeat(100), '1'.repeat(100), '2'.repeat(100), '3'.repeat(100), '4'.repeat(100), 1000]);
    assert.ok(out.startsWith('8802' + '03e8'), out);
  });
});
