/**
 * `WebSocketServer#broadcast` and `send(PreparedMessage)`: one frame built for many sockets must put on the wire
 * exactly what `send` would, keep each socket's order and limits, and fall back to `send` wherever a socket needs
 * its own encoding (compression, a frame size limit, a fragmented message in progress, a client's mask).
 */

import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import WsClient from 'ws';

import { OP } from '../test-support/frames.js';
import { guardProcess } from '../test-support/process-guard.js';
import { RawClient } from '../test-support/raw-client.js';
import { Cleanup, nextEvent, startServer, stopServer, within } from '../test-support/util.js';
import { PreparedMessage } from '../protocol/prepared.js';
import { SendStatus, WebSocket, WebSocketServer, type WebSocketServerOptions } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const T = { timeout: 20_000 };

async function server(options: Omit<WebSocketServerOptions, 'port'> = {}) {
  const started = await startServer(options);
  const connections: WebSocket[] = [];
  started.wss.on('connection', (ws: WebSocket) => connections.push(ws));
  cleanup.add(() => stopServer(started.wss, { force: true }));
  return { ...started, connections };
}

/** Raw clients that completed the handshake, and their server-side sockets once all are accepted. */
async function rawClients(port: number, wss: WebSocketServer, connections: WebSocket[], n: number) {
  const clients: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const { client } = await RawClient.open(port);
    cleanup.add(() => client.destroy());
    clients.push(client);
  }
  await within(waitFor(() => connections.length === n && wss.clients.size === n), 2000, 'the server to accept every client');
  return clients;
}

