/**
 * Autobahn|Testsuite's fuzzing-server cases, played by a raw server against Volley's client
 * (`new WebSocket(url)`), which echoes every message back as Autobahn's test driver does.
 *
 * Pass criteria, from the client's side of RFC 6455: fail the connection with the right code (1002, 1007) on a
 * violation and deliver nothing after it; echo valid messages exactly; answer pings; mask every frame with
 * varying keys; after a close handshake wait for the server to close TCP (the raw server does so 10 ms later).
 * The authoritative run is the real suite (docs/conformance.md).
 */

import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, type ClientOptions } from '../socket/index.js';
import { MiB, binary, corpora, observed, pong, sameEvents, slices, text, type Corpus, type Observed } from './expect.js';
import { OP, closePayload, encodeFrame, fragment, type FrameSpec } from './frames.js';
import { caseOptions } from './known-bugs.js';
import { RawServer, type HandshakeReply, type RawServerPeer } from './raw-server.js';
import { KOSME, UTF8_CASES } from './utf8-table.js';

const T = { timeout: 10_000 };
const LONG = { timeout: 60_000 };

let server: RawServer;
const sockets = new Set<WebSocket>();

before(async () => {
  server = await RawServer.listen();
});

after(async () => {
  for (const ws of sockets) ws.terminate();
  await server.close();
});

interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** One case: our client, the raw server's end of the connection, and what the client reported. */
interface Session {
  ws: WebSocket;
  peer: RawServerPeer;
  closed: Promise<CloseInfo>;
  errors: Error[];
}

/** Opens our client against the raw server, which answers with `reply`; the client echoes every message. */
async function connect(reply: HandshakeReply = {}, options: ClientOptions = {}): Promise<Session> {
  server.reply = () => reply;
  const ws = new WebSocket(server.url(), options);
  sockets.add(ws);
  const errors: Error[] = [];
  ws.on('error', (error: Error) => errors.push(error));
  const closed = new Promise<CloseInfo>((resolve) => ws.once('close', (code: number, reason: string, wasClean: boolean) => resolve({ code, reason, wasClean })));
  // Autobahn's client driver: echo text as text and binary as binary.
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  const peer = await server.accept();
  // The raw server has written its 101; wait until the client has judged it (open, or failed).
  await Promise.race([opened, closed]);
  return { ws, peer, closed, errors };
}

/** The client left TCP open after the close handshake until the server closed it (RFC 6455 §7.1.1). */
function assertClientWaitedForServer(peer: RawServerPeer): void {
  assert.notEqual(peer.localEndedAt, null, `the server closed TCP; ${peer.describe()}`);
  assert.notEqual(peer.peerEndedAt, null, 'the client closed its side too');
  assert.ok(peer.peerEndedAt! >= peer.localEndedAt!, 'the client did not close TCP before the server');
}

/** Server-initiated close once `expected` arrived: the client echoes 1000 (or `code`), waits for TCP close. */
async function closeCleanly(s: Session, expected: readonly Observed[], code = 1000): Promise<void> {
  await s.peer.waitEvents(expected.length);
  sameEvents(observed(s.peer), expected, s.peer.describe());
  await s.peer.sendClose(code);
  await s.peer.waitTcpClosed();
  assert.ok(s.peer.closeFrame !== null && [1000, code].includes(s.peer.closeFrame.code!), `close code 1000 or ${code}; ${s.peer.describe()}`);
  assert.equal(s.peer.closeFrames, 1, 'the client sent one close frame');
  assertClientWaitedForServer(s.peer);
  sameEvents(observed(s.peer), expected, 'nothing after the expected events');
  assert.deepEqual(s.peer.violations, []);
  const info = await s.closed;
  assert.equal(info.code, code, 'the close event reports the server code');
  assert.equal(info.wasClean, true, 'wasClean');
  assert.deepEqual(s.errors, []);
}

/** The client must fail the connection with one of `codes`, after echoing `expected`. */
async function expectFailure(s: Session, codes: readonly number[], expected: readonly Observed[] = []): Promise<void> {
  await s.peer.waitTcpClosed();
  sameEvents(observed(s.peer), expected, s.peer.describe());
  assert.ok(s.peer.closeFrame !== null && codes.includes(s.peer.closeFrame.code!), `close code ${codes.join('/')}; ${s.peer.describe()}`);
  assert.deepEqual(s.peer.violations, []);
  const info = await s.closed;
  assert.ok(codes.includes(info.code), `the close event reports ${info.code}`);
  assert.ok(s.errors.length > 0, 'an error event tells the application why');
}

