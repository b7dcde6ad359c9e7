/**
 * Autobahn|Testsuite's fuzzing-client cases, played by a raw client against Volley's echo server, with
 * Autobahn's pass criteria: the events received must match the case's expected list, the close code must be
 * one the case allows, and after the close handshake the server must close TCP itself ("clean close").
 *
 * Scenarios follow the case definitions of crossbario/autobahn-testsuite (`autobahntestsuite/case/`); the
 * authoritative run is the real suite (docs/conformance.md). Timed waits of the original (`closeAfter(1)`)
 * are replaced by waiting for the expected events, so the suite runs in seconds.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEcho, type EchoServer } from '../cli/echo.js';
import { parseExtensions, responseProblems } from './deflate.js';
import { MiB, binary, corpora, observed, pong, sameEvents, slices, text, type Corpus, type Observed } from './expect.js';
import { caseOptions } from './known-bugs.js';
import { OP, RSV1, closePayload, connectRawClient, encodeFrame, fragment, type FrameSpec, type RawClient, type RawClientOptions } from './raw-client.js';
import { KOSME, UTF8_CASES } from './utf8-table.js';

const T = { timeout: 10_000 };
const LONG = { timeout: 60_000 };

let echo: EchoServer;
let port = 0;
const clients = new Set<RawClient>();

before(async () => {
  // `volley echo`, the endpoint the real fuzzing client is pointed at: text back as text, binary as binary,
  // permessage-deflate on, no heartbeat, a 64 MiB message limit.
  echo = await startEcho({ port: 0, host: '127.0.0.1' });
  port = echo.port;
});

after(async () => {
  for (const client of clients) client.destroy();
  await echo.close();
});

async function open(options: Partial<RawClientOptions> = {}): Promise<RawClient> {
  const client = await connectRawClient({ port, ...options });
  clients.add(client);
  return client;
}

/** Autobahn's clean close: a close frame, then the server closes TCP on its own, without a reset. */
function assertServerClosedTcp(c: RawClient): void {
  assert.ok(c.closeFrame, `the server sent a close frame; ${c.describe()}`);
  assert.notEqual(c.peerEndedAt, null, `the server closed TCP; ${c.describe()}`);
  assert.equal(c.localEndedAt, null, 'the client never had to close TCP');
  assert.equal(c.socketError, null, 'TCP was closed, not reset');
  assert.ok(c.peerEndedAt! >= c.closeFrame.at, 'TCP closed after the close frame');
}

/**
 * Autobahn `closedByMe: true`: once `expected` arrived, we close with `code`; the server must answer with 1000
 * or `code`, add nothing, and close TCP.
 */
async function closeCleanly(c: RawClient, expected: readonly Observed[], code = 1000): Promise<void> {
  await c.waitEvents(expected.length);
  sameEvents(observed(c), expected, c.describe());
  await c.sendClose(code);
  await c.waitTcpClosed();
  assert.ok(c.closeFrame !== null && [1000, code].includes(c.closeFrame.code!), `close code 1000 or ${code}; ${c.describe()}`);
  assertServerClosedTcp(c);
  sameEvents(observed(c), expected, 'nothing after the expected events');
  assert.deepEqual(c.violations, []);
}

/** Autobahn `closedByMe: false`: the server fails the connection with one of `codes` after `expected`. */
async function expectFailure(c: RawClient, codes: readonly number[], expected: readonly Observed[] = []): Promise<void> {
  await c.waitTcpClosed();
  sameEvents(observed(c), expected, c.describe());
  assert.ok(c.closeFrame !== null && codes.includes(c.closeFrame.code!), `close code ${codes.join('/')}; ${c.describe()}`);
  assertServerClosedTcp(c);
  assert.deepEqual(c.violations, []);
}

/** Sends the frames, then expects the echo events and closes (the common positive case). */
async function echoCase(frames: FrameSpec[], expected: Observed[], options: Parameters<RawClient['send']>[1] = {}): Promise<void> {
  const c = await open();
  await c.send(frames, options);
  await closeCleanly(c, expected);
}

/** Sends the frames, then expects the server to fail the connection. */
async function failCase(frames: FrameSpec[], codes: number[], expected: Observed[] = [], options: Parameters<RawClient['send']>[1] = {}): Promise<void> {
  const c = await open();
  await c.send(frames, options);
  await expectFailure(c, codes, expected);
}