async function waitFor(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** An open `ws` client (an implementation nobody here wrote) collecting its messages. */
async function wsClient(url: string, options: WsClient.ClientOptions = {}) {
  const client = new WsClient(url, options);
  cleanup.add(() => client.terminate());
  const messages: { data: Buffer; isBinary: boolean }[] = [];
  client.on('message', (data: Buffer, isBinary: boolean) => messages.push({ data, isBinary }));
  await within(new Promise((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  }), 5000, 'the ws client to open');
  return { client, messages };
}

describe('WebSocketServer#broadcast', () => {
  test('writes the same bytes send() would, to every open client', T, async () => {
    const { wss, port, connections } = await server({ perMessageDeflate: false });
    const clients = await rawClients(port, wss, connections, 3);
    const text = 'héllo ' + 'x'.repeat(200); // 16-bit length form, non-ASCII
    assert.equal(wss.broadcast(text), 3);
    assert.equal(wss.broadcast(Buffer.from([1, 2, 3])), 3);
    assert.equal(wss.broadcast(new Uint8Array(70_000).fill(7).buffer), 3); // 64-bit length form, an ArrayBuffer
    assert.equal(wss.broadcast(Buffer.from('as text'), { binary: false }), 3);
    for (const client of clients) {
      const a = await client.readFrame();
      assert.deepEqual([a.fin, a.rsv1, a.opcode, a.masked, a.payload.toString('utf8')], [true, false, OP.TEXT, false, text]);
      const b = await client.readFrame();
      assert.deepEqual([b.opcode, [...b.payload]], [OP.BINARY, [1, 2, 3]]);
      const c = await client.readFrame();
      assert.deepEqual([c.opcode, c.payload.length, c.payload.every((x) => x === 7)], [OP.BINARY, 70_000, true]);
      const d = await client.readFrame();
      assert.deepEqual([d.opcode, d.payload.toString()], [OP.TEXT, 'as text']);
    }
  });

  test('skips `except` and clients the filter rejects, and counts the rest', T, async () => {
    const { wss, url, connections } = await server();
    const a = await wsClient(url);
    const b = await wsClient(url);
    const c = await wsClient(url);
    await within(waitFor(() => connections.length === 3), 2000, 'three connections');
    const [sa, sb] = connections;
    assert.equal(wss.broadcast('to b and c', { except: sa }), 2);
    assert.equal(wss.broadcast('to a and c', { filter: (ws) => ws !== sb }), 2);
    await within(waitFor(() => a.messages.length + b.messages.length + c.messages.length === 4), 2000, 'four messages');
    assert.deepEqual(a.messages.map((m) => m.data.toString()), ['to a and c']);
    assert.deepEqual(b.messages.map((m) => m.data.toString()), ['to b and c']);
    assert.deepEqual(c.messages.map((m) => m.data.toString()), ['to b and c', 'to a and c']);
  });

  test('keeps order with sends before and after it in the same tick', T, async () => {
    const { wss, url, connections } = await server();
    const a = await wsClient(url);
    await within(waitFor(() => connections.length === 1), 2000, 'the connection');
    const ws = connections[0]!;
    const prepared = new PreparedMessage('2');
    ws.send('1');
    ws.send(prepared);
    ws.send(Buffer.from('3'), { binary: false });
    wss.broadcast(prepared);
    ws.send('x'.repeat(5000)); // a large frame written on its own
    wss.broadcast('6');
    await within(waitFor(() => a.messages.length === 6), 2000, 'six messages');
    assert.deepEqual(a.messages.map((m) => m.data.toString().slice(0, 1)), ['1', '2', '3', '2', 'x', '6']);
  });

  test('skips clients that are closing, and returns 0 with no clients', T, async () => {
    const { wss, url, connections } = await server();
    assert.equal(wss.broadcast('nobody'), 0);
    await wsClient(url);
    const b = await wsClient(url);
    await within(waitFor(() => connections.length === 2), 2000, 'two connections');
    connections[0]!.close(1000);
    assert.equal(wss.broadcast('one left'), 1);
    await within(waitFor(() => b.messages.length === 1), 2000, 'the message');
  });

  test('refuses to run without clientTracking rather than send to nobody', T, async () => {
    const { wss } = await server({ clientTracking: false });
    assert.throws(() => wss.broadcast('x'), { code: 'VOLLEY_ERR_INVALID_STATE' });
  });

  test('rejects what send rejects, before writing to anyone', T, async () => {
    const { wss, url, connections } = await server();
    const a = await wsClient(url);
    await within(waitFor(() => connections.length === 1), 2000, 'the connection');
    assert.throws(() => wss.broadcast(42 as unknown as string), TypeError);
    assert.throws(() => wss.broadcast({} as unknown as string), TypeError);
    wss.broadcast('after');
    await within(waitFor(() => a.messages.length === 1), 2000, 'the message');
    assert.equal(a.messages[0]!.data.toString(), 'after');
  });
});

describe('send(PreparedMessage) falls back to send where a socket needs its own encoding', () => {
  test('compresses per client at or above the threshold, and sends smaller messages uncompressed', T, async () => {
    const { wss, url, connections } = await server({ perMessageDeflate: { threshold: 100 } });
    const deflating = await wsClient(url, { perMessageDeflate: true });
    const plain = await wsClient(url, { perMessageDeflate: false });
    await within(waitFor(() => connections.length === 2), 2000, 'two connections');
    const big = 'abc'.repeat(1000);
    assert.equal(wss.broadcast(big), 2);
    assert.equal(wss.broadcast('small'), 2);
    await within(waitFor(() => deflating.messages.length === 2 && plain.messages.length === 2), 5000, 'four messages');
    for (const c of [deflating, plain]) assert.deepEqual(c.messages.map((m) => m.data.toString()), [big, 'small']);
    // The compressed one really was compressed: the deflating client read far fewer bytes.
    const read = (c: { client: WsClient }) => (c.client as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
    assert.ok(read(deflating) < read(plain) - 2000, `${read(deflating)} vs ${read(plain)}`);
  });

  test('splits into frames of maxFrameSize', T, async () => {
    const { wss, port, connections } = await server({ perMessageDeflate: false, maxFrameSize: 4 });
    const [client] = await rawClients(port, wss, connections, 1);
    wss.broadcast('abcdefghij');
    const frames = [await client!.readFrame(), await client!.readFrame(), await client!.readFrame()];
    assert.deepEqual(frames.map((f) => [f.opcode, f.fin, f.payload.toString()]), [[OP.TEXT, false, 'abcd'], [OP.CONT, false, 'efgh'], [OP.CONT, true, 'ij']]);
  });

  test('continues a fragmented message in progress, as send does', T, async () => {
    const { wss, port, connections } = await server({ perMessageDeflate: false });
    const [client] = await rawClients(port, wss, connections, 1);
    connections[0]!.send('part 1, ', { fin: false });
    wss.broadcast('part 2');
    const frames = [await client!.readFrame(), await client!.readFrame()];
    assert.deepEqual(frames.map((f) => [f.opcode, f.fin, f.payload.toString()]), [[OP.TEXT, false, 'part 1, '], [OP.CONT, true, 'part 2']]);
  });

  test('a client masks it like any other message', T, async () => {
    const { url, connections } = await server();
    const received: string[] = [];
    const client = new WebSocket(url);
    cleanup.add(() => client.terminate());
    await nextEvent(client, 'open', 5000);
    await within(waitFor(() => connections.length === 1), 2000, 'the connection');
    connections[0]!.on('message', (data: Buffer) => received.push(data.toString()));
    const prepared = new PreparedMessage('from a client');
    assert.equal(client.send(prepared), SendStatus.OK);
    assert.equal(client.send(prepared), SendStatus.OK);
    await within(waitFor(() => received.length === 2), 2000, 'two messages');
    assert.deepEqual(received, ['from a client', 'from a client']);
    // The shared bytes were not masked in place.
    assert.equal(prepared.payload.toString(), 'from a client');
  });
});

describe('limits', () => {
  test("a stalled client past maxBufferedAmount is dropped under the 'drop' policy and the others still get it", T, async () => {
    const { wss, port, connections } = await server({ perMessageDeflate: false, maxBufferedAmount: 256 * 1024, backpressurePolicy: 'drop' });
    const [stalled, healthy] = await rawClients(port, wss, connections, 2);
    stalled!.pause();
    const chunk = new PreparedMessage(Buffer.alloc(64 * 1024, 1));
    let statuses: number[] = [];
    const stalledWs = connections[0]!;
    for (let i = 0; i < 200 && !statuses.includes(SendStatus.DROPPED); i++) {
      statuses = [stalledWs.send(chunk)];
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(statuses.includes(SendStatus.DROPPED), 'the stalled socket reports DROPPED once over the limit');
    assert.equal(wss.broadcast(Buffer.alloc(64 * 1024, 2)), 1, 'only the healthy client takes it');
    let frame;
    do frame = await healthy!.readFrame();
    while (frame.payload[0] !== 2);
    assert.equal(frame.payload.length, 64 * 1024);
    assert.equal(stalledWs.readyState, WebSocket.OPEN);
  });

  test('a frame queued behind a slow peer arrives intact after the peer resumes', T, async () => {
    const { wss, port, connections } = await server({ perMessageDeflate: false, maxBufferedAmount: 64 * 1024 * 1024 });
    const [client] = await rawClients(port, wss, connections, 1);
    client!.pause();
    const ws = connections[0]!;
    const filler = Buffer.alloc(256 * 1024, 0x61);
    for (let i = 0; i < 20 && ws.writableLength === 0; i++) {
      ws.send(filler);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(ws.writableLength > 0, 'the socket is backed up');
    const sent = wss.broadcast('after the filler');
    assert.equal(sent, 1);
    client!.resume();
    let last;
    do last = await client!.readFrame(5000);
    while (last.payload.length !== 16);
    assert.equal(last.payload.toString(), 'after the filler');
  });
});
