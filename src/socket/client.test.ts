/**
 * The Node client (`new WebSocket(url)`): it refuses every bad server reply cleanly (H6, A3) — an `error` event,
 * then `close` with 1006, never a throw, the socket released — times out a silent server, fails a hostile
 * server's frames with the right code, and offers the WHATWG surface. G0 is checked at the end.
 */

import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { WebSocketServer as WsServer } from 'ws';

import { OP, frame, parseFrame, type ParsedFrame } from '../test-support/frames.js';
import { guardProcess } from '../test-support/process-guard.js';
import { RawServer, switchingProtocols, type RawConnection } from '../test-support/raw-server.js';
import { Cleanup, nextEvent, sleep, within } from '../test-support/util.js';
import { CloseEvent, ErrorEvent, MessageEvent, WebSocket, type ClientOptions } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const T = { timeout: 20_000 };

async function rawServer(handler: (connection: RawConnection) => void): Promise<RawServer> {
  const server = await RawServer.start(handler);
  cleanup.add(() => server.close());
  return server;
}

/** A `ws` server (an implementation nobody here wrote) on 127.0.0.1. */
async function wsServer(options: Omit<ConstructorParameters<typeof WsServer>[0], 'port'> = {}): Promise<{ server: WsServer; url: string }> {
  const server = await new Promise<WsServer>((resolve) => {
    const created: WsServer = new WsServer({ ...options, port: 0, host: '127.0.0.1' }, () => resolve(created));
  });
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return { server, url: `ws://127.0.0.1:${(address as AddressInfo).port}` };
}

/** A client, terminated after the test. */
function client(url: string, protocols?: string | string[], options?: ClientOptions): WebSocket {
  const ws = protocols === undefined ? new WebSocket(url, options) : new WebSocket(url, protocols, options);
  cleanup.add(() => ws.terminate());
  return ws;
}

/** Records the order of 'open', 'error' and 'close' and resolves at 'close'. */
function lifecycle(ws: WebSocket, ms = 3000) {
  const events: string[] = [];
  const errors: Array<Error & { code?: string; cause?: { code?: string } }> = [];
  ws.on('open', () => events.push('open'));
  ws.on('error', (error: Error) => {
    events.push('error');
    errors.push(error as (typeof errors)[number]);
  });
  const closed = nextEvent<[number, string, boolean]>(ws, 'close', ms).then((args) => {
    events.push('close');
    return args;
  });
  return { events, errors, closed };
}