const HELLO = 'Hello, world!';
const tx = (payload: string | Buffer, fin = true): FrameSpec => ({ opcode: OP.TEXT, payload, fin });
const cont = (payload: string | Buffer, fin = true): FrameSpec => ({ opcode: OP.CONT, payload, fin });
const pingFrame = (payload: string | Buffer = ''): FrameSpec => ({ opcode: OP.PING, payload });

describe('Autobahn 1: framing', () => {
  const lengths = [0, 125, 126, 127, 128, 65535, 65536];
  for (const [kind, opcode, fill, expect] of [['text', OP.TEXT, '*', text], ['binary', OP.BINARY, '\xfe', binary]] as const) {
    const group = kind === 'text' ? '1.1' : '1.2';
    const payloadOf = (n: number) => Buffer.from(fill.repeat(n), 'latin1');
    lengths.forEach((length, i) => {
      test(`${group}.${i + 1} echoes a ${kind} message of ${length} bytes`, T, () =>
        echoCase([{ opcode, payload: payloadOf(length) }], [expect(payloadOf(length))]));
    });
    test(`${group}.8 echoes a ${kind} message of 65536 bytes sent in 997-byte chops`, T, () =>
      echoCase([{ opcode, payload: payloadOf(65536) }], [expect(payloadOf(65536))], { chopSize: 997 }));
  }
});

describe('Autobahn 1: framing, beyond the suite', () => {
  test('H1 parses a first frame that arrives in the same segment as the handshake request', caseOptions('server', 'H1', T), async () => {
    const c = await open({ trailing: encodeFrame(tx(HELLO), true) });
    await c.waitEvents(1, 1000).catch(() => {});
    sameEvents(observed(c), [text(HELLO)], c.describe());
    await closeCleanly(c, [text(HELLO)]);
  });
  test('1.x fails with 1002 on an unmasked client frame', T, () => failCase([{ ...tx(HELLO), mask: false }], [1002]));
  test('1.x fails with 1002 on a 64-bit length with the most significant bit set, from the header alone', T, async () => {
    const c = await open();
    const header = Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
    await c.sendRaw(header);
    await expectFailure(c, [1002]);
  });
  test('1.x fails with 1009 on a frame announcing more than maxMessageSize, from the header alone', T, async () => {
    const c = await open();
    await c.send({ opcode: OP.BINARY, length: 64 * MiB + 1 });
    await expectFailure(c, [1009]);
  });
});

describe('Autobahn 2: pings and pongs', () => {
  const fe125 = Buffer.alloc(125, 0xfe);
  test('2.1 answers a ping without payload with an empty pong', T, () => echoCase([pingFrame()], [pong()]));
  test('2.2 echoes a small text ping payload in the pong', T, () => echoCase([pingFrame(HELLO)], [pong(HELLO)]));
  const bin = Buffer.from('00fffefdfcfb00ff', 'hex');
  test('2.3 echoes a small binary ping payload in the pong', T, () => echoCase([pingFrame(bin)], [pong(bin)]));
  test('2.4 echoes a 125-byte ping payload', T, () => echoCase([pingFrame(fe125)], [pong(fe125)]));
  test('2.5 fails the connection with 1002 on a 126-byte ping', T, () => failCase([pingFrame(Buffer.alloc(126, 0xfe))], [1002]));
  test('2.6 answers a 125-byte ping sent octet by octet', T, () => echoCase([pingFrame(fe125)], [pong(fe125)], { chopSize: 1 }));
  test('2.7 ignores an unsolicited empty pong', T, async () => {
    const c = await open();
    await c.send({ opcode: OP.PONG });
    await closeCleanly(c, []);
  });
  test('2.8 ignores an unsolicited pong with payload', T, async () => {
    const c = await open();
    await c.send({ opcode: OP.PONG, payload: 'unsolicited pong payload' });
    await closeCleanly(c, []);
  });
  test('2.9 ignores an unsolicited pong and answers the following ping', T, () =>
    echoCase([{ opcode: OP.PONG, payload: 'unsolicited pong payload' }, pingFrame('ping payload')], [pong('ping payload')]));
  const tenPings = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  test('2.10 answers 10 pings with 10 pongs in order', T, () => echoCase(tenPings.map((p) => pingFrame(p)), tenPings.map((p) => pong(p))));
  test('2.11 answers 10 pings sent octet by octet with 10 pongs in order', T, () =>
    echoCase(tenPings.map((p) => pingFrame(p)), tenPings.map((p) => pong(p)), { chopSize: 1, delayMs: 0 }));
});

