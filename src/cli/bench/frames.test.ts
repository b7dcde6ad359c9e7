import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FrameReader, Op, buildMaskedFrame } from './frames.js';
import { LatencyRecorder, readClock } from './latency.js';
import { StampedFrames } from './stamped-frames.js';
import { HUB_CHANNEL } from './hub-wire.js';
import { decodeStamp, encodeStamp } from './stamp.js';
import { buildPayload, type Wire } from './target.js';

const KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** An unmasked server frame (FIN set). */
function serverFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0, n]) : n < 0x10000 ? Buffer.from([0, 126, n >> 8, n & 0xff]) : Buffer.alloc(10);
  if (n >= 0x10000) {
    header[1] = 127;
    header.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    header.writeUInt32BE(n >>> 0, 6);
  }
  header[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([header, payload]);
}

function stamped(micros: number, size = 16): Buffer {
  const { payload } = buildPayload(size);
  encodeStamp(micros, payload);
  return payload;
}

interface Seen {
  reader: FrameReader;
  controls: [number, string, number][];
  latency: LatencyRecorder;
}

function reader(options: { wire?: Wire; stampOffset?: number } = {}): Seen {
  const controls: Seen['controls'] = [];
  const latency = new LatencyRecorder();
  latency.active = true;
  const r = new FrameReader({
    stampOffset: options.stampOffset ?? 0,
    wire: options.wire ?? 'websocket',
    latency,
    control: (opcode, head, length) => controls.push([opcode, head.toString('latin1'), length]),
  });
  return { reader: r, controls, latency };
}

/** Feeds `bytes` whole, then split at every byte, and returns what each run saw. */
function eachSplit(bytes: Buffer, make: () => Seen, check: (seen: Seen, how: string) => void): void {
  const whole = make();
  whole.reader.feed(bytes, 0, bytes.length);
  check(whole, 'whole');
  for (let cut = 1; cut < bytes.length; cut++) {
    const seen = make();
    seen.reader.feed(bytes.subarray(0, cut), 0, cut);
    seen.reader.feed(bytes.subarray(cut), 0, bytes.length - cut);
    check(seen, `split at ${cut}`);
  }
}

describe('send stamps', () => {
  test('round-trip 48-bit microsecond counts, masked or not', () => {
    const out = Buffer.alloc(8);
    for (const micros of [0, 1, 63, 64, 1_000_000, 2 ** 40 + 12345, 2 ** 48 - 1]) {
      encodeStamp(micros, out);
      assert.equal(decodeStamp(out, 0, 0), micros);
      const masked = Buffer.from(out.map((b, j) => b ^ KEY[j & 3]!));
      assert.equal(decodeStamp(masked, 0, Buffer.from(KEY).readUInt32BE(0)), micros);
    }
  });

  test('are plain ASCII that JSON does not escape', () => {
    const out = Buffer.alloc(8);
    for (let micros = 0; micros < 64 ** 2; micros += 7) {
      encodeStamp(micros * 1_000_003, out);
      const text = out.toString('latin1');
      assert.equal(JSON.stringify(text), `"${text}"`);
    }
  });

  test('decode to -1 for bytes that are not a stamp', () => {
    assert.equal(decodeStamp(Buffer.from('AAAA"AAA'), 0, 0), -1);
  });
});

