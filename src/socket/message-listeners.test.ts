/**
 * 'message' listeners: a single listener is called directly (no `emit`), which must not change what listeners
 * see: `this`, the arguments, `once`, several listeners, the WHATWG `onmessage` beside them, and async listeners
 * whose rejections become 'error' events when `captureRejections` is on.
 */

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, afterEach, test } from 'node:test';
import WsClient from 'ws';

import { guardProcess } from '../test-support/process-guard.js';
import { Cleanup, nextEvent, startServer, stopServer, within } from '../test-support/util.js';
import type { MessageEvent, WebSocket } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const T = { timeout: 20_000 };

/** A server socket and a `ws` client connected to it. */
async function pair(): Promise<{ ws: WebSocket; client: WsClient }> {
  const { wss, url } = await startServer();
  cleanup.add(() => stopServer(wss, { force: true }));
  const accepted = nextEvent<[WebSocket]>(wss, 'connection', 5000);
  const client = new WsClient(url);
  cleanup.add(() => client.terminate());
  await nextEvent(client, 'open', 5000);
  const [ws] = await accepted;
  return { ws, client };
}

test('a single listener gets the socket as `this`, a Buffer and isBinary', T, async () => {
  const { ws, client } = await pair();
  const seen = within(new Promise<[unknown, Buffer, boolean]>((resolve) => {
    ws.on('message', function (this: unknown, data: Buffer, isBinary: boolean) {
      resolve([this, data, isBinary]);
    });
  }), 2000, 'the message');
  client.send(Buffer.from([1, 2]));
  const [self, data, isBinary] = await seen;
  assert.equal(self, ws);
  assert.ok(Buffer.isBuffer(data));
  assert.deepEqual([...data], [1, 2]);
  assert.equal(isBinary, true);
});

test('once() fires for the first message only; two listeners both fire; onmessage alongside', T, async () => {
  const { ws, client } = await pair();
  const once: string[] = [];
  const all: string[] = [];
  const whatwg: string[] = [];
  ws.once('message', (data: Buffer) => once.push(data.toString()));
  client.send('a');
  await within(new Promise((resolve) => setTimeout(resolve, 50)), 2000, 'a pause');
  ws.on('message', (data: Buffer) => all.push(data.toString()));
  ws.on('message', (data: Buffer) => all.push(data.toString().toUpperCase()));
  ws.onmessage = (event: MessageEvent) => whatwg.push(String(event.data));
  client.send('b');
  client.send('c');
  await within((async () => {
    while (whatwg.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  })(), 2000, 'two WHATWG messages');
  assert.deepEqual(once, ['a']);
  assert.deepEqual(all, ['b', 'B', 'c', 'C']);
  assert.deepEqual(whatwg, ['b', 'c']);
});

test("with captureRejections, an async listener's rejection becomes an 'error' event", T, async () => {
  const saved = EventEmitter.captureRejections;
  EventEmitter.captureRejections = true;
  try {
    const { ws, client } = await pair();
    ws.on('message', async () => {
      throw new Error('listener failed');
    });
    const error = nextEvent<[Error]>(ws, 'error', 2000);
    client.send('x');
    const [err] = await error;
    assert.equal(err.message, 'listener failed');
  } finally {
    EventEmitter.captureRejections = saved;
  }
});