describe('Autobahn 3: reserved bits', () => {
  test('3.1 fails with 1002 on a text frame with RSV3 set', T, () => failCase([{ ...tx(HELLO), rsv: 1 }], [1002]));
  const sequence = (rsv: number): FrameSpec[] => [tx(HELLO), { ...tx(HELLO), rsv }, pingFrame()];
  test('3.2 echoes the first message, then fails with 1002 on RSV2 and never answers the ping', T, () =>
    failCase(sequence(2), [1002], [text(HELLO)]));
  test('3.3 the same with RSV2+RSV3, frame by frame', T, () => failCase(sequence(3), [1002], [text(HELLO)], { frameWise: true }));
  test('3.4 the same with RSV1 (no extension negotiated), octet by octet', T, () =>
    failCase(sequence(4), [1002], [text(HELLO)], { chopSize: 1, delayMs: 0 }));
  test('3.5 fails with 1002 on a binary frame with RSV1+RSV3 set', T, () =>
    failCase([{ opcode: OP.BINARY, payload: Buffer.from('00fffefdfcfb00ff', 'hex'), rsv: 5 }], [1002]));
  test('3.6 fails with 1002 on a ping with RSV1+RSV2 set', T, () => failCase([{ ...pingFrame(HELLO), rsv: 6 }], [1002]));
  test('3.7 fails with 1002 on a close frame with all RSV bits set', T, () =>
    failCase([{ opcode: OP.CLOSE, payload: closePayload(1000), rsv: 7 }], [1002]));
  test('3.x fails with 1002 on RSV1 on a ping even with permessage-deflate agreed (RFC 7692 §6.1)', T, async () => {
    const c = await open({ extensions: 'permessage-deflate' });
    assert.ok(c.accepted);
    await c.send({ ...pingFrame('x'), rsv: RSV1 });
    await expectFailure(c, [1002]);
  });
  test('3.x fails with 1002 on RSV1 on a continuation frame even with permessage-deflate agreed', T, async () => {
    const c = await open({ extensions: 'permessage-deflate' });
    await c.send([tx('frag', false), { ...cont('ment'), rsv: RSV1 }]);
    await expectFailure(c, [1002]);
  });
});

describe('Autobahn 4: opcodes', () => {
  for (const [group, opcodes] of [['4.1', [3, 4, 5, 6, 7]], ['4.2', [11, 12, 13, 14, 15]]] as const) {
    const kind = group === '4.1' ? 'non-control' : 'control';
    test(`${group}.1 fails with 1002 on reserved ${kind} opcode ${opcodes[0]}`, T, () => failCase([{ opcode: opcodes[0] }], [1002]));
    test(`${group}.2 fails with 1002 on reserved ${kind} opcode ${opcodes[1]} with a payload`, T, () =>
      failCase([{ opcode: opcodes[1], payload: 'reserved opcode payload' }], [1002]));
    test(`${group}.3 echoes a message, then fails on opcode ${opcodes[2]} and never answers the ping`, T, () =>
      failCase([tx(HELLO), { opcode: opcodes[2] }, pingFrame()], [1002], [text(HELLO)]));
    test(`${group}.4 the same with opcode ${opcodes[3]} carrying a payload`, T, () =>
      failCase([tx(HELLO), { opcode: opcodes[3], payload: HELLO }, pingFrame()], [1002], [text(HELLO)]));
    test(`${group}.5 the same with opcode ${opcodes[4]}, octet by octet`, T, () =>
      failCase([tx(HELLO), { opcode: opcodes[4], payload: HELLO }, pingFrame()], [1002], [text(HELLO)], { chopSize: 1, delayMs: 0 }));
  }
});