type Send = Parameters<RawServerPeer['send']>[1];

async function echoCase(frames: FrameSpec[], expected: Observed[], options: Send = {}): Promise<void> {
  const s = await connect();
  await s.peer.send(frames, options);
  await closeCleanly(s, expected);
}

async function failCase(frames: FrameSpec[], codes: number[], expected: Observed[] = [], options: Send = {}): Promise<void> {
  const s = await connect();
  await s.peer.send(frames, options);
  await expectFailure(s, codes, expected);
}

const HELLO = 'Hello, world!';
const tx = (payload: string | Buffer, fin = true): FrameSpec => ({ opcode: OP.TEXT, payload, fin });
const cont = (payload: string | Buffer, fin = true): FrameSpec => ({ opcode: OP.CONT, payload, fin });
const pingFrame = (payload: string | Buffer = ''): FrameSpec => ({ opcode: OP.PING, payload });

describe('Autobahn 1: framing (client)', () => {
  const lengths = [0, 125, 126, 127, 128, 65535, 65536];
  for (const [kind, opcode, fill, expect] of [['text', OP.TEXT, '*', text], ['binary', OP.BINARY, '\xfe', binary]] as const) {
    const group = kind === 'text' ? '1.1' : '1.2';
    const payloadOf = (n: number) => Buffer.from(fill.repeat(n), 'latin1');
    lengths.forEach((length, i) => {
      test(`${group}.${i + 1} echoes a ${kind} message of ${length} bytes`, T, () => echoCase([{ opcode, payload: payloadOf(length) }], [expect(payloadOf(length))]));
    });
    test(`${group}.8 echoes a ${kind} message of 65536 bytes sent in 997-byte chops`, T, () =>
      echoCase([{ opcode, payload: payloadOf(65536) }], [expect(payloadOf(65536))], { chopSize: 997 }));
  }
  test('H1 parses a first frame that arrives in the same segment as the 101 response', T, async () => {
    const s = await connect({ trailing: encodeFrame(tx(HELLO), false) });
    await closeCleanly(s, [text(HELLO)]);
  });
  test('1.x masks every frame with a fresh key', T, async () => {
    const s = await connect();
    const messages = Array.from({ length: 32 }, (_, i) => `message ${i}`);
    await s.peer.send(messages.map((m) => tx(m)));
    await closeCleanly(s, messages.map((m) => text(m)));
    const keys = s.peer.maskKeys();
    assert.equal(keys.length, 33, '32 echoes and a close frame');
    assert.ok(!keys.includes('unmasked'), 'every frame is masked');
    assert.ok(new Set(keys).size >= 32, `masking keys vary (${new Set(keys).size} distinct of 33)`);
  });
  test('1.x fails with 1002 on a masked frame from the server', T, () => failCase([{ ...tx(HELLO), mask: true }], [1002]));
});

describe('Autobahn 2: pings and pongs (client)', () => {
  const fe125 = Buffer.alloc(125, 0xfe);
  const bin = Buffer.from('00fffefdfcfb00ff', 'hex');
  test('2.1 answers a ping without payload with an empty pong', T, () => echoCase([pingFrame()], [pong()]));
  test('2.2 echoes a small text ping payload in the pong', T, () => echoCase([pingFrame(HELLO)], [pong(HELLO)]));
  test('2.3 echoes a small binary ping payload in the pong', T, () => echoCase([pingFrame(bin)], [pong(bin)]));
  test('2.4 echoes a 125-byte ping payload', T, () => echoCase([pingFrame(fe125)], [pong(fe125)]));
  test('2.5 fails with 1002 on a 126-byte ping', T, () => failCase([pingFrame(Buffer.alloc(126, 0xfe))], [1002]));
  test('2.6 answers a 125-byte ping sent octet by octet', T, () => echoCase([pingFrame(fe125)], [pong(fe125)], { chopSize: 1 }));
  test('2.7 ignores an unsolicited empty pong', T, () => echoCase([{ opcode: OP.PONG }], []));
  test('2.8 ignores an unsolicited pong with payload', T, () => echoCase([{ opcode: OP.PONG, payload: 'unsolicited pong payload' }], []));
  test('2.9 ignores an unsolicited pong and answers the following ping', T, () =>
    echoCase([{ opcode: OP.PONG, payload: 'unsolicited pong payload' }, pingFrame('ping payload')], [pong('ping payload')]));
  const ten = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  test('2.10 answers 10 pings with 10 pongs in order', T, () => echoCase(ten.map((p) => pingFrame(p)), ten.map((p) => pong(p))));
  test('2.11 answers 10 pings sent octet by octet', T, () => echoCase(ten.map((p) => pingFrame(p)), ten.map((p) => pong(p)), { chopSize: 1, delayMs: 0 }));
});

