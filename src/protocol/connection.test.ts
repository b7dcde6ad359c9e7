import assert from 'node:assert/strict';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { Connection, type ConnectionEvents, type ConnectionOptions } from './connection.js';
import type { CodecCallback, MessageCodec } from './types.js';
import { ErrorCode, WebSocketError } from './errors.js';

type Event =
  | ['message', string, boolean]
  | ['ping', string]
  | ['pong', string]
  | ['closed', number, string, string | null];

/** A connection wired to arrays: `events` it reported, `written` bytes it sent (`extra`: the optional callbacks). */
function harness(options: Partial<ConnectionOptions> = {}, extra: Pick<ConnectionEvents, 'drained' | 'outputPending'> = {}) {
  const events: Event[] = [];
  const written: Buffer[] = [];
  const conn = new Connection(
    { role: 'server', ...options } as ConnectionOptions,
    {
      write: (data) => written.push(Buffer.from(data)),
      message: (data, isBinary) => events.push(['message', isBinary ? data.toString('hex') : data.toString('utf8'), isBinary]),
      ping: (data) => events.push(['ping', data.toString('hex')]),
      pong: (data) => events.push(['pong', data.toString('hex')]),
      closed: (code, reason, error) => events.push(['closed', code, reason, error?.code ?? null]),
      ...extra,
    },
  );
  return { conn, events, written, out: () => Buffer.concat(written).toString('hex') };
}

/** A masked client frame, as a server receives it. */
function clientFrame(opcode: number, payload: Buffer | string, { fin = true, rsv1 = false, mask = [1, 2, 3, 4] } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = data.length;
  const header: number[] = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode];
  if (len < 126) header.push(0x80 | len);
  else if (len < 65536) header.push(0x80 | 126, len >> 8, len & 0xff);
  else header.push(0x80 | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  header.push(...mask);
  const masked = Buffer.from(data.map((b, i) => b ^ mask[i & 3]!));
  return Buffer.concat([Buffer.from(header), masked]);
}

/** Feeds `bytes` to a fresh harness split at `at` (or whole), returning the harness. */
function feed(bytes: Buffer, options: Partial<ConnectionOptions> = {}, at?: number) {
  const h = harness(options);
  if (at === undefined) h.conn.receive(Buffer.from(bytes));
  else {
    h.conn.receive(Buffer.from(bytes.subarray(0, at)));
    h.conn.receive(Buffer.from(bytes.subarray(at)));
  }
  return h;
}

/** Asserts that every two-way split of `bytes` gives the same events and output as feeding it whole. */
function assertSplitInvariant(bytes: Buffer, options: Partial<ConnectionOptions> = {}) {
  const whole = feed(bytes, options);
  for (let at = 0; at <= bytes.length; at++) {
    const split = feed(bytes, options, at);
    assert.deepEqual(split.events, whole.events, `events differ when split at ${at}`);
    assert.equal(split.out(), whole.out(), `output differs when split at ${at}`);
  }
  // And one byte at a time.
  const h = harness(options);
  for (const byte of bytes) h.conn.receive(Buffer.from([byte]));
  assert.deepEqual(h.events, whole.events, 'events differ when fed byte by byte');
  return whole;
}