describe('Autobahn 5: fragmentation', () => {
  test('5.1 fails with 1002 on a fragmented ping', T, () =>
    failCase([{ opcode: OP.PING, fin: false, payload: 'fragment1' }, cont('fragment2')], [1002]));
  test('5.2 fails with 1002 on a fragmented pong', T, () =>
    failCase([{ opcode: OP.PONG, fin: false, payload: 'fragment1' }, cont('fragment2')], [1002]));
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
  test('5.9 fails with 1002 on a final continuation frame with nothing to continue', T, () => failCase(orphanFin, [1002]));
  test('5.10 the same, frame by frame', T, () => failCase(orphanFin, [1002], [], { frameWise: true }));
  test('5.11 the same, octet by octet', T, () => failCase(orphanFin, [1002], [], { chopSize: 1 }));
  const orphan = [cont('non-continuation payload', false), tx(HELLO)];
  test('5.12 fails with 1002 on a non-final continuation frame with nothing to continue', T, () => failCase(orphan, [1002]));
  test('5.13 the same, frame by frame', T, () => failCase(orphan, [1002], [], { frameWise: true }));
  test('5.14 the same, octet by octet', T, () => failCase(orphan, [1002], [], { chopSize: 1 }));
  test('5.15 echoes a 2-fragment message, then fails on a continuation with nothing to continue', T, () =>
    failCase([tx('fragment1', false), cont('fragment2'), cont('fragment3', false), tx('fragment4')], [1002], [text('fragment1fragment2')]));
  test('5.16 fails with 1002 on (orphan continuation, 2-fragment message) twice', T, () =>
    failCase([0, 1].flatMap(() => [cont('fragment1', false), tx('fragment2', false), cont('fragment3')]), [1002]));
  test('5.17 fails with 1002 on (final orphan continuation, 2-fragment message) twice', T, () =>
    failCase([0, 1].flatMap(() => [cont('fragment1'), tx('fragment2', false), cont('fragment3')]), [1002]));
  test('5.18 fails with 1002 on a message whose 2 fragments both carry the text opcode', T, () =>
    failCase([tx('fragment1', false), tx('fragment2')], [1002]));

  for (const [id, frameWise] of [['5.19', false], ['5.20', true]] as const) {
    test(`${id} answers the first ping before the fragmented message is complete${frameWise ? ', frame by frame' : ''}`, T, async () => {
      const f = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
      const c = await open();
      await c.send([tx(f[0]!, false), cont(f[1]!, false), pingFrame('pongme 1!')], { frameWise });
      await c.waitEvents(1, 2000);
      sameEvents(observed(c), [pong('pongme 1!')], 'the pong comes while the message is still open');
      await sleep(50);
      await c.send([cont(f[2]!, false), cont(f[3]!, false), pingFrame('pongme 2!'), cont(f[4]!)], { frameWise });
      await closeCleanly(c, [pong('pongme 1!'), pong('pongme 2!'), text(f.join(''))]);
    });
  }
});