describe('Autobahn 3: reserved bits (client)', () => {
  const sequence = (rsv: number): FrameSpec[] => [tx(HELLO), { ...tx(HELLO), rsv }, pingFrame()];
  test('3.1 fails with 1002 on a text frame with RSV3 set', T, () => failCase([{ ...tx(HELLO), rsv: 1 }], [1002]));
  test('3.2 echoes the first message, then fails with 1002 on RSV2 and never answers the ping', T, () => failCase(sequence(2), [1002], [text(HELLO)]));
  test('3.3 the same with RSV2+RSV3, frame by frame', T, () => failCase(sequence(3), [1002], [text(HELLO)], { frameWise: true }));
  test('3.4 the same with RSV1 (no extension agreed), octet by octet', T, () => failCase(sequence(4), [1002], [text(HELLO)], { chopSize: 1, delayMs: 0 }));
  test('3.5 fails with 1002 on a binary frame with RSV1+RSV3 set', T, () => failCase([{ opcode: OP.BINARY, payload: 'x', rsv: 5 }], [1002]));
  test('3.6 fails with 1002 on a ping with RSV1+RSV2 set', T, () => failCase([{ ...pingFrame(HELLO), rsv: 6 }], [1002]));
  test('3.7 fails with 1002 on a close frame with all RSV bits set', T, () => failCase([{ opcode: OP.CLOSE, payload: closePayload(1000), rsv: 7 }], [1002]));
});

describe('Autobahn 4: opcodes (client)', () => {
  for (const [group, opcodes] of [['4.1', [3, 4, 5, 6, 7]], ['4.2', [11, 12, 13, 14, 15]]] as const) {
    test(`${group}.1 fails with 1002 on reserved opcode ${opcodes[0]}`, T, () => failCase([{ opcode: opcodes[0] }], [1002]));
    test(`${group}.2 fails with 1002 on reserved opcode ${opcodes[1]} with a payload`, T, () => failCase([{ opcode: opcodes[1], payload: 'reserved opcode payload' }], [1002]));
    test(`${group}.3 echoes a message, then fails on opcode ${opcodes[2]} and never answers the ping`, T, () =>
      failCase([tx(HELLO), { opcode: opcodes[2] }, pingFrame()], [1002], [text(HELLO)]));
    test(`${group}.4 the same with opcode ${opcodes[3]} carrying a payload`, T, () =>
      failCase([tx(HELLO), { opcode: opcodes[3], payload: HELLO }, pingFrame()], [1002], [text(HELLO)]));
    test(`${group}.5 the same with opcode ${opcodes[4]}, octet by octet`, T, () =>
      failCase([tx(HELLO), { opcode: opcodes[4], payload: HELLO }, pingFrame()], [1002], [text(HELLO)], { chopSize: 1, delayMs: 0 }));
  }
});