describe('receiving data frames', () => {
  test('delivers a masked text frame, whatever the split', () => {
    const { events } = assertSplitInvariant(clientFrame(1, 'Hello'));
    assert.deepEqual(events, [['message', 'Hello', false]]);
  });

  test('decodes the RFC 6455 §5.7 masked "Hello" example', () => {
    const bytes = Buffer.from('818537fa213d7f9f4d5158', 'hex');
    assert.deepEqual(feed(bytes).events, [['message', 'Hello', false]]);
  });

  test('delivers 16-bit and 64-bit lengths', () => {
    const medium = Buffer.alloc(300, 0x61);
    const large = Buffer.alloc(70_000, 0x62);
    const h = feed(Buffer.concat([clientFrame(2, medium), clientFrame(2, large)]));
    assert.equal(h.events.length, 2);
    assert.equal(h.events[0]![1], medium.toString('hex'));
    assert.equal(h.events[1]![1], large.toString('hex'));
  });

  test('assembles a fragmented message with a ping in the middle, whatever the split', () => {
    const bytes = Buffer.concat([
      clientFrame(1, 'Hel', { fin: false }),
      clientFrame(9, 'p'),
      clientFrame(0, 'lo', { fin: false }),
      clientFrame(0, ' world'),
    ]);
    const { events, out } = assertSplitInvariant(bytes);
    assert.deepEqual(events, [
      ['ping', '70'],
      ['message', 'Hello world', false],
    ]);
    assert.equal(out(), '8a0170', 'the ping is answered by a pong with the same payload, before the message completes');
  });

  test('accepts a text message split inside a code point across fragments', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    const bytes = Buffer.concat([clientFrame(1, euro.subarray(0, 1), { fin: false }), clientFrame(0, euro.subarray(1))]);
    assert.deepEqual(assertSplitInvariant(bytes).events, [['message', '€', false]]);
  });

  test('delivers empty text and binary messages', () => {
    const h = feed(Buffer.concat([clientFrame(1, ''), clientFrame(2, Buffer.alloc(0))]));
    assert.deepEqual(h.events, [
      ['message', '', false],
      ['message', '', true],
    ]);
  });

  test('ignores an unsolicited pong except for reporting it', () => {
    const h = feed(clientFrame(10, 'x'));
    assert.deepEqual(h.events, [['pong', '78']]);
    assert.equal(h.out(), '');
  });
});

describe('failing the connection on protocol violations (1002)', () => {
  const cases: Array<[string, Buffer]> = [
    ['RSV1 without a negotiated extension', clientFrame(1, 'x', { rsv1: true })],
    ['RSV2 set', Buffer.from([0xa1, 0x80, 0, 0, 0, 0])],
    ['RSV3 set', Buffer.from([0x91, 0x80, 0, 0, 0, 0])],
    ['reserved data opcode 3', clientFrame(3, '')],
    ['reserved control opcode 0xb', clientFrame(0xb, '')],
    ['an unmasked client frame', Buffer.from([0x81, 0x01, 0x61])],
    ['a fragmented ping', clientFrame(9, 'x', { fin: false })],
    ['a ping with 126 bytes', clientFrame(9, Buffer.alloc(126))],
    ['a continuation with nothing to continue', clientFrame(0, 'x')],
    ['a new text frame inside a fragmented message', Buffer.concat([clientFrame(1, 'a', { fin: false }), clientFrame(1, 'b')])],
    ['a 64-bit length with the MSB set', Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])],
  ];
  for (const [name, bytes] of cases) {
    test(`closes with 1002 on ${name}, whatever the split`, () => {
      const { events, out } = assertSplitInvariant(bytes);
      const last = events.at(-1)!;
      assert.equal(last[0], 'closed');
      assert.equal(last[1], 1002);
      assert.ok(out().endsWith('880203ea'), `a close frame with 1002 is sent (got ${out()})`);
    });
  }

  test('a client closes with 1002 on a masked server frame', () => {
    const h = harness({ role: 'client', randomFill: (b) => b.fill(0) });
    h.conn.receive(clientFrame(1, 'x'));
    assert.deepEqual(h.events, [['closed', 1002, '', ErrorCode.PROTOCOL]]);
  });

  test('delivers nothing after the violation', () => {
    const h = feed(Buffer.concat([clientFrame(1, 'ok'), clientFrame(3, ''), clientFrame(1, 'late'), clientFrame(9, '')]));
    assert.deepEqual(h.events, [
      ['message', 'ok', false],
      ['closed', 1002, '', ErrorCode.PROTOCOL],
    ]);
    assert.equal(h.out(), '880203ea', 'no pong for the late ping');
  });
});

describe('invalid UTF-8 (1007)', () => {
  test('closes with 1007 on invalid text, whatever the split', () => {
    const { events } = assertSplitInvariant(clientFrame(1, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64])));
    assert.deepEqual(events.at(-1), ['closed', 1007, '', ErrorCode.INVALID_UTF8]);
  });

  test('fails at the first invalid byte before the frame is complete (fail fast)', () => {
    const frame = clientFrame(1, Buffer.concat([Buffer.from('valid'), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('more text')]));
    const h = harness();
    const headerAndValid = 6 + 5 + 2; // 2-byte header + 4-byte mask + "valid" + F4 90
    h.conn.receive(Buffer.from(frame.subarray(0, headerAndValid)));
    assert.deepEqual(h.events, [['closed', 1007, '', ErrorCode.INVALID_UTF8]]);
  });

  test('fails fast in a later fragment before the message is complete', () => {
    const h = harness();
    h.conn.receive(clientFrame(1, 'abc', { fin: false }));
    assert.deepEqual(h.events, []);
    h.conn.receive(clientFrame(0, Buffer.from([0xc0, 0x80]), { fin: false }));
    assert.deepEqual(h.events, [['closed', 1007, '', ErrorCode.INVALID_UTF8]]);
  });

  test('rejects a text message that ends in the middle of a code point', () => {
    assert.deepEqual(feed(clientFrame(1, Buffer.from([0x61, 0xe2, 0x82]))).events, [['closed', 1007, '', ErrorCode.INVALID_UTF8]]);
  });

  test('never checks binary messages', () => {
    assert.deepEqual(feed(clientFrame(2, Buffer.from([0xff, 0xfe]))).events, [['message', 'fffe', true]]);
  });
});