describe('FrameReader', () => {
  test('counts unmasked server frames of every length encoding, split at every byte', () => {
    const bytes = Buffer.concat([serverFrame(Op.TEXT, stamped(5)), serverFrame(Op.BINARY, stamped(6, 300)), serverFrame(Op.TEXT, stamped(7, 70_000))]);
    eachSplit(bytes, reader, ({ reader: r, controls }, how) => {
      assert.equal(r.messages, 3, how);
      assert.deepEqual(controls, [], how);
    });
  });

  test('counts masked frames (the raw echo returns the client frames) and reads their stamps', () => {
    readClock.micros = 1000;
    const bytes = Buffer.concat([buildMaskedFrame(Op.TEXT, stamped(900), KEY), buildMaskedFrame(Op.TEXT, stamped(900), KEY)]);
    eachSplit(bytes, reader, ({ reader: r, latency }, how) => {
      assert.equal(r.messages, 2, how);
      const summary = latency.summary();
      assert.equal(summary.count, 2, how);
      assert.equal(summary.p50, 0.1, how); // 100 µs
    });
  });

  test('reads each frame its own stamp when consecutive stamps differ, in bytes or only in mask', () => {
    readClock.micros = 1000;
    const s900 = stamped(900); // "AAAAAAOE": letters only
    // The same bytes on the wire under another key: the stamp's letters with their case flipped.
    const key2 = KEY.map((b) => b ^ 0x20);
    const flipped = Buffer.from(s900.map((b, j) => (j < 8 ? b ^ 0x20 : b)));
    const bytes = Buffer.concat([
      buildMaskedFrame(Op.TEXT, s900, KEY),
      buildMaskedFrame(Op.TEXT, s900, KEY),
      buildMaskedFrame(Op.TEXT, flipped, key2),
      buildMaskedFrame(Op.TEXT, stamped(950), KEY),
    ]);
    assert.deepEqual(bytes.subarray(6, 14), bytes.subarray(2 * 22 + 6, 2 * 22 + 14));
    eachSplit(bytes, reader, ({ reader: r, latency }, how) => {
      assert.equal(r.messages, 4, how);
      const summary = latency.summary();
      assert.equal(summary.count, 4, how);
      assert.equal(summary.max, 0.1, how); // the two stamped 900
      assert.equal(summary.p50, 0.05, how); // 950, and the flipped stamp (far in the future: 1 µs)
    });
  });

  test('reports control frames with their payload and counts a fragmented message once', () => {
    const bytes = Buffer.concat([
      serverFrame(Op.TEXT, stamped(1).subarray(0, 10), false),
      serverFrame(Op.PING, Buffer.from('hi')),
      serverFrame(Op.CONT, stamped(1).subarray(10), true),
      serverFrame(Op.CLOSE, Buffer.from([0x03, 0xe8])),
    ]);
    eachSplit(bytes, reader, ({ reader: r, controls }, how) => {
      assert.equal(r.messages, 1, how);
      assert.deepEqual(controls, [
        [Op.PING, 'hi', 2],
        [Op.CLOSE, '\x03\xe8', 2],
      ], how);
    });
  });

  test('in Socket.IO mode counts only "42" events and hands other packets to control', () => {
    const { payload, stampOffset } = buildPayload(16, 'socketio');
    encodeStamp(42, payload.subarray(stampOffset));
    const bytes = Buffer.concat([serverFrame(Op.TEXT, Buffer.from('0{"sid":"x"}')), serverFrame(Op.TEXT, Buffer.from('40{"sid":"y"}')), serverFrame(Op.TEXT, payload), serverFrame(Op.TEXT, Buffer.from('2'))]);
    eachSplit(bytes, () => reader({ wire: 'socketio', stampOffset }), ({ reader: r, controls }, how) => {
      assert.equal(r.messages, 1, how);
      assert.deepEqual(controls.map(([op, head]) => [op, head.slice(0, 2)]), [[Op.TEXT, '0{'], [Op.TEXT, '40'], [Op.TEXT, '2']], how);
    });
  });

  test('in hub mode counts only publication pushes, reads their stamps, and hands replies and other pushes to control', () => {
    readClock.micros = 10_000;
    const publication = (offset: number, micros: number, filler = 'x') => {
      const stamp = Buffer.alloc(8);
      encodeStamp(micros, stamp);
      return Buffer.from(JSON.stringify({ type: 'publication', channel: HUB_CHANNEL, offset, data: `${stamp.toString('latin1')}${filler}`, time: 1 }));
    };
    const reply = Buffer.from('{"id":2,"result":{"epoch":"e","offset":0,"recovered":false,"publications":[]}}');
    const gap = Buffer.from('{"type":"gap","channel":"bench","fromOffset":1,"toOffset":3,"epochChanged":false}');
    const bytes = Buffer.concat([
      serverFrame(Op.TEXT, reply),
      serverFrame(Op.TEXT, publication(1, 9_000)),
      serverFrame(Op.TEXT, gap),
      serverFrame(Op.TEXT, publication(123_456, 8_000)),
      serverFrame(Op.TEXT, publication(123_457, 8_000, 'z'.repeat(300))),
    ]);
    eachSplit(bytes, () => reader({ wire: 'volley-hub' }), ({ reader: r, controls, latency }, how) => {
      assert.equal(r.messages, 3, how);
      assert.deepEqual(controls, [
        [Op.TEXT, reply.toString('latin1'), reply.length],
        [Op.TEXT, gap.toString('latin1'), gap.length],
      ], how);
      const summary = latency.summary();
      assert.equal(summary.count, 3, how);
      assert.equal(summary.max, 2, how); // 2,000 µs, the two later ones
      assert.equal(summary.p50, 2, how);
    });
  });
});

describe('StampedFrames', () => {
  test('builds N masked frames that carry the stamp of the batch', () => {
    for (const [size, wire] of [[16, 'websocket'], [1024, 'websocket'], [65536, 'websocket'], [16, 'socketio']] as const) {
      const layout = buildPayload(size, wire);
      const frames = new StampedFrames(Op.TEXT, layout, KEY, 4);
      const batch = frames.build(3, 123_456_789);
      assert.equal(batch.length, 3 * frames.frameLength);
      readClock.micros = 123_457_789;
      const seen = reader({ wire, stampOffset: layout.stampOffset });
      seen.reader.feed(batch, 0, batch.length);
      assert.equal(seen.reader.messages, 3, `size ${size}`);
      assert.equal(seen.latency.summary().p50, 1, `size ${size}`); // 1000 µs
    }
  });
});