describe('Autobahn 5: fragmentation (client)', () => {
  test('5.1 fails with 1002 on a fragmented ping', T, () => failCase([{ opcode: OP.PING, fin: false, payload: 'fragment1' }, cont('fragment2')], [1002]));
  test('5.2 fails with 1002 on a fragmented pong', T, () => failCase([{ opcode: OP.PONG, fin: false, payload: 'fragment1' }, cont('fragment2')], [1002]));
  const two = [tx('fragment1', false), cont('fragment2')];
  test('5.3 echoes a text message in 2 fragments', T, () => echoCase(two, [text('fragment1fragment2')]));
  test('5.4 the same, frame by frame', T, () => echoCase(two, [text('fragment1fragment2')], { frameWise: true }));
  test('5.5 the same, octet by octet', T, () => echoCase(two, [text('fragment1fragment2')], { chopSize: 1 }));
  const withPing = [tx('fragment1', false), pingFrame('ping payload'), cont('fragment2')];
  const pongFirst = [pong('ping payload'), text('fragment1fragment2')];
  test('5.6 answers a ping between 2 fragments before echoing the message', T, () => echoCase(withPing, pongFirst));
  test('5.7 the same, frame by frame', T, () => echoCase(withPing, pongFirst, { frameWise: true }));
  test('5.8 the same, octet by octet', T, () => echoCase(withPing, pongFirst, { chopSize: 1 }));
  const orphanFin = [cont('non-continuation payload'), tx(HELLO)];
  test('5.9 fails with 1002 on a final continuation with nothing to continue', T, () => failCase(orphanFin, [1002]));
  test('5.10 the same, frame by frame', T, () => failCase(orphanFin, [1002], [], { frameWise: true }));
  test('5.11 the same, octet by octet', T, () => failCase(orphanFin, [1002], [], { chopSize: 1 }));
  const orphan = [cont('non-continuation payload', false), tx(HELLO)];
  test('5.12 fails with 1002 on a non-final continuation with nothing to continue', T, () => failCase(orphan, [1002]));
  test('5.13 the same, frame by frame', T, () => failCase(orphan, [1002], [], { frameWise: true }));
  test('5.14 the same, octet by octet', T, () => failCase(orphan, [1002], [], { chopSize: 1 }));
  test('5.15 echoes a 2-fragment message, then fails on a continuation with nothing to continue', T, () =>
    failCase([tx('fragment1', false), cont('fragment2'), cont('fragment3', false), tx('fragment4')], [1002], [text('fragment1fragment2')]));
  test('5.16 fails with 1002 on (orphan continuation, 2-fragment message) twice', T, () =>
    failCase([0, 1].flatMap(() => [cont('fragment1', false), tx('fragment2', false), cont('fragment3')]), [1002]));
  test('5.17 fails with 1002 on (final orphan continuation, 2-fragment message) twice', T, () =>
    failCase([0, 1].flatMap(() => [cont('fragment1'), tx('fragment2', false), cont('fragment3')]), [1002]));
  test('5.18 fails with 1002 when both fragments carry the text opcode', T, () => failCase([tx('fragment1', false), tx('fragment2')], [1002]));
  for (const [id, frameWise] of [['5.19', false], ['5.20', true]] as const) {
    test(`${id} answers the first ping before the fragmented message is complete${frameWise ? ', frame by frame' : ''}`, T, async () => {
      const f = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
      const s = await connect();
      await s.peer.send([tx(f[0]!, false), cont(f[1]!, false), pingFrame('pongme 1!')], { frameWise });
      await s.peer.waitEvents(1, 2000);
      sameEvents(observed(s.peer), [pong('pongme 1!')], 'the pong comes while the message is still open');
      await sleep(50);
      await s.peer.send([cont(f[2]!, false), cont(f[3]!, false), pingFrame('pongme 2!'), cont(f[4]!)], { frameWise });
      await closeCleanly(s, [pong('pongme 1!'), pong('pongme 2!'), text(f.join(''))]);
    });
  }
});

