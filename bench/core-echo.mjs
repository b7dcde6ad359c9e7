#!/usr/bin/env node
// In-process echo microbenchmark of Volley's WebSocket layer: no kernel, no second process, so it isolates the
// JavaScript cost per message (parse, unmask, validate, deliver, frame, batch) that `npm run bench:compare` sees
// mixed with syscalls. Fake sockets take the server side of `_attach`; each round feeds every socket one read
// of D masked client frames and lets the echo listener answer; the copy of the frames into the read buffer is
// timed on its own and left out.
//
//   node bench/core-echo.mjs [--dist DIR] [--size BYTES] [--depth D] [--binary] [--sockets N] [--rounds R]
//                            [--read BYTES]
//
// --read cuts each socket's input into reads of at most BYTES, as a kernel does (Node reads up to 64 KiB at a
// time): a frame larger than that then arrives over several reads, as it does from a real socket.
//
// Compare two builds by alternating them (one process per run), e.g. a snapshot of dist/ from before a change
// and the current dist/: the machine is shared and noisy, so run each several times. Prints ns per message.
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    dist: { type: 'string', default: fileURLToPath(new URL('../dist', import.meta.url)) },
    size: { type: 'string', default: '16' },
    depth: { type: 'string', default: '16' },
    binary: { type: 'boolean', default: false },
    sockets: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '2000' },
    read: { type: 'string', default: '0' },
  },
});
const size = Number(opts.size);
const depth = Number(opts.depth);
const sockets = Number(opts.sockets);
const rounds = Number(opts.rounds);
const readSize = Number(opts.read);
const { WebSocket } = await import(pathToFileURL(resolve(opts.dist, 'socket/websocket.js')).href);

let written = 0;
/** Just enough of a net.Socket for a server-side WebSocket: writes are counted, never sent. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  writableLength = 0;
  readableFlowing = null;
  allowHalfOpen = true;
  setNoDelay() {}
  setTimeout() {}
  resume() {
    this.readableFlowing = true;
  }
  pause() {}
  cork() {}
  uncork() {}
  write(bytes) {
    written += bytes.length;
    return true;
  }
  destroy() {
    this.destroyed = true;
  }
}

const peers = [];
for (let i = 0; i < sockets; i++) {
  const socket = new FakeSocket();
  const ws = new WebSocket();
  ws._attach(socket, null, { protocol: '', extensions: '', role: 'server', heartbeat: null, perMessageDeflate: false });
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  peers.push(socket);
}

// One read: `depth` masked frames of `size` bytes of lowercase ASCII.
const headerSize = size < 126 ? 2 : size < 65536 ? 4 : 10;
const frameSize = headerSize + 4 + size;
const template = Buffer.alloc(frameSize * depth);
const key = [0x12, 0x34, 0x56, 0x78];
for (let f = 0; f < depth; f++) {
  let at = f * frameSize;
  template[at] = opts.binary ? 0x82 : 0x81;
  if (size < 126) template[at + 1] = 0x80 | size;
  else if (size < 65536) {
    template[at + 1] = 0x80 | 126;
    template.writeUInt16BE(size, at + 2);
  } else {
    template[at + 1] = 0x80 | 127;
    template.writeBigUInt64BE(BigInt(size), at + 2);
  }
  at += headerSize;
  for (let k = 0; k < 4; k++) template[at + k] = key[k];
  at += 4;
  for (let i = 0; i < size; i++) template[at + i] = (97 + (i % 26)) ^ key[i & 3];
}
// receive() unmasks in place: each socket gets its own read buffer, refilled from the template every round.
const reads = peers.map(() => Buffer.allocUnsafe(template.length));
const feed = () => {
  for (let i = 0; i < sockets; i++) {
    template.copy(reads[i]);
    if (readSize <= 0 || readSize >= template.length) peers[i].emit('data', reads[i]);
    else for (let at = 0; at < template.length; at += readSize) peers[i].emit('data', reads[i].subarray(at, at + readSize));
  }
};
const copyOnly = () => {
  for (let i = 0; i < sockets; i++) template.copy(reads[i]);
};
const tick = () => new Promise((done) => setImmediate(done));

async function run(count) {
  for (let i = 0; i < count; i++) {
    feed();
    if (i % 4 === 3) await tick();
  }
  await tick();
}

await run(Math.max(200, rounds / 2)); // warm-up
const before = written;
await run(1);
const expected = (headerSize + size) * depth * sockets;
if (written - before !== expected) throw new Error(`the server wrote ${written - before} bytes for one round, expected ${expected}`);

const messages = rounds * sockets * depth;
for (let rep = 0; rep < 3; rep++) {
  let start = process.hrtime.bigint();
  await run(rounds);
  const total = Number(process.hrtime.bigint() - start) / messages;
  start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) copyOnly();
  const copy = Number(process.hrtime.bigint() - start) / messages;
  console.log(`${opts.binary ? 'binary' : 'text'} ${size} B, D=${depth}, ${sockets} sockets${readSize > 0 ? `, reads of ${readSize} B` : ''}: ${(total - copy).toFixed(0)} ns/msg (read-buffer copy, ${copy.toFixed(0)} ns/msg, left out)`);
}