describe('Autobahn 6: UTF-8 handling', () => {
  test('6.1.1 echoes an empty text message', T, () => echoCase([tx('')], [text('')]));
  test('6.1.2 echoes a text message of 3 empty fragments', T, () => echoCase([tx('', false), cont('', false), cont('')], [text('')]));
  test('6.1.3 echoes a text message of empty, non-empty and empty fragments', T, () =>
    echoCase([tx('', false), cont('middle frame payload', false), cont('')], [text('middle frame payload')]));

  const greeting = 'Hello-µ@ßöäüàá-UTF-8!!';
  const octets = (data: Buffer) => fragment(OP.TEXT, data, 1);
  test('6.2.1 echoes valid UTF-8 in one frame', T, () => echoCase([tx(greeting)], [text(greeting)]));
  test('6.2.2 echoes valid UTF-8 fragmented on a code point boundary', T, () =>
    echoCase([tx('Hello-µ@ßöä', false), cont('üàá-UTF-8!!')], [text(greeting)]));
  test('6.2.3 echoes valid UTF-8 in 1-octet fragments (splitting code points)', T, () =>
    echoCase(octets(Buffer.from(greeting)), [text(greeting)]));
  test('6.2.4 echoes κόσμε in 1-octet fragments', T, () => echoCase(octets(KOSME), [text(KOSME)]));

  const invalid = Buffer.concat([KOSME, Buffer.from('eda080', 'hex'), Buffer.from('edited')]);
  test('6.3.1 fails with 1007 on invalid UTF-8 in one frame', T, () => failCase([tx(invalid)], [1007]));
  test('6.3.2 fails with 1007 on invalid UTF-8 in 1-octet fragments', T, () => failCase(octets(invalid), [1007]));

  // 6.4.x fail fast: the close must come before the rest of the message is even sent.
  const part1 = KOSME;
  const part2 = Buffer.from('f4908080', 'hex'); // U+110000 in UTF-8 form: out of range
  const part3 = Buffer.from('edited');
  const whole = Buffer.concat([part1, part2, part3]);
  const QUIET = 100;
  async function failFast(c: RawClient, sendFirst: () => Promise<void>, sendSecond: () => Promise<void>): Promise<void> {
    await sendFirst();
    await sleep(QUIET);
    assert.equal(c.closeFrame, null, `the valid first part is accepted; ${c.describe()}`);
    await sendSecond();
    await c.waitCloseFrame(1000);
    // The rest of the message was never sent: the server judged the bytes it had.
    await expectFailure(c, [1007]);
  }
  test('6.4.1 fails fast with 1007 in the fragment that makes the text invalid (frames)', T, async () => {
    const c = await open();
    await failFast(c, () => c.send(tx(part1, false)), () => c.send(cont(part2, false)));
  });
  test('6.4.2 fails fast with 1007 on the very octet that makes the text invalid (frames)', T, async () => {
    const c = await open();
    await failFast(c, () => c.send(tx(whole.subarray(0, 12), false)), () => c.send(cont(whole.subarray(12, 13), false)));
  });
  for (const [id, cut1, cut2] of [['6.4.3', part1.length, part1.length + part2.length], ['6.4.4', 12, 13]] as const) {
    test(`${id} fails fast with 1007 inside one frame, before the frame is complete (chops at ${cut1}/${cut2})`, T, async () => {
      const c = await open();
      const frame = encodeFrame(tx(whole), true);
      const header = frame.length - whole.length;
      await failFast(c, () => c.sendRaw(frame.subarray(0, header + cut1)), () => c.sendRaw(frame.subarray(header + cut1, header + cut2)));
    });
  }

  for (const entry of UTF8_CASES) {
    const hex = entry.bytes.length <= 16 ? entry.bytes.toString('hex') : `${entry.bytes.length} bytes`;
    if (entry.valid) {
      test(`${entry.id} echoes valid UTF-8 (${entry.group}: ${hex})`, T, () => echoCase([tx(entry.bytes)], [text(entry.bytes)]));
    } else {
      test(`${entry.id} fails with 1007 on invalid UTF-8 (${entry.group}: ${hex})`, T, () => failCase([tx(entry.bytes)], [1007]));
    }
  }
});

