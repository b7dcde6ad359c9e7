/**
 * When output is written. Replies to a read go out together as soon as the read has been parsed (one socket
 * write per read, no tick in between); output produced later (timers, promises, other sockets' handlers) goes
 * out with the per-tick flush; order is kept across both.
 */

import assert from 'node:assert/strict';
import { after, afterEach, test } from 'node:test';

import { OP, closeFrame, text } from '../test-support/frames.js';
import { guardProcess } from '../test-support/process-guard.js';
import { RawClient } from '../test-support/raw-client.js';
import { Cleanup, nextEvent, startServer, stopServer } from '../test-support/util.js';
import type { WebSocket } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const T = { timeout: 20_000 };

/** A raw client and its server-side socket, with the server socket's reads and writes counted. */
async function counted() {
  const { wss, port } = await startServer({ perMessageDeflate: false });
  cleanup.add(() => stopServer(wss, { force: true }));
  const accepted = nextEvent<[WebSocket]>(wss, 'connection', 5000);
  const { client } = await RawClient.open(port);
  cleanup.add(() => client.destroy());
  const [ws] = await accepted;
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  // This listener runs after the socket's own one: it sees what that one wrote for the read.
  const counts = { reads: 0, writes: 0, writtenByRead: [] as number[] };
  socket.on('data', () => {
    counts.reads++;
    counts.writtenByRead.push(counts.writes);
  });
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  (socket as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
    counts.writes++;
    return write(...args);
  };
  return { ws, client, counts };
}

test('the replies to one read leave in one write, as soon as the read is parsed', T, async () => {
  const { ws, client, counts } = await counted();
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  let writesWhenParsed = -1;
  ws.on('ping', () => {
    // The ping is the read's last frame: the echoes are still batched, not yet written.
    writesWhenParsed = counts.writes;
  });
  client.write(Buffer.concat([...Array.from({ length: 16 }, (_, i) => text(`m${i}`)), Buffer.from([0x89, 0x80, 1, 2, 3, 4])]));
  const frames = [];
  for (let i = 0; i < 17; i++) frames.push(await client.readFrame());
  assert.deepEqual(frames.slice(0, 16).map((f) => f.payload.toString()), Array.from({ length: 16 }, (_, i) => `m${i}`));
  assert.equal(frames[16]!.opcode, OP.PONG);
  assert.equal(writesWhenParsed, 0, 'nothing was written while the read was being parsed');
  assert.equal(counts.writtenByRead[0], 1, 'the first read had its replies written when its handler returned, not a tick later');
  // Loopback usually delivers the 17 frames in one read; whatever the split, never more writes than reads.
  assert.ok(counts.writes >= 1 && counts.writes <= counts.reads, `${counts.writes} writes for ${counts.reads} reads`);
});

test('output from later callbacks still goes out, after what the read produced', T, async () => {
  const { ws, client } = await counted();
  ws.on('message', (data: Buffer) => {
    const n = data.toString();
    void Promise.resolve().then(() => ws.send(`${n}: from a promise`));
    setTimeout(() => ws.send(`${n}: from a timer`), 5);
    ws.send(`${n}: at once`);
  });
  client.write(text('a'));
  const got = [];
  for (let i = 0; i < 3; i++) got.push((await client.readFrame()).payload.toString());
  assert.deepEqual(got, ['a: at once', 'a: from a promise', 'a: from a timer']);
});

test('a close started in a listener follows the replies written before it in that read', T, async () => {
  const { ws, client } = await counted();
  ws.on('message', (data: Buffer) => {
    ws.send(data.toString());
    if (data.toString() === 'last') ws.close(1000, 'bye');
  });
  client.write(Buffer.concat([text('first'), text('last'), text('after the close')]));
  const first = await client.readFrame();
  const last = await client.readFrame();
  const close = await client.readFrame();
  assert.deepEqual([first.payload.toString(), last.payload.toString()], ['first', 'last']);
  assert.equal(close.opcode, OP.CLOSE);
  assert.equal(close.closeCode, 1000);
  client.write(closeFrame(1000));
  await client.waitClosed(5000);
});

test('a read whose replies were written queues no flush pass for a later tick', T, async () => {
  const { ws, client } = await counted();
  ws.on('message', (data: Buffer) => ws.send(data.toString()));
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  // Watches process.nextTick from before the socket's own 'data' handler to after it. Node's stream internals
  // schedule their own callbacks; Volley's flush pass is `flushAll`.
  const scheduled: string[] = [];
  const nextTick = process.nextTick;
  socket.prependListener('data', () => {
    process.nextTick = ((fn: (...args: unknown[]) => void, ...args: unknown[]) => {
      scheduled.push(fn.name);
      nextTick(fn, ...args);
    }) as typeof process.nextTick;
  });
  socket.on('data', () => {
    process.nextTick = nextTick;
  });
  cleanup.add(() => {
    process.nextTick = nextTick;
  });
  client.write(text('ping me'));
  assert.equal((await client.readFrame()).payload.toString(), 'ping me');
  assert.ok(!scheduled.includes('flushAll'), `the read scheduled ${scheduled.join(', ')}`);
});
