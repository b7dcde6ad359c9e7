/**
 * A live WebSocketServer against hand-made frames from a bare TCP client: each protocol violation gets the
 * close code RFC 6455 asks for (F2, F3, F5, U1, Fr1, Fr2, L1, C1), promptly, followed by the server closing
 * TCP, while the server stays healthy for other clients. Also the send-API argument checks (F6) and the
 * slow-consumer policies (B1). G0 (no escaped error, no leaked handle) is checked at the end.
 */

import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import zlib from 'node:zlib';

import { OP, binary, closeFrame, closePayload, frame, text } from '../test-support/frames.js';
import { guardProcess } from '../test-support/process-guard.js';
import { RawClient, type RequestSpec } from '../test-support/raw-client.js';
import { Cleanup, nextEvent, sleep, startServer, stopServer, within } from '../test-support/util.js';
import { SLOW_CONSUMER, SendStatus, type WebSocket, type WebSocketServerOptions } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const T = { timeout: 20_000 };
const KiB = 1024;
const MiB = 1024 * KiB;

/** What the server side saw of one connection. */
interface Seen {
  ws: WebSocket;
  messages: Buffer[];
  errors: string[];
  closed: Promise<[number, string, boolean]>;
}

/** An echo server whose connections are recorded. */
async function server(options: Omit<WebSocketServerOptions, 'port'> = {}) {
  const started = await startServer(options);
  const seen: Seen[] = [];
  started.wss.on('connection', (ws: WebSocket) => {
    const entry: Seen = {
      ws,
      messages: [],
      errors: [],
      closed: new Promise((resolve) => ws.once('close', (code: number, reason: string, clean: boolean) => resolve([code, reason, clean]))),
    };
    ws.on('error', (error: { code?: string }) => entry.errors.push(error.code ?? 'no code'));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      entry.messages.push(data);
      ws.send(data, { binary: isBinary });
    });
    seen.push(entry);
  });
  cleanup.add(() => stopServer(started.wss));
  return { ...started, seen };
}

async function openRaw(port: number, spec: RequestSpec = {}) {
  const opened = await RawClient.open(port, spec);
  cleanup.add(() => opened.client.destroy());
  return opened;
}

/** A second client gets its message echoed: the server survived. */
async function assertHealthy(port: number): Promise<void> {
  const { client } = await openRaw(port);
  client.write(text('still alive'));
  const echoed = await client.readFrame(1000);
  assert.equal(echoed.payload.toString(), 'still alive', 'a second client is still served');
  client.sendClose(1000);
  await client.readUntilClose(1000);
}

/**
 * Sends `bytes` after the handshake and checks the whole failure path: a close frame with `code` within
 * `withinMs`, the server's FIN without us answering, the server-side 'close' and 'error', a healthy server.
 */
async function expectFailure(
  bytes: Buffer | Buffer[],
  code: number,
  options: { server?: Omit<WebSocketServerOptions, 'port'>; handshake?: RequestSpec; withinMs?: number; errorCode?: string } = {},
) {
  const { port, seen, wss } = await server(options.server);
  const { client } = await openRaw(port, options.handshake);
  const sentAt = performance.now();
  client.write(Array.isArray(bytes) ? Buffer.concat(bytes) : bytes);
  const { frames, close, at } = await client.readUntilClose(2000);
  const elapsed = at - sentAt;
  assert.equal(close.closeCode, code, `close code (reason ${JSON.stringify(close.closeReason)})`);
  assert.equal(close.masked, false);
  const limit = options.withinMs ?? 250;
  assert.ok(elapsed < limit, `close frame after ${elapsed.toFixed(1)} ms (limit ${limit})`);
  await client.waitEnd(1000);
  const [serverCode, , clean] = await within(seen[0]!.closed, 1000, "the server-side 'close'");
  assert.equal(serverCode, code);
  assert.equal(clean, false);
  if (options.errorCode !== undefined) assert.deepEqual(seen[0]!.errors, [options.errorCode]);
  assert.equal(wss.clients.size, 0, 'the failed connection left the client set');
  await assertHealthy(port);
  return { frames, close, seen: seen[0]!, elapsed };
}