describe('Autobahn 7: close handling', () => {
  /** We close first with `payload`; the server must answer with one of `codes` (null: no code) and close TCP. */
  async function closeWith(payload: Buffer, codes: readonly (number | null)[], after: FrameSpec[] = [], before: FrameSpec[] = []): Promise<RawClient> {
    const c = await open();
    await c.send([...before, { opcode: OP.CLOSE, payload }, ...after]);
    await c.waitTcpClosed();
    assert.ok(c.closeFrame !== null && codes.includes(c.closeFrame.code), `close code ${codes.join('/')}; ${c.describe()}`);
    assertServerClosedTcp(c);
    assert.equal(c.closeFrames, 1, 'exactly one close frame');
    assert.deepEqual(c.violations, []);
    return c;
  }

  test('7.1.1 echoes a message sent together with a close frame, then closes with 1000', T, async () => {
    const c = await closeWith(closePayload(1000), [1000], [], [tx('Hello World!')]);
    assert.deepEqual(observed(c), [text('Hello World!')]);
  });
  test('7.1.1c (7.1.1 with permessage-deflate) echoes a compressed message sent together with a close frame', caseOptions('server', '7.1.1c', T), async () => {
    const c = await open({ extensions: 'permessage-deflate' });
    const message = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ i })));
    await c.sendMessage(message, { compress: true });
    await c.sendClose(1000);
    await c.waitTcpClosed();
    sameEvents(observed(c), [text(message)], 'the echo precedes the close frame');
    assertServerClosedTcp(c);
  });
  test('7.1.2 answers two close frames with one', T, async () => {
    await closeWith(closePayload(1000), [1000], [{ opcode: OP.CLOSE }]);
  });
  test('7.1.3 does not answer a ping sent after the close frame', T, async () => {
    const c = await closeWith(closePayload(1000), [1000], [pingFrame()]);
    assert.deepEqual(observed(c), []);
  });
  test('7.1.4 ignores a text message sent after the close frame', T, async () => {
    const c = await closeWith(closePayload(1000), [1000], [tx('Hello World!')]);
    assert.deepEqual(observed(c), []);
  });
  test('7.1.5 ignores the rest of a fragmented message interrupted by a close frame', T, async () => {
    const c = await closeWith(closePayload(1000), [1000], [cont('fragment2')], [tx('fragment1', false)]);
    assert.deepEqual(observed(c), []);
  });
  test('7.1.6 (informational) 256 KiB message, message, close, ping back to back', T, async (t: TestContext) => {
    const big = Buffer.from('BAsd7&jh23'.repeat(26215).slice(0, 256 * 1024));
    const c = await open();
    await c.send([tx(big), tx('Hello World!'), { opcode: OP.CLOSE, payload: closePayload(1000) }, pingFrame()]);
    await c.waitTcpClosed();
    t.diagnostic(`echoes before close: ${c.events.length}; close code ${String(c.closeFrame?.code)}`);
    assertServerClosedTcp(c);
  });

  test('7.3.1 answers a close frame without payload', T, () => closeWith(Buffer.alloc(0), [null, 1000]).then(() => {}));
  test('7.3.2 fails with 1002 on a close frame with a 1-byte payload', T, () => closeWith(Buffer.from('a'), [1002]).then(() => {}));
  test('7.3.3 echoes close code 1000', T, () => closeWith(closePayload(1000), [1000]).then(() => {}));
  test('7.3.4 echoes close code 1000 with a reason', T, () => closeWith(closePayload(1000, 'Hello World!'), [1000]).then(() => {}));
  test('7.3.5 accepts a reason of 123 bytes (the maximum)', T, () => closeWith(closePayload(1000, '*'.repeat(123)), [1000]).then(() => {}));
  test('7.3.6 fails with 1002 on a reason of 124 bytes (126-byte control frame)', T, () =>
    closeWith(closePayload(1000, '*'.repeat(124)), [1002]).then(() => {}));
  test('7.5.1 fails with 1007 on a close reason that is not valid UTF-8', T, () =>
    closeWith(closePayload(1000, Buffer.concat([KOSME, Buffer.from('eda080', 'hex'), Buffer.from('edited')])), [1007]).then(() => {}));

  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].forEach((code, i) => {
    test(`7.7.${i + 1} closes cleanly on valid close code ${code}`, T, () => closeWith(closePayload(code), [1000, code]).then(() => {}));
  });
  [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].forEach((code, i) => {
    test(`7.9.${i + 1} fails with 1002 on invalid close code ${code}`, T, () => closeWith(closePayload(code), [1002]).then(() => {}));
  });
  [5000, 65535].forEach((code, i) => {
    test(`7.13.${i + 1} (informational) close code ${code}`, T, async (t: TestContext) => {
      const c = await open();
      await c.sendClose(code);
      await c.waitTcpClosed();
      t.diagnostic(`server answered ${String(c.closeFrame?.code)}`);
      assertServerClosedTcp(c);
    });
  });
});