describe('limits', () => {
  test('closes with 1009 as soon as a frame announces more than maxMessageSize', () => {
    const h = harness({ maxMessageSize: 1000 });
    h.conn.receive(Buffer.from([0x82, 0xfe, 0x03, 0xe9, 1, 2, 3, 4])); // 1001 bytes announced, none sent
    assert.deepEqual(h.events, [['closed', 1009, '', ErrorCode.PAYLOAD_TOO_BIG]]);
    assert.equal(h.out(), '880203f1');
  });

  test('accepts a message of exactly maxMessageSize', () => {
    const h = feed(clientFrame(2, Buffer.alloc(1000)), { maxMessageSize: 1000 });
    assert.equal(h.events[0]![0], 'message');
  });

  test('closes with 1009 at the fragment that crosses the limit, not at FIN', () => {
    const h = harness({ maxMessageSize: 10 });
    h.conn.receive(clientFrame(2, Buffer.alloc(6), { fin: false }));
    h.conn.receive(clientFrame(0, Buffer.alloc(6), { fin: false }));
    assert.deepEqual(h.events, [['closed', 1009, '', ErrorCode.PAYLOAD_TOO_BIG]]);
  });

  test('closes with 1008 when a message spans more than maxFragments frames, empty ones included', () => {
    const h = harness({ maxFragments: 3 });
    h.conn.receive(clientFrame(2, '', { fin: false }));
    h.conn.receive(clientFrame(0, '', { fin: false }));
    h.conn.receive(clientFrame(0, '', { fin: false }));
    assert.deepEqual(h.events, []);
    h.conn.receive(clientFrame(0, '', { fin: false }));
    assert.deepEqual(h.events, [['closed', 1008, '', ErrorCode.TOO_MANY_FRAGMENTS]]);
  });

  test('closes with 1009 on a 64-bit length of 2^53', () => {
    const h = feed(Buffer.from([0x82, 0xff, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]));
    assert.deepEqual(h.events, [['closed', 1009, '', ErrorCode.PAYLOAD_TOO_BIG]]);
  });

  test('keeps a frame dribbled one byte at a time in few chunks', () => {
    const payload = Buffer.alloc(100_000, 7);
    const frame = clientFrame(2, payload);
    const h = harness();
    for (let i = 0; i < frame.length; i++) h.conn.receive(frame.subarray(i, i + 1));
    assert.equal(h.events.length, 1);
    assert.equal(h.events[0]![1], payload.toString('hex'));
  });
});