describe('protocol violations close with 1002 (F2, Fr1)', () => {
  const cases: Array<[string, () => Buffer | Buffer[]]> = [
    ['RSV1 set without a negotiated extension', () => text('x', { rsv1: true })],
    ['RSV2 set', () => text('x', { rsv2: true })],
    ['RSV3 set', () => text('x', { rsv3: true })],
    ['reserved data opcode 0x3', () => frame({ opcode: 0x3, payload: 'x' })],
    ['reserved data opcode 0x7', () => frame({ opcode: 0x7 })],
    ['reserved control opcode 0xB', () => frame({ opcode: 0xb })],
    ['reserved control opcode 0xF', () => frame({ opcode: 0xf, payload: 'x' })],
    ['an unmasked client frame', () => text('x', { mask: false })],
    ['a ping of 126 bytes', () => frame({ opcode: OP.PING, payload: Buffer.alloc(126, 1) })],
    ['a close frame of 126 bytes', () => frame({ opcode: OP.CLOSE, payload: closePayload(1000, 'r'.repeat(124)) })],
    ['a fragmented ping', () => frame({ opcode: OP.PING, fin: false, payload: 'x' })],
    ['a fragmented pong', () => frame({ opcode: OP.PONG, fin: false })],
    ['RSV1 on a ping', () => frame({ opcode: OP.PING, rsv1: true })],
    ['a continuation (FIN) with no message to continue', () => frame({ opcode: OP.CONT, payload: 'x' })],
    ['a continuation (no FIN) with no message to continue', () => frame({ opcode: OP.CONT, fin: false, payload: 'x' })],
    ['a text frame inside a fragmented message', () => [text('a', { fin: false }), text('b')]],
    ['a binary frame inside a fragmented text message', () => [text('a', { fin: false }), binary(Buffer.from('b'))]],
    ['a 64-bit length with the most significant bit set (header only)', () => frame({ opcode: OP.BINARY, announce: 2n ** 63n })],
    ['a close frame with a 1-byte payload', () => frame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) })],
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000].map(
      (code): [string, () => Buffer] => [`close code ${code}`, () => closeFrame(code)],
    ),
  ];
  for (const [name, bytes] of cases) {
    test(`closes with 1002 on ${name}, then closes TCP, and keeps serving others`, T, async () => {
      await expectFailure(bytes(), 1002);
    });
  }

  test('delivers nothing after the violation, even from the same TCP segment (Autobahn 3.2)', T, async () => {
    const { frames, seen } = await expectFailure([text('before'), text('bad', { rsv2: true }), text('after'), frame({ opcode: OP.PING })], 1002);
    assert.deepEqual(
      frames.map((f) => f.payload.toString()),
      ['before'],
    );
    assert.deepEqual(
      seen.messages.map((m) => m.toString()),
      ['before'],
    );
  });

  test('reports the stable error code VOLLEY_ERR_PROTOCOL to the application', T, async () => {
    await expectFailure(text('x', { rsv2: true }), 1002, { errorCode: 'VOLLEY_ERR_PROTOCOL' });
  });
});

describe('close frames that are valid (F5)', () => {
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
    test(`echoes close code ${code} and closes cleanly`, T, async () => {
      const { port, seen } = await server();
      const { client } = await openRaw(port);
      client.write(closeFrame(code, 'r'.repeat(123)));
      const { close } = await client.readUntilClose(1000);
      assert.equal(close.closeCode, code);
      await client.waitEnd(1000);
      const [serverCode, reason, clean] = await seen[0]!.closed;
      assert.deepEqual([serverCode, reason, clean], [code, 'r'.repeat(123), true]);
    });
  }

  test('answers a close frame without a code with an empty close frame and reports 1005', T, async () => {
    const { port, seen } = await server();
    const { client } = await openRaw(port);
    client.write(closeFrame());
    const { close } = await client.readUntilClose(1000);
    assert.equal(close.payload.length, 0);
    const [code] = await seen[0]!.closed;
    assert.equal(code, 1005);
  });

  test('ignores data and pings after the close frame (Autobahn 7.x)', T, async () => {
    const { port, seen } = await server();
    const { client } = await openRaw(port);
    client.write(Buffer.concat([closeFrame(1000), text('late'), frame({ opcode: OP.PING, payload: 'late' })]));
    const { frames } = await client.readUntilClose(1000);
    assert.deepEqual(frames, []);
    await client.waitEnd(1000);
    assert.equal(client.buffer.length, 0, 'no pong or echo after the close frame');
    assert.deepEqual(seen[0]!.messages, []);
  });
});