describe('Autobahn 9: limits and performance', () => {
  /** Sends `frames`, waits for one echo equal to `expected`, closes; reports the time. */
  async function timed(t: TestContext, frames: FrameSpec[], expected: Observed, options: Parameters<RawClient['send']>[1] = {}): Promise<void> {
    const c = await open();
    const start = performance.now();
    await c.send(frames, options);
    await c.waitEvents(1, 50_000);
    t.diagnostic(`round trip ${(performance.now() - start).toFixed(0)} ms`);
    await closeCleanly(c, [expected]);
  }
  const textOf = (n: number) => Buffer.from('BAsd7&jh23'.repeat(Math.ceil(n / 10)).slice(0, n));
  const binOf = (n: number) => Buffer.alloc(n, Buffer.from('00fe23faf0', 'hex'));
  for (const [id, n] of [['9.1.1', 64 * 1024], ['9.1.6', 16 * MiB]] as const) {
    test(`${id} echoes a text message of ${n / 1024} KiB`, LONG, (t) => timed(t, [tx(textOf(n))], text(textOf(n))));
  }
  for (const [id, n] of [['9.2.1', 64 * 1024], ['9.2.6', 16 * MiB]] as const) {
    test(`${id} echoes a binary message of ${n / 1024} KiB`, LONG, (t) => timed(t, [{ opcode: OP.BINARY, payload: binOf(n) }], binary(binOf(n))));
  }
  const four = 4 * MiB;
  test('9.3.1 echoes a 4 MiB text message sent in 64-byte fragments', LONG, (t) =>
    timed(t, fragment(OP.TEXT, Buffer.alloc(four, '*'), 64), text(Buffer.alloc(four, '*'))));
  test('9.4.1 echoes a 4 MiB binary message sent in 64-byte fragments', LONG, (t) =>
    timed(t, fragment(OP.BINARY, Buffer.alloc(four, 0xfe), 64), binary(Buffer.alloc(four, 0xfe))));
  test('9.4.5 echoes a 4 MiB binary message sent in 16 KiB fragments', LONG, (t) =>
    timed(t, fragment(OP.BINARY, Buffer.alloc(four, 0xfe), 16 * 1024), binary(Buffer.alloc(four, 0xfe))));
  test('9.5.1 echoes a 1 MiB text message sent in 64-byte chops', LONG, (t) => timed(t, [tx(textOf(MiB))], text(textOf(MiB)), { chopSize: 64 }));
  test('9.6.6 echoes a 1 MiB binary message sent in 2048-byte chops', LONG, (t) =>
    timed(t, [{ opcode: OP.BINARY, payload: binOf(MiB) }], binary(binOf(MiB)), { chopSize: 2048 }));

  for (const [id, binaryMode, size] of [['9.7.6', false, 4096], ['9.8.6', true, 4096], ['9.7.1', false, 0]] as const) {
    test(`${id} echoes 1000 ${binaryMode ? 'binary' : 'text'} messages of ${size} bytes one after another`, LONG, async (t) => {
      const c = await open();
      const payload = binaryMode ? Buffer.alloc(size, 0xfe) : Buffer.alloc(size, '*');
      const start = performance.now();
      for (let i = 0; i < 1000; i++) {
        await c.send({ opcode: binaryMode ? OP.BINARY : OP.TEXT, payload });
        await c.waitEvents(i + 1);
      }
      t.diagnostic(`1000 round trips in ${(performance.now() - start).toFixed(0)} ms`);
      await closeCleanly(c, Array.from({ length: 1000 }, () => (binaryMode ? binary(payload) : text(payload))));
    });
  }
});

describe('Autobahn 10: miscellaneous', () => {
  test('10.1.1 echoes a 65536-byte text message sent in 1300-byte frames', T, () =>
    echoCase(fragment(OP.TEXT, Buffer.alloc(65536, '*'), 1300), [text(Buffer.alloc(65536, '*'))]));
});

/** Autobahn's message sizes for categories 12/13 (1-based ids): [size, auto-fragment size]. */
const MSG_SIZES: ReadonlyArray<readonly [number, number]> = [
  [16, 0], [64, 0], [256, 0], [1024, 0], [4096, 0], [8192, 0], [16384, 0], [32768, 0], [65536, 0], [131072, 0],
  [8192, 256], [16384, 256], [32768, 256], [65536, 256], [131072, 256], [131072, 1024], [131072, 4096], [131072, 32768],
];

/** Sends `count` compressed slices of `corpus` one after another; each echo must inflate to what was sent. */
async function compressedEchoes(c: RawClient, corpus: Corpus, sizeId: number, count = 10): Promise<void> {
  const [size, fragmentSize] = MSG_SIZES[sizeId - 1]!;
  const messages = slices(corpus.data, size, count);
  for (const [i, message] of messages.entries()) {
    await c.sendMessage(message, { binary: corpus.binary, compress: true, fragmentSize });
    await c.waitEvents(i + 1);
    if (c.tcpClosedAt !== null) break;
  }
  const expected = messages.map((m) => (corpus.binary ? binary(m) : text(m)));
  sameEvents(observed(c), expected, c.describe());
  // The server compresses what is at least its 1024-byte threshold (the documented default).
  if (size >= 1024) assert.ok(c.events.every((e) => e.type === 'message' && e.compressed), 'the server compressed its echoes');
  await closeCleanly(c, expected);
}