describe('the closing handshake', () => {
  test('echoes the peer close code and reports it', () => {
    const payload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]);
    const { events, out } = assertSplitInvariant(clientFrame(8, payload));
    assert.deepEqual(events, [['closed', 1000, 'bye', null]]);
    assert.equal(out(), '880203e8', 'echo carries the code only');
  });

  test('answers an empty close with an empty close and reports 1005', () => {
    const h = feed(clientFrame(8, ''));
    assert.deepEqual(h.events, [['closed', 1005, '', null]]);
    assert.equal(h.out(), '8800');
  });

  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
    test(`accepts close code ${code}`, () => {
      const h = feed(clientFrame(8, Buffer.from([code >> 8, code & 0xff])));
      assert.deepEqual(h.events, [['closed', code, '', null]]);
    });
  }

  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    test(`closes with 1002 on close code ${code}`, () => {
      const h = feed(clientFrame(8, Buffer.from([code >> 8, code & 0xff])));
      assert.deepEqual(h.events, [['closed', 1002, '', ErrorCode.INVALID_CLOSE_CODE]]);
    });
  }

  test('closes with 1002 on a 1-byte close payload', () => {
    assert.deepEqual(feed(clientFrame(8, Buffer.from([3]))).events, [['closed', 1002, '', ErrorCode.INVALID_CLOSE_CODE]]);
  });

  test('closes with 1007 on a close reason that is not UTF-8', () => {
    assert.deepEqual(feed(clientFrame(8, Buffer.from([3, 0xe8, 0xff]))).events, [['closed', 1007, '', ErrorCode.INVALID_UTF8]]);
  });

  test('ignores everything after the peer close', () => {
    const h = feed(Buffer.concat([clientFrame(8, Buffer.from([3, 0xe8])), clientFrame(9, 'x'), clientFrame(1, 'late')]));
    assert.deepEqual(h.events, [['closed', 1000, '', null]]);
    assert.equal(h.out(), '880203e8');
  });

  test('a locally started close waits for the peer close, still delivering its messages', () => {
    const h = harness();
    h.conn.close(1000, 'done');
    assert.equal(h.out(), '880603e8646f6e65');
    h.conn.receive(clientFrame(1, 'in flight'));
    h.conn.receive(clientFrame(8, Buffer.from([3, 0xe8])));
    assert.deepEqual(h.events, [
      ['message', 'in flight', false],
      ['closed', 1000, '', null],
    ]);
    assert.equal(h.out(), '880603e8646f6e65', 'no second close frame');
  });

  test('sends nothing once closing: send and ping return false', () => {
    const h = harness();
    h.conn.close();
    assert.equal(h.conn.send('x'), false);
    assert.equal(h.conn.ping(), false);
    assert.equal(h.out(), '8800');
  });

  test('throws synchronously on bad close arguments and sends nothing', () => {
    const h = harness();
    assert.throws(() => h.conn.close(1005), /invalid close code/);
    assert.throws(() => h.conn.close(999), /invalid close code/);
    assert.throws(() => h.conn.close(1000, 'x'.repeat(124)), /123 bytes/);
    assert.throws(() => h.conn.close(1000, new Float32Array(4) as unknown as string), /string/);
    assert.throws(() => h.conn.close(undefined, 'reason'), /needs a close code/);
    assert.equal(h.out(), '');
  });

  test('receiveEof on an open connection reports 1006', () => {
    const h = harness();
    h.conn.receiveEof();
    assert.deepEqual(h.events, [['closed', 1006, '', null]]);
  });
});

describe('sending', () => {
  test('frames text and binary unmasked on the server', () => {
    const h = harness();
    h.conn.send('Hi');
    h.conn.send(Buffer.from([1, 2]));
    assert.equal(h.out(), '8102' + Buffer.from('Hi').toString('hex') + '82020102');
  });

  test('frames a large payload as header plus the payload itself, without copying it', () => {
    const h = harness();
    const payload = Buffer.alloc(70_000, 1);
    h.conn.send(payload);
    assert.equal(h.written.length, 2);
    assert.equal(h.written[0]!.toString('hex'), '827f0000000000011170');
  });

  test('masks every client frame with a fresh key and leaves the caller bytes alone', () => {
    let n = 0;
    const h = harness({ role: 'client', randomFill: (b) => b.forEach((_, i) => (b[i] = (n++ * 7) & 0xff)) });
    const data = Buffer.from('abcd');
    h.conn.send(data);
    h.conn.send(data);
    assert.equal(data.toString(), 'abcd');
    const [first, second] = h.written;
    assert.equal(first![1], 0x84);
    assert.notEqual(first!.subarray(2, 6).toString('hex'), second!.subarray(2, 6).toString('hex'));
    const key = first!.subarray(2, 6);
    const unmasked = Buffer.from(first!.subarray(6).map((b, i) => b ^ key[i & 3]!));
    assert.equal(unmasked.toString(), 'abcd');
  });

  test('splits messages larger than maxFrameSize into continuation frames', () => {
    const h = harness({ maxFrameSize: 2 });
    h.conn.send('abcde');
    assert.equal(h.out(), '01026162' + '00026364' + '800165');
  });

  test('sends a caller-fragmented message with fin: false', () => {
    const h = harness();
    h.conn.send('ab', false, false);
    h.conn.send('cd', false, true);
    assert.equal(h.out(), '01026162' + '80026364');
  });

  test('throws TypeError-like errors for payloads that are not strings or bytes', () => {
    const h = harness();
    assert.throws(() => h.conn.send(123 as unknown as string), WebSocketError);
    assert.throws(() => h.conn.ping(Buffer.alloc(126)), /125 bytes/);
    assert.equal(h.out(), '');
  });
});

