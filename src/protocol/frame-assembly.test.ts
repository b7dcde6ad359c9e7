import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OP, cut, frame } from '../test-support/frames.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { setSimdMasking } from './simd-mask.js';

// A server unmasks a data frame that spans reads straight into one buffer of the frame's length (connection.ts,
// frameTarget): from the first piece up to 16 KiB, for longer frames once half has arrived; instead of unmasking
// each piece in place and joining the pieces at the end. These tests hold that path to what the peer sent, however the frame is cut into reads.

type Event = ['message', string, boolean] | ['closed', number, string | null];

/** A fresh server connection that records messages (binary as hex) and its end. */
function server(options: Partial<ConnectionOptions> = {}) {
  const events: Event[] = [];
  const conn = new Connection({ role: 'server', ...options } as ConnectionOptions, {
    write: () => {},
    message: (data, isBinary) => events.push(['message', isBinary ? data.toString('hex') : data.toString('utf8'), isBinary]),
    ping: () => {},
    pong: () => {},
    closed: (code, _reason, error) => events.push(['closed', code, error?.code ?? null]),
  });
  // receive() takes ownership (it unmasks in place): each read is a copy.
  const feed = (...reads: Buffer[]) => {
    for (const read of reads) conn.receive(Buffer.from(read));
  };
  return { conn, events, feed, assembling: () => (conn as unknown as { frameBuffer: Buffer | null }).frameBuffer !== null };
}

/** Runs `body` with the SIMD path and with the JavaScript path. */
function bothPaths(body: (simd: boolean) => void): void {
  for (const simd of [true, false]) {
    setSimdMasking(simd);
    try {
      body(simd);
    } finally {
      setSimdMasking(true);
    }
  }
}

const BINARY = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 167 + 13) & 0xff));
/** Multi-byte characters throughout, so that reads cut them. */
const TEXT = 'naïve café, 日本語, 🎉 '.repeat(1500);