describe('Autobahn 6: UTF-8 handling (client)', () => {
  test('6.1.1 echoes an empty text message', T, () => echoCase([tx('')], [text('')]));
  test('6.1.2 echoes a text message of 3 empty fragments', T, () => echoCase([tx('', false), cont('', false), cont('')], [text('')]));
  test('6.1.3 echoes empty, non-empty and empty fragments', T, () =>
    echoCase([tx('', false), cont('middle frame payload', false), cont('')], [text('middle frame payload')]));
  const greeting = 'Hello-µ@ßöäüàá-UTF-8!!';
  test('6.2.1 echoes valid UTF-8 in one frame', T, () => echoCase([tx(greeting)], [text(greeting)]));
  test('6.2.2 echoes valid UTF-8 fragmented on a code point boundary', T, () => echoCase([tx('Hello-µ@ßöä', false), cont('üàá-UTF-8!!')], [text(greeting)]));
  test('6.2.3 echoes valid UTF-8 in 1-octet fragments', T, () => echoCase(fragment(OP.TEXT, greeting, 1), [text(greeting)]));
  test('6.2.4 echoes κόσμε in 1-octet fragments', T, () => echoCase(fragment(OP.TEXT, KOSME, 1), [text(KOSME)]));
  const invalid = Buffer.concat([KOSME, Buffer.from('eda080', 'hex'), Buffer.from('edited')]);
  test('6.3.1 fails with 1007 on invalid UTF-8 in one frame', T, () => failCase([tx(invalid)], [1007]));
  test('6.3.2 fails with 1007 on invalid UTF-8 in 1-octet fragments', T, () => failCase(fragment(OP.TEXT, invalid, 1), [1007]));

  const whole = Buffer.concat([KOSME, Buffer.from('f4908080', 'hex'), Buffer.from('edited')]);
  async function failFast(first: (s: Session) => Promise<void>, second: (s: Session) => Promise<void>): Promise<void> {
    const s = await connect();
    await first(s);
    await sleep(100);
    assert.equal(s.peer.closeFrame, null, 'the valid first part is accepted');
    await second(s);
    await s.peer.waitCloseFrame(1000);
    await expectFailure(s, [1007]);
  }
  test('6.4.1 fails fast with 1007 in the fragment that makes the text invalid', T, () =>
    failFast((s) => s.peer.send(tx(KOSME, false)), (s) => s.peer.send(cont(whole.subarray(11, 15), false))));
  test('6.4.2 fails fast with 1007 on the octet that makes the text invalid', T, () =>
    failFast((s) => s.peer.send(tx(whole.subarray(0, 12), false)), (s) => s.peer.send(cont(whole.subarray(12, 13), false))));
  for (const [id, cut1, cut2] of [['6.4.3', 11, 15], ['6.4.4', 12, 13]] as const) {
    test(`${id} fails fast with 1007 inside one frame, before the frame is complete`, T, () => {
      const frame = encodeFrame(tx(whole), false);
      const header = frame.length - whole.length;
      return failFast((s) => s.peer.sendRaw(frame.subarray(0, header + cut1)), (s) => s.peer.sendRaw(frame.subarray(header + cut1, header + cut2)));
    });
  }
  for (const entry of UTF8_CASES) {
    const hex = entry.bytes.length <= 16 ? entry.bytes.toString('hex') : `${entry.bytes.length} bytes`;
    if (entry.valid) test(`${entry.id} echoes valid UTF-8 (${entry.group}: ${hex})`, T, () => echoCase([tx(entry.bytes)], [text(entry.bytes)]));
    else test(`${entry.id} fails with 1007 on invalid UTF-8 (${entry.group}: ${hex})`, T, () => failCase([tx(entry.bytes)], [1007]));
  }
});