/** Autobahn's default offer (its client accepts no_context_takeover and max_window_bits requests). */
const DEFAULT_OFFER = 'permessage-deflate; client_no_context_takeover; client_max_window_bits';

describe('Autobahn 12: compression, different payloads', () => {
  const SIZE_IDS = [1, 4, 7, 10, 11, 17];
  corpora().forEach((corpus, j) => {
    for (const sizeId of SIZE_IDS) {
      const [size, frag] = MSG_SIZES[sizeId - 1]!;
      const id = `12.${j + 1}.${sizeId}`;
      test(`${id} echoes 10 compressed ${corpus.name} messages of ${size} bytes${frag ? ` in ${frag}-byte frames` : ''}`, caseOptions('server', id, T), async () => {
        const c = await open({ extensions: DEFAULT_OFFER });
        assert.equal(c.accepted?.name, 'permessage-deflate', 'the server accepted the offer');
        await compressedEchoes(c, corpus, sizeId);
      });
    }
  });
});

describe('Autobahn 13: compression, different parameters', () => {
  const base = DEFAULT_OFFER;
  const OFFERS: ReadonlyArray<readonly [string, string, RawClientOptions['compressWindowBits']?]> = [
    ['13.1', base],
    ['13.2', `${base}; server_no_context_takeover`],
    ['13.3', `${base}; server_max_window_bits=9`],
    ['13.4', `${base}; server_max_window_bits=15`],
    ['13.5', `${base}; server_no_context_takeover; server_max_window_bits=9`],
    ['13.6', `${base}; server_no_context_takeover; server_max_window_bits=15`],
    ['13.7', `${base}; server_no_context_takeover; server_max_window_bits=9, ${base}; server_no_context_takeover, ${base}`],
    // Beyond Autobahn: the client direction with context takeover, and with a 9-bit window.
    ['13.x context takeover both ways', 'permessage-deflate; client_max_window_bits', 15],
    ['13.x client window 9 with context takeover', 'permessage-deflate; client_max_window_bits=9', 9],
    ['13.x client_no_context_takeover, client window 9', 'permessage-deflate; client_no_context_takeover; client_max_window_bits=9', 9],
    ['13.x client window 8 (compressed with 9, as zlib must)', 'permessage-deflate; client_max_window_bits=8', 9],
  ];
  const json = corpora()[0]!;
  for (const [id, offer, bits] of OFFERS) {
    test(`${id} answers "${offer}" with a valid response`, T, async () => {
      const c = await open({ extensions: offer, compressWindowBits: bits });
      assert.ok(c.accepted, 'the offer is accepted');
      const offers = parseExtensions(offer);
      const valid = offers.some((o) => responseProblems(o, c.accepted!).length === 0);
      assert.ok(valid, `"${c.response.headers['sec-websocket-extensions']}" answers one offer: ${offers.map((o) => responseProblems(o, c.accepted!).join('; ')).join(' | ')}`);
      await closeCleanly(c, []);
    });
    for (const sizeId of [2, 4, 7, 17]) {
      const [size, frag] = MSG_SIZES[sizeId - 1]!;
      const caseId = id.startsWith('13.x') ? id : `${id}.${sizeId}`;
      test(`${caseId} echoes 10 compressed JSON messages of ${size} bytes${frag ? ` in ${frag}-byte frames` : ''}`, T, async () => {
        const c = await open({ extensions: offer, compressWindowBits: bits });
        await compressedEchoes(c, json, sizeId);
      });
    }
  }

  const declined = [
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=abc',
    'permessage-deflate; client_max_window_bits=08',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; unknown_parameter',
  ];
  for (const offer of declined) {
    test(`13.x declines the invalid offer "${offer}" and goes on uncompressed`, T, async () => {
      const c = await open({ extensions: offer });
      assert.equal(c.accepted, null, 'no extension in the response');
      await c.send({ ...tx(HELLO), rsv: RSV1 });
      await expectFailure(c, [1002]);
    });
  }
  test('13.x accepts the second offer when the first is invalid', T, async () => {
    const c = await open({ extensions: 'permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits' });
    assert.ok(c.accepted);
    assert.deepEqual(responseProblems(parseExtensions('permessage-deflate; client_max_window_bits')[0]!, c.accepted), []);
    await compressedEchoes(c, json, 4, 3);
  });
});