describe('a server data frame spanning reads', () => {
  test('delivers a 64-bit-length binary frame intact, cut anywhere into two or three reads', () => {
    bothPaths((simd) => {
      const bytes = frame({ opcode: OP.BINARY, payload: BINARY });
      for (const at of [[1], [14], [15], [20_000], [35_000], [35_014], [65_536], [bytes.length - 1], [100, 40_000], [34_000, 36_000]]) {
        const { events, feed } = server();
        feed(...cut(bytes, at));
        assert.deepEqual(events, [['message', BINARY.toString('hex'), true]], `simd ${simd}, cut at ${at}`);
      }
    });
  });

  test('delivers a text frame with multi-byte characters cut at every 997th byte', () => {
    bothPaths((simd) => {
      const bytes = frame({ opcode: OP.TEXT, payload: TEXT });
      const { events, feed } = server();
      feed(...cut(bytes, Array.from({ length: Math.floor(bytes.length / 997) }, (_, i) => (i + 1) * 997)));
      assert.deepEqual(events, [['message', TEXT, false]], `simd ${simd}`);
    });
  });

  test('delivers a frame over 16 KiB that arrives one byte at a time up to just before half, then in one piece', () => {
    bothPaths((simd) => {
      const payload = BINARY.subarray(0, 20_000);
      const bytes = frame({ opcode: OP.BINARY, payload });
      const { events, feed, assembling } = server();
      // Header and the first 9,999 payload bytes byte by byte (coalesced, not yet assembled), then the rest.
      const header = bytes.length - payload.length;
      const reads = cut(bytes, Array.from({ length: header + 9999 }, (_, i) => i + 1));
      feed(...reads.slice(0, -1));
      assert.equal(assembling(), false, `simd ${simd}`);
      feed(reads.at(-1)!);
      assert.deepEqual(events, [['message', payload.toString('hex'), true]], `simd ${simd}`);
    });
  });

  test('assembles each frame of a fragmented message and joins them with a control frame in between', () => {
    bothPaths((simd) => {
      const first = BINARY.subarray(0, 30_000);
      const second = BINARY.subarray(30_000);
      const bytes = Buffer.concat([
        frame({ opcode: OP.BINARY, payload: first, fin: false }),
        frame({ opcode: OP.PING, payload: 'in between' }),
        frame({ opcode: OP.CONT, payload: second }),
      ]);
      const { events, feed } = server();
      feed(...cut(bytes, [10_000, 25_000, 30_010, 45_000, 60_000]));
      assert.deepEqual(events, [['message', BINARY.toString('hex'), true]], `simd ${simd}`);
    });
  });

  test('delivers frames of 1 to 300 characters or bytes cut at every byte, text and binary', () => {
    bothPaths((simd) => {
      for (const size of [1, 2, 3, 5, 17, 125, 126, 127, 300]) {
        for (const opcode of [OP.TEXT, OP.BINARY]) {
          const payload = opcode === OP.TEXT ? Array.from('é日🎉a'.repeat(80)).slice(0, size).join('') : BINARY.subarray(0, size);
          const bytes = frame({ opcode, payload });
          const { events, feed } = server();
          feed(...cut(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)));
          const expected = opcode === OP.TEXT ? payload : (payload as Buffer).toString('hex');
          assert.deepEqual(events, [['message', expected, opcode === OP.BINARY]], `simd ${simd}, ${size} B, opcode ${opcode}`);
        }
      }
    });
  });

  test('assembles a frame of at most 16 KiB from its first piece, a longer one not before half', () => {
    for (const [length, first, expected] of [
      [16 * 1024, 1, true],
      [16 * 1024 + 1, 1, false],
      [16 * 1024 + 1, 8193, true],
    ] as const) {
      const bytes = frame({ opcode: OP.BINARY, payload: BINARY.subarray(0, length) });
      const header = bytes.length - length;
      const { events, feed, assembling } = server();
      feed(bytes.subarray(0, header + first));
      assert.equal(assembling(), expected, `${length} B, first piece ${first} B`);
      feed(bytes.subarray(header + first));
      assert.deepEqual(events, [['message', BINARY.subarray(0, length).toString('hex'), true]]);
    }
  });

  test('allocates no buffer of the announced length until half of the payload has arrived', () => {
    const payload = Buffer.alloc(1_000_000, 0x41);
    const bytes = frame({ opcode: OP.BINARY, payload });
    const header = bytes.length - payload.length;
    const { events, feed, assembling } = server({ maxMessageSize: 2_000_000 });
    feed(bytes.subarray(0, header + 1));
    assert.equal(assembling(), false, 'a header alone made the server allocate');
    feed(bytes.subarray(header + 1, header + 499_999));
    assert.equal(assembling(), false, 'allocated before half had arrived');
    feed(bytes.subarray(header + 499_999, header + 500_000));
    assert.equal(assembling(), true);
    feed(bytes.subarray(header + 500_000));
    assert.equal(assembling(), false);
    assert.equal(events.length, 1);
    assert.equal(events[0]![0], 'message');
    assert.equal((events[0] as Event)[1], payload.toString('hex'));
  });

  test('fails with 1007 on invalid UTF-8 in the assembled half, before the frame completes', () => {
    bothPaths((simd) => {
      const payload = Buffer.from('a'.repeat(40_000));
      payload[30_000] = 0xff;
      const bytes = frame({ opcode: OP.TEXT, payload });
      const { events, feed, assembling } = server();
      feed(...cut(bytes, [25_000, 35_000]));
      assert.deepEqual(events, [['closed', 1007, 'VOLLEY_ERR_INVALID_UTF8']], `simd ${simd}`);
      assert.equal(assembling(), false, `simd ${simd}: the buffer outlived the connection`);
    });
  });

  test('drops the buffer when the connection ends mid-frame', () => {
    const bytes = frame({ opcode: OP.BINARY, payload: BINARY });
    const { conn, events, feed, assembling } = server();
    feed(bytes.subarray(0, 50_000));
    assert.equal(assembling(), true);
    conn.receiveEof();
    assert.deepEqual(events, [['closed', 1006, null]]);
    assert.equal(assembling(), false);
  });
});