describe('Autobahn 7: close handling (client)', () => {
  /** The server closes with `payload` (after `before`, followed by `after`); the client answers with one of `codes`. */
  async function serverCloses(payload: Buffer, codes: readonly (number | null)[], opts: { before?: FrameSpec[]; after?: FrameSpec[]; clean?: boolean } = {}): Promise<Session> {
    const s = await connect();
    await s.peer.send([...(opts.before ?? []), { opcode: OP.CLOSE, payload }, ...(opts.after ?? [])]);
    await s.peer.waitTcpClosed();
    assert.ok(s.peer.closeFrame !== null && codes.includes(s.peer.closeFrame.code), `close code ${codes.join('/')}; ${s.peer.describe()}`);
    assert.equal(s.peer.closeFrames, 1, 'one close frame');
    assert.deepEqual(s.peer.violations, []);
    const info = await s.closed;
    if (opts.clean !== false) {
      assertClientWaitedForServer(s.peer);
      assert.equal(info.wasClean, true, 'wasClean');
    }
    return s;
  }
  test('7.1.1 echoes a message sent together with a close frame, then answers the close', T, async () => {
    const s = await serverCloses(closePayload(1000), [1000], { before: [tx('Hello World!')] });
    assert.deepEqual(observed(s.peer), [text('Hello World!')]);
  });
  test('7.1.1c (7.1.1 with permessage-deflate) echoes a compressed message sent together with a close frame', caseOptions('client', '7.1.1c', T), async () => {
    const s = await connect({ extensions: 'permessage-deflate' });
    const message = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ i })));
    await s.peer.sendMessage(message, { compress: true });
    await s.peer.sendClose(1000);
    await s.peer.waitTcpClosed();
    sameEvents(observed(s.peer), [text(message)], 'the echo precedes the close frame');
    assert.equal(s.peer.closeFrame?.code, 1000);
    assertClientWaitedForServer(s.peer);
  });
  test('7.1.2 answers two close frames with one', T, async () => {
    await serverCloses(closePayload(1000), [1000], { after: [{ opcode: OP.CLOSE }] });
  });
  test('7.1.3 does not answer a ping sent after the close frame', T, async () => {
    const s = await serverCloses(closePayload(1000), [1000], { after: [pingFrame()] });
    assert.deepEqual(observed(s.peer), []);
  });
  test('7.1.4 ignores a message sent after the close frame', T, async () => {
    const s = await serverCloses(closePayload(1000), [1000], { after: [tx('Hello World!')] });
    assert.deepEqual(observed(s.peer), []);
  });
  test('7.1.5 ignores the rest of a fragmented message interrupted by a close frame', T, async () => {
    const s = await serverCloses(closePayload(1000), [1000], { before: [tx('fragment1', false)], after: [cont('fragment2')] });
    assert.deepEqual(observed(s.peer), []);
  });
  test('7.3.1 answers a close frame without payload', T, async () => {
    const s = await serverCloses(Buffer.alloc(0), [null, 1000]);
    assert.equal((await s.closed).code, 1005, 'the close event reports 1005 (no status)');
  });
  test('7.3.2 fails with 1002 on a close frame with a 1-byte payload', T, () => serverCloses(Buffer.from('a'), [1002], { clean: false }).then(() => {}));
  test('7.3.3 echoes close code 1000', T, () => serverCloses(closePayload(1000), [1000]).then(() => {}));
  test('7.3.4 echoes close code 1000 with a reason, and reports the reason', T, async () => {
    const s = await serverCloses(closePayload(1000, 'Hello World!'), [1000]);
    assert.equal((await s.closed).reason, 'Hello World!');
  });
  test('7.3.5 accepts a reason of 123 bytes', T, () => serverCloses(closePayload(1000, '*'.repeat(123)), [1000]).then(() => {}));
  test('7.3.6 fails with 1002 on a reason of 124 bytes', T, () => serverCloses(closePayload(1000, '*'.repeat(124)), [1002], { clean: false }).then(() => {}));
  test('7.5.1 fails with 1007 on a close reason that is not valid UTF-8', T, () =>
    serverCloses(closePayload(1000, Buffer.concat([KOSME, Buffer.from('eda080', 'hex')])), [1007], { clean: false }).then(() => {}));
  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].forEach((code, i) => {
    test(`7.7.${i + 1} closes cleanly on valid close code ${code}`, T, async () => {
      const s = await serverCloses(closePayload(code), [1000, code]);
      assert.equal((await s.closed).code, code, 'the close event reports the server code');
    });
  });
  [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].forEach((code, i) => {
    test(`7.9.${i + 1} fails with 1002 on invalid close code ${code}`, T, () => serverCloses(closePayload(code), [1002], { clean: false }).then(() => {}));
  });
  [5000, 65535].forEach((code, i) => {
    test(`7.13.${i + 1} (informational) close code ${code}`, T, async (t: TestContext) => {
      const s = await connect();
      await s.peer.sendClose(code);
      await s.peer.waitTcpClosed();
      t.diagnostic(`client answered ${String(s.peer.closeFrame?.code)}, close event ${(await s.closed).code}`);
    });
  });
  test('7.x a client whose server never closes TCP gives up after closeTimeout', T, async () => {
    const s = await connect({ peer: { endAfterCloseMs: false } }, { closeTimeout: 100 });
    await s.peer.sendClose(1000);
    await s.peer.waitTcpClosed(2000);
    assert.equal(s.peer.closeFrame?.code, 1000);
    assert.equal(s.peer.localEndedAt, null, 'the server never closed');
    const info = await s.closed;
    assert.equal(info.code, 1000);
    assert.ok(s.peer.tcpClosedAt! - s.peer.closeFrame!.at >= 90, 'the client waited for closeTimeout first');
  });
  test('7.x the client closes: it sends 1000 and waits for the server to close TCP', T, async () => {
    const s = await connect();
    s.ws.close(1000, 'bye');
    await s.peer.waitTcpClosed();
    assert.equal(s.peer.closeFrame?.code, 1000);
    assert.equal(s.peer.closeFrame?.reason.toString(), 'bye');
    assertClientWaitedForServer(s.peer);
    const info = await s.closed;
    assert.deepEqual(info, { code: 1000, reason: '', wasClean: true }, "the close event reports the server's close frame");
  });
});