/** A synchronous or deferred raw-deflate codec for tests (the real one is socket/deflate-codec.ts). */
function fakeCodec(defer: boolean): MessageCodec & { flushAll(): void } {
  const jobs: Array<() => void> = [];
  let inflateParts: Buffer[] = [];
  const run = (job: () => void) => (defer ? jobs.push(job) : job());
  return {
    decompress(data: Uint8Array, fin: boolean, limit: number, callback: CodecCallback) {
      const copy = Buffer.from(data);
      run(() => {
        inflateParts.push(copy);
        if (!fin) return callback(null, Buffer.alloc(0));
        const all = Buffer.concat([...inflateParts, Buffer.from([0, 0, 0xff, 0xff])]);
        inflateParts = [];
        const out = inflateRawSync(all, { finishFlush: 2 });
        if (out.length > limit) return callback(new WebSocketError(ErrorCode.PAYLOAD_TOO_BIG, 'too big', 1009));
        callback(null, out);
      });
    },
    compress(data: Uint8Array, callback: CodecCallback) {
      const copy = Buffer.from(data);
      run(() => {
        const out = deflateRawSync(copy, { finishFlush: 2 /* Z_SYNC_FLUSH */ });
        callback(null, out.subarray(0, out.length - 4));
      });
    },
    close() {
      jobs.length = 0;
    },
    flushAll() {
      while (jobs.length > 0) jobs.shift()!();
    },
  };
}

function compressed(text: string): Buffer {
  const out = deflateRawSync(Buffer.from(text), { finishFlush: 2 });
  return out.subarray(0, out.length - 4);
}