describe('invalid UTF-8 closes with 1007 (U1)', () => {
  const invalid: Array<[string, number[]]> = [
    ['a lone 0xFF', [0x61, 0xff]],
    ['a lone surrogate ED A0 80', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['an overlong slash (C0 AF)', [0xc0, 0xaf]],
    ['a sequence cut at the end of the message', [0x61, 0xe2, 0x82]],
  ];
  for (const [name, bytes] of invalid) {
    test(`closes with 1007 on ${name} in a text message`, T, async () => {
      await expectFailure(text(Buffer.from(bytes)), 1007, { errorCode: 'VOLLEY_ERR_INVALID_UTF8' });
    });
  }

  test('fails fast: closes with 1007 on the first fragment, before the message ends', T, async () => {
    const { seen } = await expectFailure(text(Buffer.from([0x61, 0xff]), { fin: false }), 1007);
    assert.deepEqual(seen.messages, []);
  });

  test('closes with 1007 on a close reason that is not UTF-8', T, async () => {
    await expectFailure(closeFrame(1000, Buffer.from([0xce, 0xba, 0xff])), 1007);
  });

  test('accepts valid text split inside a code point across fragments and TCP writes', T, async () => {
    const { port } = await server();
    const { client } = await openRaw(port);
    const euro = Buffer.from('€', 'utf8');
    client.write(text(euro.subarray(0, 1), { fin: false }));
    await sleep(5);
    client.write(frame({ opcode: OP.CONT, fin: false, payload: euro.subarray(1, 2) }));
    await sleep(5);
    client.write(frame({ opcode: OP.CONT, payload: euro.subarray(2) }));
    const echoed = await client.readFrame(1000);
    assert.equal(echoed.payload.toString('utf8'), '€');
  });

  test('never checks binary messages for UTF-8', T, async () => {
    const { port } = await server();
    const { client } = await openRaw(port);
    client.write(binary(Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80])));
    const echoed = await client.readFrame(1000);
    assert.deepEqual([...echoed.payload], [0xff, 0xfe, 0xed, 0xa0, 0x80]);
  });
});

describe('oversized messages close with 1009 (F3, L1)', () => {
  const maxMessageSize = 64 * KiB;

  test('closes with 1009 within 100 ms when a header announces more than maxMessageSize, without the payload', T, async () => {
    await expectFailure(frame({ opcode: OP.BINARY, announce: maxMessageSize + 1 }), 1009, {
      server: { maxMessageSize },
      withinMs: 100,
      errorCode: 'VOLLEY_ERR_PAYLOAD_TOO_BIG',
    });
  });

  test('closes with 1009 within 100 ms when a header announces 2^53 bytes', T, async () => {
    await expectFailure(frame({ opcode: OP.BINARY, announce: 2n ** 53n }), 1009, { server: { maxMessageSize }, withinMs: 100 });
  });

  test('closes with 1009 at the fragment that crosses maxMessageSize, not at FIN', T, async () => {
    const part = Buffer.alloc(30 * KiB, 7);
    const { seen } = await expectFailure(
      [binary(part, { fin: false }), frame({ opcode: OP.CONT, fin: false, payload: part }), frame({ opcode: OP.CONT, fin: false, payload: part })],
      1009,
      { server: { maxMessageSize } },
    );
    assert.deepEqual(seen.messages, []);
  });

  test('delivers a message of exactly maxMessageSize', T, async () => {
    const { port } = await server({ maxMessageSize });
    const { client } = await openRaw(port);
    const payload = Buffer.alloc(maxMessageSize, 9);
    client.write(binary(payload));
    const echoed = await client.readFrame(2000);
    assert.equal(echoed.payload.length, maxMessageSize);
  });
});