describe('the client refuses a bad handshake reply (H6, A3)', () => {
  const cases: Array<{ name: string; reply: (c: RawConnection) => string; protocols?: string[]; options?: ClientOptions }> = [
    { name: 'a subprotocol when none was offered', reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Protocol': 'chat' }) },
    { name: 'a subprotocol that was not offered', reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Protocol': 'other' }), protocols: ['chat'] },
    { name: 'two subprotocols', reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Protocol': 'a, b' }), protocols: ['a', 'b'] },
    {
      name: 'permessage-deflate when it was not offered',
      reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Extensions': 'permessage-deflate' }),
      options: { perMessageDeflate: false },
    },
    { name: 'an extension nobody offered', reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Extensions': 'x-custom' }) },
    ...['7', '16', 'abc', '08', ''].map((bits) => ({
      name: `server_max_window_bits=${bits}`,
      reply: (c: RawConnection) => switchingProtocols(c.request, { 'Sec-WebSocket-Extensions': `permessage-deflate; server_max_window_bits=${bits}` }),
    })),
    {
      name: 'a duplicate parameter',
      reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover; server_no_context_takeover' }),
    },
    {
      name: 'an unknown parameter',
      reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Extensions': 'permessage-deflate; __proto__=1' }),
    },
    {
      name: 'permessage-deflate twice',
      reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Extensions': 'permessage-deflate, permessage-deflate' }),
    },
    { name: 'a wrong Sec-WebSocket-Accept', reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' }) },
    { name: 'no Sec-WebSocket-Accept', reply: (c) => switchingProtocols(c.request, { 'Sec-WebSocket-Accept': null }) },
    { name: 'Upgrade: h2c', reply: (c) => switchingProtocols(c.request, { Upgrade: 'h2c' }) },
    { name: 'status 200', reply: () => 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' },
    { name: 'status 404', reply: () => 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' },
    { name: 'status 101 without the upgrade headers', reply: () => 'HTTP/1.1 101 Switching Protocols\r\n\r\n' },
  ];
  for (const { name, reply, protocols, options } of cases) {
    test(`emits error then close 1006 on ${name}, without throwing, and releases the socket`, T, async () => {
      const server = await rawServer((c) => c.socket.write(reply(c)));
      let ws!: WebSocket;
      assert.doesNotThrow(() => {
        ws = client(server.url(), protocols, options);
      });
      const { events, errors, closed } = lifecycle(ws);
      const [code, reason, clean] = await closed;
      assert.deepEqual(events, ['error', 'close']);
      assert.deepEqual([code, reason, clean], [1006, '', false]);
      assert.equal(errors[0]!.code, 'VOLLEY_ERR_HANDSHAKE');
      assert.equal(ws.readyState, WebSocket.CLOSED);
      await within(server.connections[0]!.closed, 1000, 'the client to release its socket');
    });
  }

  test('does not follow a 302 redirect (credentials never travel)', T, async () => {
    const target = await rawServer((c) => c.socket.write(switchingProtocols(c.request)));
    const server = await rawServer((c) => c.socket.write(`HTTP/1.1 302 Found\r\nLocation: ${target.url()}\r\nContent-Length: 0\r\n\r\n`));
    const ws = client(server.url(), undefined, { headers: { Authorization: 'Bearer secret', Cookie: 'session=1' } });
    const { events, closed } = lifecycle(ws);
    const [code] = await closed;
    assert.deepEqual([events, code], [['error', 'close'], 1006]);
    await sleep(50);
    assert.equal(target.accepted, 0, 'the redirect target was never contacted');
    await within(server.connections[0]!.closed, 1000, 'the client to release its socket');
  });

  test('fails with error then close 1006 when the server never answers within handshakeTimeout', T, async () => {
    const server = await rawServer(() => {});
    const started = performance.now();
    const ws = client(server.url(), undefined, { handshakeTimeout: 200 });
    const { events, errors, closed } = lifecycle(ws);
    await closed;
    const elapsed = performance.now() - started;
    assert.deepEqual(events, ['error', 'close']);
    assert.match(errors[0]!.message, /timed out/);
    assert.ok(elapsed >= 150 && elapsed < 1000, `${elapsed.toFixed(0)} ms`);
    await within(server.connections[0]!.closed, 1000, 'the client to release its socket');
  });

  test('fails with error then close 1006 when nothing listens on the port', T, async () => {
    const server = await RawServer.start(() => {});
    const url = server.url();
    await server.close();
    const ws = client(url);
    const { events, errors, closed } = lifecycle(ws);
    const [code] = await closed;
    assert.deepEqual([events, code], [['error', 'close'], 1006]);
    assert.match(errors[0]!.message, /refused/);
  });

  test('never emits error when nobody listens for it (the process survives)', T, async () => {
    const server = await rawServer((c) => c.socket.write('HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n'));
    const ws = client(server.url());
    const [code] = await nextEvent<[number]>(ws, 'close');
    assert.equal(code, 1006);
  });
});

describe('caller errors throw synchronously (A3)', () => {
  test('refuses header values and names with CR, LF or NUL before connecting', T, async () => {
    const server = await rawServer(() => {});
    const headerSets: Array<Record<string, string>> = [{ 'X-Test': 'a\r\nInjected: yes' }, { 'X-Test': 'a\nb' }, { 'X-Test': 'a\0' }, { 'X-Te\r\nst': 'a' }];
    for (const headers of headerSets) {
      assert.throws(() => client(server.url(), undefined, { headers }), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' }, JSON.stringify(headers));
    }
    assert.throws(() => client(server.url(), undefined, { origin: 'https://a.example\r\nInjected: yes' }));
    await sleep(50);
    assert.equal(server.accepted, 0, 'no connection was attempted');
  });

  test('refuses bad limits before connecting (regression: they threw from the upgrade handler, out of the process)', T, async () => {
    const server = await rawServer(() => {});
    for (const options of [{ maxMessageSize: 0 }, { maxFragments: 1.5 }, { maxFrameSize: -1 }, { closeTimeout: -1 }]) {
      assert.throws(() => client(server.url(), undefined, options), { code: 'VOLLEY_ERR_INVALID_ARGUMENT' }, JSON.stringify(options));
    }
    await sleep(50);
    assert.equal(server.accepted, 0, 'no connection was attempted');
  });

  test('refuses bad URLs and subprotocol lists with a SyntaxError', T, () => {
    for (const url of ['not a url', 'ftp://127.0.0.1/', 'ws://127.0.0.1/#fragment']) {
      assert.throws(() => client(url), SyntaxError, url);
    }
    for (const protocols of [['a', 'a'], ['a b'], ['']]) {
      assert.throws(() => client('ws://127.0.0.1:1/', protocols), SyntaxError, JSON.stringify(protocols));
    }
  });

  test('send() and ping() before open throw VOLLEY_ERR_INVALID_STATE', T, async () => {
    const { url } = await wsServer();
    const ws = client(url);
    assert.throws(() => ws.send('too early'), { code: 'VOLLEY_ERR_INVALID_STATE' });
    assert.throws(() => ws.ping(), { code: 'VOLLEY_ERR_INVALID_STATE' });
    await nextEvent(ws, 'open');
  });

  test('close() while connecting aborts the attempt with error then close 1006', T, async () => {
    const server = await rawServer(() => {});
    const ws = client(server.url());
    const { events, closed } = lifecycle(ws);
    ws.close();
    const [code] = await closed;
    assert.deepEqual([events, code], [['error', 'close'], 1006]);
  });
});

/** A raw server that completes the handshake, optionally agreeing on `extensions`, then runs `script`. */
async function hostileServer(script: (socket: RawConnection['socket'], frames: ParsedFrame[]) => void, extensions?: string) {
  return rawServer((c) => {
    const frames: ParsedFrame[] = [];
    let buffer = Buffer.alloc(0);
    c.socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let parsed = parseFrame(buffer); parsed !== null; parsed = parseFrame(buffer)) {
        frames.push(parsed.frame);
        buffer = buffer.subarray(parsed.size);
      }
    });
    c.socket.write(switchingProtocols(c.request, extensions === undefined ? {} : { 'Sec-WebSocket-Extensions': extensions }));
    script(c.socket, frames);
  });
}

describe('the client fails a hostile server', () => {
  test('closes with a masked 1002 when a server frame is masked', T, async () => {
    let seen: ParsedFrame[] = [];
    const server = await hostileServer((socket, frames) => {
      seen = frames;
      socket.write(frame({ opcode: OP.TEXT, payload: 'masked', mask: true }));
    });
    const ws = client(server.url(), undefined, { perMessageDeflate: false });
    const { errors, closed } = lifecycle(ws);
    const [code] = await closed;
    assert.equal(code, 1002);
    assert.equal(errors[0]!.code, 'VOLLEY_ERR_PROTOCOL');
    const close = seen.find((f) => f.opcode === OP.CLOSE);
    assert.deepEqual([close?.closeCode, close?.masked], [1002, true]);
    await within(server.connections[0]!.closed, 1000, 'the client to close TCP after failing');
  });

  test('closes with 1009 on a decompression bomb with maxMessageSize 64 KiB (C1)', T, async () => {
    let seen: ParsedFrame[] = [];
    const compressed = zlib.deflateRawSync(Buffer.alloc(8 * 1024 * 1024, 'A'), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const server = await hostileServer((socket, frames) => {
      seen = frames;
      socket.write(frame({ opcode: OP.BINARY, rsv1: true, mask: false, payload: compressed.subarray(0, compressed.length - 4) }));
    }, 'permessage-deflate');
    const ws = client(server.url(), undefined, { maxMessageSize: 64 * 1024 });
    let delivered = 0;
    ws.on('message', () => delivered++);
    const { errors, closed } = lifecycle(ws);
    const [code] = await closed;
    assert.equal(code, 1009);
    assert.equal(errors[0]!.code, 'VOLLEY_ERR_PAYLOAD_TOO_BIG');
    assert.equal(delivered, 0);
    assert.equal(seen.find((f) => f.opcode === OP.CLOSE)?.closeCode, 1009);
  });

  test('destroys the socket after closeTimeout when the server answers the close but never closes TCP', T, async () => {
    const server = await hostileServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        if ((chunk[0]! & 0x0f) === OP.CLOSE) socket.write(frame({ opcode: OP.CLOSE, mask: false, payload: Buffer.from([0x03, 0xe8]) }));
      });
    });
    const ws = client(server.url(), undefined, { closeTimeout: 200, perMessageDeflate: false });
    await nextEvent(ws, 'open');
    const started = performance.now();
    ws.close(1000);
    const [code, , clean] = await nextEvent<[number, string, boolean]>(ws, 'close', 2000);
    const elapsed = performance.now() - started;
    assert.deepEqual([code, clean], [1000, true]);
    assert.ok(elapsed >= 150 && elapsed < 1000, `${elapsed.toFixed(0)} ms`);
    await within(server.connections[0]!.closed, 1000, 'the socket to be released');
  });
});

describe('the client reads what a server sends', () => {
  test('delivers a frame that arrived in the same TCP segment as the 101 response', T, async () => {
    const server = await rawServer((c) =>
      c.socket.write(Buffer.concat([Buffer.from(switchingProtocols(c.request)), frame({ opcode: OP.TEXT, mask: false, payload: 'early' })])),
    );
    const ws = client(server.url(), undefined, { perMessageDeflate: false });
    const [data, isBinary] = await nextEvent<[Buffer, boolean]>(ws, 'message');
    assert.deepEqual([data.toString(), isBinary], ['early', false]);
  });
});

describe('the WHATWG surface', () => {
  test('readyState goes CONNECTING, OPEN, CLOSING, CLOSED and the attribute handlers see each step', T, async () => {
    const { server, url } = await wsServer();
    server.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
    const ws = client(`${url}/path?q=1`);
    const states: string[] = [`constructed:${ws.readyState}`];
    let messageEvent: MessageEvent | null = null;
    let closeEvent: CloseEvent | null = null;
    const onopen = function (this: WebSocket) {
      states.push(`open:${ws.readyState}`);
      ws.send('hi');
    };
    ws.onopen = onopen;
    assert.equal(ws.onopen, onopen);
    ws.onmessage = (event: MessageEvent) => {
      messageEvent = event;
      ws.close(1000, 'done');
      states.push(`closing:${ws.readyState}`);
    };
    const closed = new Promise<void>((resolve) => {
      ws.onclose = (event: CloseEvent) => {
        closeEvent = event;
        states.push(`closed:${ws.readyState}`);
        resolve();
      };
    });
    ws.onerror = () => states.push('error');
    await within(closed, 3000, 'onclose');
    assert.deepEqual(states, ['constructed:0', 'open:1', 'closing:2', 'closed:3']);
    assert.equal(messageEvent!.data, 'hi');
    assert.equal(messageEvent!.type, 'message');
    assert.equal(messageEvent!.target, ws);
    assert.deepEqual([closeEvent!.code, closeEvent!.reason, closeEvent!.wasClean], [1000, 'done', true]);
    assert.equal(ws.url, `${url}/path?q=1`);
    assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
  });

  test('onerror receives an ErrorEvent and onclose a CloseEvent with 1006 when the handshake fails', T, async () => {
    const server = await rawServer((c) => c.socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    const ws = client(server.url());
    const seen: unknown[] = [];
    ws.onerror = (event: ErrorEvent) => seen.push(event);
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    const event = await within(closed, 2000, 'onclose');
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof ErrorEvent);
    assert.match((seen[0] as ErrorEvent).message, /403/);
    assert.deepEqual([event.code, event.wasClean], [1006, false]);
  });

  test('addEventListener: once fires once, duplicates are ignored, removeEventListener removes, handleEvent objects work', T, async () => {
    const { server, url } = await wsServer();
    server.on('connection', (peer) => {
      peer.send('one');
      peer.send('two');
      peer.send('three');
    });
    const ws = client(url);
    const once: unknown[] = [];
    const every: unknown[] = [];
    const removed: unknown[] = [];
    const objectListener = { seen: [] as unknown[], handleEvent(event: MessageEvent) { this.seen.push(event.data); } };
    const everyListener = (event: MessageEvent) => every.push(event.data);
    const removedListener = (event: MessageEvent) => removed.push(event.data);
    ws.addEventListener('message', (event: MessageEvent) => once.push(event.data), { once: true });
    ws.addEventListener('message', everyListener);
    ws.addEventListener('message', everyListener);
    ws.addEventListener('message', removedListener);
    ws.removeEventListener('message', removedListener);
    ws.addEventListener('message', objectListener);
    await within((async () => { while (every.length < 3) await sleep(5); })(), 2000, 'three messages');
    assert.deepEqual(once, ['one']);
    assert.deepEqual(every, ['one', 'two', 'three']);
    assert.deepEqual(removed, []);
    assert.deepEqual(objectListener.seen, ['one', 'two', 'three']);
  });

  test('binaryType decides what binary messages become: nodebuffer, arraybuffer or blob', T, async () => {
    const { server, url } = await wsServer();
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    server.on('connection', (peer) => peer.on('message', () => peer.send(bytes)));
    const ws = client(url);
    await nextEvent(ws, 'open');
    assert.equal(ws.binaryType, 'nodebuffer');
    const received: Record<string, unknown> = {};
    for (const type of ['nodebuffer', 'arraybuffer', 'blob'] as const) {
      ws.binaryType = type;
      const next = new Promise<MessageEvent>((resolve) => ws.addEventListener('message', resolve, { once: true }));
      ws.send('again');
      received[type] = (await within(next, 2000, `a ${type} message`)).data;
    }
    assert.ok(Buffer.isBuffer(received.nodebuffer));
    assert.deepEqual([...(received.nodebuffer as Buffer)], [...bytes]);
    assert.ok(received.arraybuffer instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(received.arraybuffer)], [...bytes]);
    assert.ok(received.blob instanceof Blob);
    assert.deepEqual([...new Uint8Array(await (received.blob as Blob).arrayBuffer())], [...bytes]);
    const [data, isBinary] = await (async () => {
      const next = nextEvent<[Buffer, boolean]>(ws, 'message');
      ws.send('emitter');
      return next;
    })();
    assert.ok(Buffer.isBuffer(data), "EventEmitter 'message' listeners always get a Buffer");
    assert.equal(isBinary, true);
  });

  test('protocol and extensions report what the server agreed', T, async () => {
    const { url: plainUrl } = await wsServer({ perMessageDeflate: false, handleProtocols: (protocols: Set<string>) => [...protocols].at(-1) ?? false });
    const plain = client(plainUrl, ['chat.v2', 'chat.v1']);
    assert.deepEqual([plain.protocol, plain.extensions], ['', '']);
    await nextEvent(plain, 'open');
    assert.deepEqual([plain.protocol, plain.extensions], ['chat.v1', '']);
    const { url: deflateUrl } = await wsServer({ perMessageDeflate: true });
    const deflating = client(deflateUrl);
    await nextEvent(deflating, 'open');
    assert.match(deflating.extensions, /^permessage-deflate/);
  });

  test('bufferedAmount counts queued bytes and falls back to 0 once written', T, async () => {
    const { url } = await wsServer();
    const ws = client(url, undefined, { perMessageDeflate: false });
    await nextEvent(ws, 'open');
    assert.equal(ws.bufferedAmount, 0);
    ws.send(Buffer.alloc(4 * 1024 * 1024));
    assert.ok(ws.bufferedAmount >= 4 * 1024 * 1024, `${ws.bufferedAmount}`);
    await within((async () => { while (ws.bufferedAmount > 0) await sleep(5); })(), 5000, 'bufferedAmount to reach 0');
  });

  test('url maps http: to ws: and keeps path and query', T, async () => {
    const { url } = await wsServer();
    const ws = client(`${url.replace('ws:', 'http:')}/a/b?x=1&y=2`);
    assert.equal(ws.url, `${url}/a/b?x=1&y=2`);
    await nextEvent(ws, 'open');
  });
});