describe('Autobahn 9: limits and performance (client)', () => {
  async function timed(t: TestContext, frames: FrameSpec[], expected: Observed, options: Send = {}): Promise<void> {
    const s = await connect();
    const start = performance.now();
    await s.peer.send(frames, options);
    await s.peer.waitEvents(1, 50_000);
    t.diagnostic(`round trip ${(performance.now() - start).toFixed(0)} ms`);
    await closeCleanly(s, [expected]);
  }
  const textOf = (n: number) => Buffer.from('BAsd7&jh23'.repeat(Math.ceil(n / 10)).slice(0, n));
  test('9.1.1 echoes a text message of 64 KiB', LONG, (t) => timed(t, [tx(textOf(65536))], text(textOf(65536))));
  test('9.1.6 echoes a text message of 16 MiB (the default maxMessageSize)', LONG, (t) => timed(t, [tx(textOf(16 * MiB))], text(textOf(16 * MiB))));
  test('9.2.6 echoes a binary message of 16 MiB', LONG, (t) => {
    const data = Buffer.alloc(16 * MiB, Buffer.from('00fe23faf0', 'hex'));
    return timed(t, [{ opcode: OP.BINARY, payload: data }], binary(data));
  });
  test('9.3.1 echoes a 4 MiB text message sent in 64-byte fragments', LONG, (t) =>
    timed(t, fragment(OP.TEXT, Buffer.alloc(4 * MiB, '*'), 64), text(Buffer.alloc(4 * MiB, '*'))));
  test('9.4.1 echoes a 4 MiB binary message sent in 64-byte fragments', LONG, (t) =>
    timed(t, fragment(OP.BINARY, Buffer.alloc(4 * MiB, 0xfe), 64), binary(Buffer.alloc(4 * MiB, 0xfe))));
  test('9.5.1 echoes a 1 MiB text message sent in 64-byte chops', LONG, (t) => timed(t, [tx(textOf(MiB))], text(textOf(MiB)), { chopSize: 64 }));
  test('9.6.6 echoes a 1 MiB binary message sent in 2048-byte chops', LONG, (t) =>
    timed(t, [{ opcode: OP.BINARY, payload: Buffer.alloc(MiB, 0xfe) }], binary(Buffer.alloc(MiB, 0xfe)), { chopSize: 2048 }));
  for (const [id, isBinary] of [['9.7.6', false], ['9.8.6', true]] as const) {
    test(`${id} echoes 1000 ${isBinary ? 'binary' : 'text'} messages of 4096 bytes one after another`, LONG, async (t) => {
      const s = await connect();
      const payload = isBinary ? Buffer.alloc(4096, 0xfe) : Buffer.alloc(4096, '*');
      const start = performance.now();
      for (let i = 0; i < 1000; i++) {
        await s.peer.send({ opcode: isBinary ? OP.BINARY : OP.TEXT, payload });
        await s.peer.waitEvents(i + 1);
      }
      t.diagnostic(`1000 round trips in ${(performance.now() - start).toFixed(0)} ms`);
      await closeCleanly(s, Array.from({ length: 1000 }, () => (isBinary ? binary(payload) : text(payload))));
    });
  }
  test('9.x fails with 1009 on a message one byte over maxMessageSize, from the header alone', T, async () => {
    const s = await connect({}, { maxMessageSize: 1024 });
    await s.peer.send({ opcode: OP.BINARY, length: 1025 });
    await expectFailure(s, [1009]);
  });
});

describe('Autobahn 10: miscellaneous (client)', () => {
  test('10.1.1 echoes a 65536-byte text message sent in 1300-byte frames', T, () =>
    echoCase(fragment(OP.TEXT, Buffer.alloc(65536, '*'), 1300), [text(Buffer.alloc(65536, '*'))]));
});

const MSG_SIZES: ReadonlyArray<readonly [number, number]> = [
  [16, 0], [64, 0], [256, 0], [1024, 0], [4096, 0], [8192, 0], [16384, 0], [32768, 0], [65536, 0], [131072, 0],
  [8192, 256], [16384, 256], [32768, 256], [65536, 256], [131072, 256], [131072, 1024], [131072, 4096], [131072, 32768],
];

/** The raw server sends `count` compressed slices of `corpus`; each compressed echo must inflate to the same. */
async function compressedEchoes(s: Session, corpus: Corpus, sizeId: number, count = 10): Promise<void> {
  const [size, fragmentSize] = MSG_SIZES[sizeId - 1]!;
  const messages = slices(corpus.data, size, count);
  for (const [i, message] of messages.entries()) {
    await s.peer.sendMessage(message, { binary: corpus.binary, compress: true, fragmentSize });
    await s.peer.waitEvents(i + 1);
    if (s.peer.tcpClosedAt !== null) break;
  }
  const expected = messages.map((m) => (corpus.binary ? binary(m) : text(m)));
  sameEvents(observed(s.peer), expected, s.peer.describe());
  if (size >= 1024) assert.ok(s.peer.events.every((e) => e.type === 'message' && e.compressed), 'the client compressed its echoes');
  await closeCleanly(s, expected);
}