describe('fragment floods close with 1008 (Fr2)', () => {
  test('closes with 1008 when a message spans more than maxFragments 1-byte frames', T, async () => {
    const frames = [text('a', { fin: false })];
    for (let i = 0; i < 16; i++) frames.push(frame({ opcode: OP.CONT, fin: false, payload: 'a' }));
    await expectFailure(frames, 1008, { server: { maxFragments: 16 }, errorCode: 'VOLLEY_ERR_TOO_MANY_FRAGMENTS' });
  });

  test('counts empty fragments too', T, async () => {
    const frames = [binary(Buffer.alloc(0), { fin: false })];
    for (let i = 0; i < 16; i++) frames.push(frame({ opcode: OP.CONT, fin: false }));
    await expectFailure(frames, 1008, { server: { maxFragments: 16 } });
  });

  test('delivers a message of exactly maxFragments frames', T, async () => {
    const { port } = await server({ maxFragments: 16 });
    const { client } = await openRaw(port);
    const frames = [text('a', { fin: false })];
    for (let i = 0; i < 14; i++) frames.push(frame({ opcode: OP.CONT, fin: false, payload: 'a' }));
    frames.push(frame({ opcode: OP.CONT, payload: 'a' }));
    client.write(Buffer.concat(frames));
    assert.equal((await client.readFrame(1000)).payload.toString(), 'a'.repeat(16));
  });
});