describe('permessage-deflate through an injected codec', () => {
  for (const defer of [false, true]) {
    const mode = defer ? 'an asynchronous' : 'a synchronous';
    test(`inflates a compressed message with ${mode} codec, keeping later frames in order`, () => {
      const codec = fakeCodec(defer);
      const h = harness({ codec });
      h.conn.receive(Buffer.concat([clientFrame(1, compressed('hello hello hello'), { rsv1: true }), clientFrame(1, 'plain'), clientFrame(9, 'p')]));
      codec.flushAll();
      assert.deepEqual(h.events, [
        ['message', 'hello hello hello', false],
        ['message', 'plain', false],
        ['ping', '70'],
      ]);
    });

    test(`compresses outgoing messages above the threshold with ${mode} codec, in order with small ones`, () => {
      const codec = fakeCodec(defer);
      const h = harness({ codec, compressThreshold: 10 });
      h.conn.send('a'.repeat(100));
      h.conn.send('tiny');
      h.conn.close(1000);
      codec.flushAll();
      const out = Buffer.concat(h.written);
      assert.equal(out[0], 0xc1, 'FIN + RSV1 + text');
      const len = out[1]!;
      const next = 2 + len;
      assert.equal(inflateRawSync(Buffer.concat([out.subarray(2, next), Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: 2 }).toString(), 'a'.repeat(100));
      assert.equal(out.subarray(next).toString('hex'), '8104' + Buffer.from('tiny').toString('hex') + '880203e8');
    });
  }

  test('allows RSV1 only on the first frame of a message', () => {
    const h = harness({ codec: fakeCodec(false) });
    const part = compressed('abc');
    h.conn.receive(Buffer.concat([clientFrame(1, part.subarray(0, 2), { fin: false, rsv1: true }), clientFrame(0, part.subarray(2), { rsv1: true })]));
    assert.deepEqual(h.events, [['closed', 1002, '', ErrorCode.PROTOCOL]]);
  });

  test('counts inflated bytes against maxMessageSize (1009)', () => {
    const h = harness({ codec: fakeCodec(false), maxMessageSize: 1000 });
    h.conn.receive(clientFrame(2, compressed('A'.repeat(100_000)), { rsv1: true }));
    assert.deepEqual(h.events, [['closed', 1009, '', ErrorCode.PAYLOAD_TOO_BIG]]);
  });

  test('validates UTF-8 on the inflated text', () => {
    const bad = deflateRawSync(Buffer.from([0x61, 0xff]), { finishFlush: 2 });
    const h = harness({ codec: fakeCodec(false) });
    h.conn.receive(clientFrame(1, bad.subarray(0, bad.length - 4), { rsv1: true }));
    assert.deepEqual(h.events, [['closed', 1007, '', ErrorCode.INVALID_UTF8]]);
  });
});

describe('construction', () => {
  test('refuses a client without randomness and bad limits', () => {
    assert.throws(() => harness({ role: 'client' }), /randomFill/);
    assert.throws(() => harness({ maxMessageSize: 0 }), /maxMessageSize/);
    assert.throws(() => harness({ maxFragments: 1.5 }), /maxFragments/);
  });
});

describe('regressions', () => {
  test('keeps held input in order when a second compressed message starts inside a held chunk (Autobahn 12.5.17)', () => {
    const codec = fakeCodec(true);
    const h = harness({ codec });
    h.conn.receive(clientFrame(1, compressed('first message'), { rsv1: true }));
    h.conn.receive(Buffer.concat([clientFrame(1, compressed('second message'), { rsv1: true }), clientFrame(1, 'third')]));
    h.conn.receive(clientFrame(1, 'fourth'));
    codec.flushAll();
    codec.flushAll();
    assert.deepEqual(h.events, [
      ['message', 'first message', false],
      ['message', 'second message', false],
      ['message', 'third', false],
      ['message', 'fourth', false],
    ]);
  });

  test('sends a message still being compressed before answering the peer close (Autobahn 7.1.1 with deflate)', () => {
    const codec = fakeCodec(true);
    const h = harness({ codec, compressThreshold: 0 });
    h.conn.send('echo of the last message');
    h.conn.receive(clientFrame(8, Buffer.from([0x03, 0xe8])));
    assert.deepEqual(h.events, [], 'not closed while the message waits for the compressor');
    codec.flushAll();
    const out = Buffer.concat(h.written);
    assert.equal(out[0], 0xc1, 'the compressed message goes first');
    assert.ok(out.toString('hex').endsWith('880203e8'), 'then the echoed close');
    assert.deepEqual(h.events, [['closed', 1000, '', null]]);
  });

  test('ignores input after the peer close while the compressor finishes', () => {
    const codec = fakeCodec(true);
    const h = harness({ codec, compressThreshold: 0 });
    h.conn.send('pending');
    h.conn.receive(Buffer.concat([clientFrame(8, Buffer.from([0x03, 0xe8])), clientFrame(9, 'late')]));
    codec.flushAll();
    assert.deepEqual(h.events, [['closed', 1000, '', null]]);
  });
});

describe('batched output (batchOutput)', () => {
  function script(conn: Connection): void {
    conn.send('hi');
    conn.send(Buffer.from([1, 2, 3]));
    conn.send('é'.repeat(300));
    conn.send(Buffer.alloc(5000, 7)); // large: written on its own, after what was batched
    conn.ping('p');
    conn.send('after', false, false);
    conn.send(' the big one');
    conn.close(1000, 'bye');
  }

  for (const role of ['server', 'client'] as const) {
    test(`writes exactly the bytes an unbatched ${role} writes, in the same order`, () => {
      let seed = 0;
      const randomFill = (b: Uint8Array) => b.forEach((_, i) => (b[i] = (seed++ * 31) & 0xff));
      const plain = harness({ role, randomFill });
      script(plain.conn);
      seed = 0;
      let pending = 0;
      const batched = harness({ role, randomFill, batchOutput: true } as Partial<ConnectionOptions>, { outputPending: () => pending++ });
      script(batched.conn);
      batched.conn.flushOutput();
      assert.equal(batched.out(), plain.out());
      assert.ok(batched.written.length < plain.written.length, `fewer writes (${batched.written.length} vs ${plain.written.length})`);
      assert.ok(pending > 0, 'outputPending announced the batch');
    });
  }

  test('holds small frames until flushOutput, and flushes them before reporting closed', () => {
    const h = harness({ batchOutput: true } as Partial<ConnectionOptions>);
    h.conn.send('a');
    h.conn.send('b');
    assert.equal(h.written.length, 0);
    assert.equal(h.conn.bufferedOutput, 6);
    h.conn.flushOutput();
    assert.equal(h.out(), '8101618101' + '62');
    h.conn.send('c');
    h.conn.receive(clientFrame(8, Buffer.from([3, 0xe8])));
    assert.equal(h.out(), '8101618101628101' + '63' + '880203e8', 'the pending frame, then the echoed close');
  });
});

describe('whole frames in one chunk (the fast path) behave like the general parser', () => {
  const sizes = [0, 1, 3, 4, 5, 16, 64, 65, 125, 126, 127, 128, 1000, 65535];

  test('every size: same message whether the chunk is whole, split anywhere near the header, or byte by byte', () => {
    for (const size of sizes) {
      const payload = Buffer.alloc(size, 'a');
      for (const opcode of [1, 2]) {
        const bytes = Buffer.concat([clientFrame(opcode, payload, { mask: [0x11, 0x22, 0x33, 0x44] }), clientFrame(opcode, payload)]);
        const whole = feed(bytes);
        const text = opcode === 1 ? payload.toString() : payload.toString('hex');
        assert.deepEqual(whole.events, [['message', text, opcode === 2], ['message', text, opcode === 2]], `size ${size} opcode ${opcode}`);
        for (const at of [1, 2, 3, 5, 7, 9, bytes.length - 1]) {
          if (at < bytes.length) assert.deepEqual(feed(bytes, {}, at).events, whole.events, `size ${size} split at ${at}`);
        }
      }
    }
  });

  test('delivers a real Buffer that views the received bytes (no copy)', () => {
    let got: Buffer | null = null;
    const chunk = Buffer.concat([clientFrame(2, Buffer.from([1, 2, 3, 4, 5]))]);
    const conn = new Connection({ role: 'server' }, {
      write() {},
      message: (data) => (got = data),
      ping() {},
      pong() {},
      closed() {},
    });
    conn.receive(chunk);
    assert.ok(got !== null);
    const data: Buffer = got;
    assert.ok(Buffer.isBuffer(data));
    assert.ok(data instanceof Buffer);
    assert.equal(data.constructor, Buffer);
    assert.equal(data.buffer, chunk.buffer);
    assert.equal(data.readUInt16BE(0), 0x0102);
    assert.ok(Buffer.isBuffer(data.subarray(1, 2)));
    assert.equal(data.toString('hex'), '0102030405');
  });

  test('invalid UTF-8 in a whole text frame fails with 1007, short (ASCII scan) and long (native check) alike', () => {
    for (const size of [4, 63, 64, 65, 200]) {
      const bad = Buffer.alloc(size, 'x');
      bad[size - 1] = 0xff;
      const { events, out } = feed(Buffer.concat([clientFrame(1, bad), clientFrame(1, 'after')]));
      assert.deepEqual(events, [['closed', 1007, '', ErrorCode.INVALID_UTF8]], `size ${size}`);
      assert.equal(out(), '880203ef');
    }
  });

  test('valid multi-byte UTF-8 in a whole short frame is delivered', () => {
    assert.deepEqual(feed(clientFrame(1, 'Grüße €')).events, [['message', 'Grüße €', false]]);
  });

  test('a whole frame over maxMessageSize still fails with 1009', () => {
    const { events } = feed(clientFrame(2, Buffer.alloc(100)), { maxMessageSize: 99 });
    assert.deepEqual(events, [['closed', 1009, '', ErrorCode.PAYLOAD_TOO_BIG]]);
  });

  test('nothing after a close() from inside the message listener is delivered', () => {
    const delivered: string[] = [];
    const conn: Connection = new Connection({ role: 'server' }, {
      write() {},
      message: (data) => {
        delivered.push(data.toString());
        conn.close(1000);
      },
      ping() {},
      pong() {},
      closed() {},
    });
    conn.receive(Buffer.concat([clientFrame(1, 'one'), clientFrame(1, 'two')]));
    // A closing endpoint may still receive data (§5.5.1), so 'two' arrives; nothing breaks either way.
    assert.equal(delivered[0], 'one');
  });

  test('a client takes whole unmasked server frames and refuses masked ones', () => {
    const randomFill = (b: Uint8Array) => b.fill(7);
    const unmasked = Buffer.from([0x81, 0x02, 0x68, 0x69, 0x82, 0x01, 0xff]);
    assert.deepEqual(feed(unmasked, { role: 'client', randomFill }).events, [['message', 'hi', false], ['message', 'ff', true]]);
    const masked = clientFrame(1, 'hi');
    const { events } = feed(masked, { role: 'client', randomFill });
    assert.equal(events[0]![0], 'closed');
    assert.equal(events[0]![1], 1002);
  });
});

describe('sending small bytes straight into the output block', () => {
  test('text and binary echo frames are byte-exact at every header size', () => {
    for (const size of [0, 5, 32, 33, 125, 126, 1000, 1024]) {
      const h = harness({ batchOutput: true } as Partial<ConnectionOptions>);
      const payload = Buffer.alloc(size, 0x61);
      h.conn.send(payload, false);
      h.conn.send(payload, true);
      h.conn.flushOutput();
      const header = size < 126 ? [size] : [126, size >> 8, size & 0xff];
      const expected = Buffer.concat([Buffer.from([0x81, ...header]), payload, Buffer.from([0x82, ...header]), payload]);
      assert.equal(h.out(), expected.toString('hex'), `size ${size}`);
    }
  });

  test('bytes at the compression threshold are still compressed (regression: the fast path skipped them)', () => {
    const codec = fakeCodec(false);
    const h = harness({ batchOutput: true, codec, compressThreshold: 1024 } as Partial<ConnectionOptions>);
    h.conn.send(Buffer.alloc(1024, 0x61), true);
    h.conn.send(Buffer.alloc(1023, 0x61), true);
    h.conn.flushOutput();
    const out = Buffer.from(h.out(), 'hex');
    assert.equal(out[0], 0xc2, 'the 1024-byte message has RSV1 set');
    const firstLength = out[1]!;
    assert.ok(firstLength < 126, 'compressed to a short frame');
    assert.equal(out[2 + firstLength], 0x82, 'the 1023-byte message goes out uncompressed');
  });

  test('after close() nothing more is sent, and send reports it', () => {
    const h = harness({ batchOutput: true } as Partial<ConnectionOptions>);
    h.conn.close(1000);
    assert.equal(h.conn.send(Buffer.from('late'), true), false);
    h.conn.flushOutput();
    assert.equal(h.out(), '880203e8');
  });
});

describe('the output arena shared by batched connections', () => {
  test('frames of connections that interleave within a tick come out whole and in order, each on its own connection', () => {
    const a = harness({ batchOutput: true } as Partial<ConnectionOptions>);
    const b = harness({ batchOutput: true } as Partial<ConnectionOptions>);
    for (let i = 0; i < 50; i++) {
      a.conn.send(`a${i}`);
      b.conn.send(Buffer.from(`b${i}`), false);
      if (i % 7 === 0) b.conn.send(Buffer.alloc(1024, 0x62), true); // crosses blocks now and then
    }
    a.conn.flushOutput();
    b.conn.flushOutput();
    const parse = (hex: string) => {
      const bytes = Buffer.from(hex, 'hex');
      const messages: string[] = [];
      for (let at = 0; at < bytes.length; ) {
        let length = bytes[at + 1]!;
        let header = 2;
        if (length === 126) {
          length = bytes.readUInt16BE(at + 2);
          header = 4;
        }
        const payload = bytes.subarray(at + header, at + header + length);
        messages.push(length > 100 ? `${length}x${String.fromCharCode(payload[0]!)}` : payload.toString());
        at += header + length;
      }
      return messages;
    };
    assert.deepEqual(parse(a.out()), Array.from({ length: 50 }, (_, i) => `a${i}`));
    assert.deepEqual(parse(b.out()), Array.from({ length: 50 }, (_, i) => (i % 7 === 0 ? [`b${i}`, '1024xb'] : [`b${i}`])).flat());
  });

  test('a connection that sent a frame keeps no output block of its own (regression: 16 KiB kept per connection)', () => {
    const chunks: Uint8Array[] = [];
    const connections = Array.from(
      { length: 100 },
      () => new Connection({ role: 'server', batchOutput: true }, { write: (data) => chunks.push(data), message() {}, ping() {}, pong() {}, closed() {} }),
    );
    for (const conn of connections) {
      conn.send('hello');
      conn.flushOutput();
    }
    assert.equal(chunks.length, 100);
    // All 100 frames (700 bytes) live in the shared block instead of 100 private ones: one block, or two when
    // the one earlier tests left was nearly full.
    assert.ok(new Set(chunks.map((chunk) => chunk.buffer)).size <= 2);
    assert.ok(chunks.every((chunk) => Buffer.from(chunk).toString('hex') === '810568656c6c6f'));
  });
});