describe('Autobahn 12: compression, different payloads (client)', () => {
  corpora().forEach((corpus, j) => {
    for (const sizeId of [1, 4, 7, 10, 11, 17]) {
      const [size, frag] = MSG_SIZES[sizeId - 1]!;
      const id = `12.${j + 1}.${sizeId}`;
      test(`${id} echoes 10 compressed ${corpus.name} messages of ${size} bytes${frag ? ` in ${frag}-byte frames` : ''}`, caseOptions('client', id, T), async () => {
        const s = await connect({ extensions: 'permessage-deflate' });
        assert.equal(s.ws.extensions, 'permessage-deflate');
        await compressedEchoes(s, corpus, sizeId);
      });
    }
  });
});

describe('Autobahn 13: compression, different parameters (client)', () => {
  // Autobahn's server accept variants (13.1-13.7) as responses to our client's default offer, then server-side
  // parameters the server may impose on itself (RFC 7692 §7.1.1.1, §7.1.2.1).
  const RESPONSES: ReadonlyArray<readonly [string, string]> = [
    ['13.1', 'permessage-deflate'],
    ['13.2', 'permessage-deflate; client_no_context_takeover'],
    ['13.3', 'permessage-deflate; client_max_window_bits=9'],
    ['13.4', 'permessage-deflate; client_max_window_bits=15'],
    ['13.5', 'permessage-deflate; client_no_context_takeover; client_max_window_bits=9'],
    ['13.6', 'permessage-deflate; client_no_context_takeover; client_max_window_bits=15'],
    ['13.x server_no_context_takeover', 'permessage-deflate; server_no_context_takeover'],
    ['13.x server_max_window_bits=9', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9'],
  ];
  const json = corpora()[0]!;
  test('13.x offers permessage-deflate with client_max_window_bits by default', T, async () => {
    const s = await connect();
    assert.equal(s.peer.request.headers['sec-websocket-extensions'], 'permessage-deflate; client_max_window_bits');
    await closeCleanly(s, []);
  });
  for (const [id, response] of RESPONSES) {
    for (const sizeId of [2, 4, 7, 17]) {
      const [size, frag] = MSG_SIZES[sizeId - 1]!;
      const caseId = id.startsWith('13.x') ? id : `${id}.${sizeId}`;
      test(`${caseId} with "${response}": echoes 10 compressed JSON messages of ${size} bytes${frag ? ` in ${frag}-byte frames` : ''}`, T, async () => {
        const s = await connect({ extensions: response });
        assert.equal(s.ws.extensions, response);
        await compressedEchoes(s, json, sizeId);
      });
    }
  }
  test('13.x offers what the options ask and honours the server agreeing to it', T, async () => {
    const options = { perMessageDeflate: { serverNoContextTakeover: true, serverMaxWindowBits: 10, clientNoContextTakeover: true, clientMaxWindowBits: 9 } };
    const offer = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9';
    const s = await connect({ extensions: offer }, options);
    assert.equal(s.peer.request.headers['sec-websocket-extensions'], offer);
    await compressedEchoes(s, json, 17, 4);
  });

  const invalid: ReadonlyArray<readonly [string, string, ClientOptions?]> = [
    ['an extension that was not offered', 'permessage-deflate', { perMessageDeflate: false }],
    ['an unknown extension', 'x-webkit-deflate-frame'],
    ['permessage-deflate twice', 'permessage-deflate, permessage-deflate'],
    ['an unknown parameter', 'permessage-deflate; foo'],
    ['a duplicate parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
    ['server_max_window_bits=abc', 'permessage-deflate; server_max_window_bits=abc'],
    ['client_max_window_bits without a value', 'permessage-deflate; client_max_window_bits'],
    ['a larger server window than asked for', 'permessage-deflate; server_max_window_bits=12', { perMessageDeflate: { serverMaxWindowBits: 10 } }],
    ['no confirmation of server_no_context_takeover', 'permessage-deflate', { perMessageDeflate: { serverNoContextTakeover: true } }],
  ];
  for (const [what, response, options] of invalid) {
    test(`13.x fails the handshake on ${what} ("${response}")`, T, async () => {
      const s = await connect({ extensions: response }, options ?? {});
      const info = await s.closed;
      assert.equal(info.code, 1006, 'the connection never opens');
      assert.equal(s.ws.readyState, WebSocket.CLOSED);
      assert.ok(s.errors.length > 0, 'an error event says why');
      await s.peer.waitTcpClosed();
      assert.equal(s.peer.frames.length, 0, 'not a single frame was sent');
    });
  }
});