describe('compressed input (C1)', () => {
  const maxMessageSize = 64 * KiB;
  const offer: RequestSpec = { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } };

  /** Deflates as a permessage-deflate sender does: sync flush, the 00 00 ff ff tail removed (RFC 7692 §7.2.1). */
  function deflate(data: Buffer, level = 9): Buffer {
    const out = zlib.deflateRawSync(data, { level, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return out.subarray(0, out.length - 4);
  }
  const bomb = deflate(Buffer.alloc(8 * MiB, 'A'));

  test('the bomb is small on the wire', () => {
    assert.ok(bomb.length < 16 * KiB, `${bomb.length} bytes`);
  });

  test('closes with 1009 on 8 MiB of "A" deflated into one frame, with maxMessageSize 64 KiB', T, async () => {
    const before = process.memoryUsage();
    const { seen } = await expectFailure(binary(bomb, { rsv1: true }), 1009, {
      server: { maxMessageSize, perMessageDeflate: true },
      handshake: offer,
      withinMs: 1000,
      errorCode: 'VOLLEY_ERR_PAYLOAD_TOO_BIG',
    });
    assert.deepEqual(seen.messages, []);
    const grown = process.memoryUsage().arrayBuffers - before.arrayBuffers;
    assert.ok(grown < 4 * MiB, `array buffers grew by ${(grown / MiB).toFixed(1)} MiB`);
  });

  test('closes with 1009 on the same bomb sent as 10 fragments', T, async () => {
    const size = Math.ceil(bomb.length / 10);
    const frames: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      const part = bomb.subarray(i * size, (i + 1) * size);
      frames.push(frame({ opcode: i === 0 ? OP.TEXT : OP.CONT, fin: i === 9, rsv1: i === 0, payload: part }));
    }
    await expectFailure(frames, 1009, { server: { maxMessageSize, perMessageDeflate: true }, handshake: offer, withinMs: 1000 });
  });

  test('delivers a compressed message that inflates to exactly maxMessageSize, intact', T, async () => {
    const { port } = await server({ maxMessageSize, perMessageDeflate: true });
    const { client, head } = await openRaw(port, offer);
    assert.match(head.headers['sec-websocket-extensions'] ?? '', /permessage-deflate/);
    const payload = Buffer.alloc(maxMessageSize);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
    client.write(binary(deflate(payload), { rsv1: true }));
    const echoed = await client.readFrame(2000);
    const data = echoed.rsv1 ? zlib.inflateRawSync(Buffer.concat([echoed.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : echoed.payload;
    assert.ok(data.equals(payload), 'the echo matches');
  });

  test('closes with 1009 on a compressed message one byte over maxMessageSize, never a truncated delivery', T, async () => {
    const { seen } = await expectFailure(binary(deflate(Buffer.alloc(maxMessageSize + 1, 'B')), { rsv1: true }), 1009, {
      server: { maxMessageSize, perMessageDeflate: true },
      handshake: offer,
      withinMs: 1000,
    });
    assert.deepEqual(seen.messages, []);
  });

  test('closes with 1007 on a corrupt deflate stream', T, async () => {
    await expectFailure(binary(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), { rsv1: true }), 1007, {
      server: { perMessageDeflate: true },
      handshake: offer,
      withinMs: 1000,
    });
  });

  test('closes with 1002 on RSV1 set on a continuation frame', T, async () => {
    await expectFailure([binary(deflate(Buffer.from('abc')), { rsv1: true, fin: false }), frame({ opcode: OP.CONT, rsv1: true })], 1002, {
      server: { perMessageDeflate: true },
      handshake: offer,
    });
  });
});

describe('send-API argument checks (F6)', () => {
  test('send(), ping(), pong() and close() throw on bad arguments before writing a byte', T, async () => {
    const { port, seen } = await server();
    const { client } = await openRaw(port);
    await within((async () => { while (seen.length === 0) await sleep(2); })(), 1000, 'the connection');
    const ws = seen[0]!.ws as unknown as Record<string, (...args: unknown[]) => unknown>;
    const bad: Array<[string, () => unknown]> = [
      ['close(1000, Float32Array)', () => ws.close!(1000, new Float32Array(20))],
      ['close(1000, Buffer)', () => ws.close!(1000, Buffer.from('reason'))],
      ['close(1000, 124-byte reason)', () => ws.close!(1000, 'r'.repeat(124))],
      ['close(1000, 62 two-byte characters = 124 bytes)', () => ws.close!(1000, 'é'.repeat(62))],
      ['close(1005)', () => ws.close!(1005)],
      ['close(1006)', () => ws.close!(1006)],
      ['close(999)', () => ws.close!(999)],
      ['close(2000)', () => ws.close!(2000)],
      ['close(5000)', () => ws.close!(5000)],
      ['close(1000.5)', () => ws.close!(1000.5)],
      ['close(NaN)', () => ws.close!(NaN)],
      ['close("1000")', () => ws.close!('1000')],
      ['ping(123)', () => ws.ping!(123)],
      ['ping(126 bytes)', () => ws.ping!(Buffer.alloc(126))],
      ['ping(126-byte string)', () => ws.ping!('p'.repeat(126))],
      ['pong(123)', () => ws.pong!(123)],
      ['pong(126 bytes)', () => ws.pong!(Buffer.alloc(126))],
      ['send(123)', () => ws.send!(123)],
      ['send(null)', () => ws.send!(null)],
      ['send(undefined)', () => ws.send!(undefined)],
      ['send({})', () => ws.send!({ length: 4 })],
      ['send([1, 2])', () => ws.send!([1, 2])],
    ];
    for (const [name, call] of bad) assert.throws(call, Error, name);
    await sleep(50);
    assert.equal(client.buffer.length, 0, 'nothing reached the wire');
    assert.equal((ws as unknown as WebSocket).readyState, 1, 'still open');
    ws.ping!(Buffer.alloc(125, 1));
    ws.send!('ok');
    const ping = await client.readFrame(1000);
    assert.deepEqual([ping.opcode, ping.payload.length], [OP.PING, 125]);
    const ok = await client.readFrame(1000);
    assert.deepEqual([ok.opcode, ok.payload.toString()], [OP.TEXT, 'ok']);
  });

  test('answers a 125-byte ping with an identical pong and ignores an unsolicited pong', T, async () => {
    const { port } = await server();
    const { client } = await openRaw(port);
    const payload = Buffer.alloc(125);
    for (let i = 0; i < 125; i++) payload[i] = i;
    client.write(Buffer.concat([frame({ opcode: OP.PONG, payload: 'unsolicited' }), frame({ opcode: OP.PING, payload })]));
    const pong = await client.readFrame(1000);
    assert.equal(pong.opcode, OP.PONG);
    assert.ok(pong.payload.equals(payload));
  });

  test('answers 10 pings sent one octet at a time with 10 pongs, in order', T, async () => {
    const { port } = await server();
    const { client } = await openRaw(port);
    const bytes = Buffer.concat(Array.from({ length: 10 }, (_, i) => frame({ opcode: OP.PING, payload: `ping ${i}` })));
    for (const byte of bytes) {
      client.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let i = 0; i < 10; i++) {
      const pong = await client.readFrame(1000);
      assert.deepEqual([pong.opcode, pong.payload.toString()], [OP.PONG, `ping ${i}`]);
    }
  });

  test('answers a ping between two fragments before the message completes', T, async () => {
    const { port } = await server();
    const { client } = await openRaw(port);
    client.write(Buffer.concat([text('frag', { fin: false }), frame({ opcode: OP.PING, payload: 'mid' })]));
    const pong = await client.readFrame(1000);
    assert.deepEqual([pong.opcode, pong.payload.toString()], [OP.PONG, 'mid']);
    client.write(frame({ opcode: OP.CONT, payload: 'ment' }));
    assert.equal((await client.readFrame(1000)).payload.toString(), 'fragment');
  });
});

describe('slow consumers (B1)', () => {
  const message = Buffer.alloc(MiB, 0x5a);

  /** Sends 1 MiB messages to a client that stopped reading, until `stop` says so or 64 were sent. */
  async function flood(ws: WebSocket, stop: (status: SendStatus) => boolean): Promise<{ statuses: SendStatus[]; maxBuffered: number }> {
    const statuses: SendStatus[] = [];
    let maxBuffered = 0;
    for (let i = 0; i < 64; i++) {
      const status = ws.send(message);
      statuses.push(status);
      maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
      if (stop(status)) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { statuses, maxBuffered };
  }

  test("with the default policy, terminates a client that never reads once bufferedAmount would exceed maxBufferedAmount", T, async () => {
    const { port, seen } = await server({ maxBufferedAmount: MiB });
    const { client } = await openRaw(port);
    client.pause();
    await within((async () => { while (seen.length === 0) await sleep(2); })(), 1000, 'the connection');
    const { ws } = seen[0]!;
    const { statuses, maxBuffered } = await flood(ws, (status) => status === SendStatus.DROPPED);
    assert.equal(statuses.at(-1), SendStatus.DROPPED, `statuses ${statuses.join(',')}`);
    assert.ok(statuses.length < 64, 'terminated before 64 MiB were queued');
    assert.ok(maxBuffered <= 2 * MiB + 64, `bufferedAmount peaked at ${maxBuffered}`);
    const [code] = await within(seen[0]!.closed, 2000, "the server-side 'close'");
    assert.equal(code, 1006);
    assert.deepEqual(seen[0]!.errors, [SLOW_CONSUMER]);
    client.resume();
    await client.waitClosed(5000);
  });

  test("with policy 'drop', send() returns DROPPED and the connection stays up with only whole frames on the wire", T, async () => {
    const { port, seen } = await server({ maxBufferedAmount: MiB, backpressurePolicy: 'drop' });
    const { client } = await openRaw(port);
    client.pause();
    await within((async () => { while (seen.length === 0) await sleep(2); })(), 1000, 'the connection');
    const { ws } = seen[0]!;
    const { statuses } = await flood(ws, (status) => status === SendStatus.DROPPED);
    assert.equal(statuses.at(-1), SendStatus.DROPPED);
    assert.equal(ws.send(message), SendStatus.DROPPED, 'still over the limit');
    assert.equal(ws.readyState, 1, 'still open');
    const delivered = statuses.filter((status) => status !== SendStatus.DROPPED).length;
    client.resume();
    await within((async () => { while (ws.bufferedAmount > 0) await sleep(5); })(), 5000, 'the buffer to drain');
    assert.equal(ws.send('end'), SendStatus.OK);
    const frames = [];
    for (;;) {
      const next = await client.readFrame(5000);
      if (next.opcode === OP.TEXT) break;
      frames.push(next);
    }
    assert.equal(frames.length, delivered);
    for (const f of frames) assert.deepEqual([f.opcode, f.fin, f.payload.length], [OP.BINARY, true, MiB]);
    assert.deepEqual(seen[0]!.errors, []);
  });

  test('send() returns BACKPRESSURE above sendHighWaterMark and OK below it', T, async () => {
    const { port, seen } = await server({ sendHighWaterMark: 64 * KiB });
    await openRaw(port);
    await within((async () => { while (seen.length === 0) await sleep(2); })(), 1000, 'the connection');
    const { ws } = seen[0]!;
    assert.equal(ws.send('small'), SendStatus.OK);
    assert.equal(ws.send(Buffer.alloc(100 * KiB)), SendStatus.BACKPRESSURE);
    assert.ok(ws.bufferedAmount > 64 * KiB);
  });

  test(
    "emits 'drain' once a backpressured send has been written, as the send() docs promise",
    T,
    async () => {
      const { port, seen } = await server({ sendHighWaterMark: 64 * KiB });
      await openRaw(port);
      await within((async () => { while (seen.length === 0) await sleep(2); })(), 1000, 'the connection');
      const { ws } = seen[0]!;
      assert.equal(ws.send(Buffer.alloc(100 * KiB)), SendStatus.BACKPRESSURE);
      await nextEvent(ws, 'drain', 1000);
    },
  );
});
