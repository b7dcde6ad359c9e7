import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { WebSocket } from '../socket/index.js';
import { startEcho, type EchoServer } from './echo.js';

const servers: EchoServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function echoServer(options: Parameters<typeof startEcho>[0] = {}): Promise<EchoServer> {
  const server = await startEcho({ port: 0, ...options });
  servers.push(server);
  return server;
}

/** Opens a client, sends `messages` and resolves with what came back, in order. */
async function roundTrip(url: string, messages: (string | Buffer)[], options: ConstructorParameters<typeof WebSocket>[2] = {}) {
  const ws = new WebSocket(url, options);
  const received: { data: Buffer; isBinary: boolean }[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => received.push({ data, isBinary }));
  await once(ws, 'open');
  for (const message of messages) ws.send(message);
  const closedEarly = once(ws, 'close').then(([code]) => {
    throw new Error(`closed with ${String(code)} after ${received.length} of ${messages.length} echoes`);
  });
  while (received.length < messages.length) await Promise.race([once(ws, 'message'), closedEarly]);
  closedEarly.catch(() => {});
  const extensions = ws.extensions;
  ws.close();
  await once(ws, 'close');
  return { received, extensions };
}

test('startEcho echoes text as text and binary as binary, byte for byte', { timeout: 10_000 }, async () => {
  const echo = await echoServer();
  const { received } = await roundTrip(echo.url, ['héllo 👋', Buffer.from([0xff, 0x00, 0x80]), '']);
  assert.deepEqual(
    received.map(({ data, isBinary }) => [isBinary, data.toString('hex')]),
    [
      [false, Buffer.from('héllo 👋').toString('hex')],
      [true, 'ff0080'],
      [false, ''],
    ],
  );
});

test('startEcho reports the bound port in its url when given port 0', { timeout: 10_000 }, async () => {
  const echo = await echoServer();
  assert.ok(echo.port > 0);
  assert.equal(echo.url, `ws://127.0.0.1:${echo.port}`);
});

test('startEcho accepts permessage-deflate by default and refuses it with perMessageDeflate: false', { timeout: 10_000 }, async () => {
  const withDeflate = await echoServer();
  assert.match((await roundTrip(withDeflate.url, ['x'.repeat(1000)])).extensions, /^permessage-deflate/);
  const without = await echoServer({ perMessageDeflate: false });
  assert.equal((await roundTrip(without.url, ['x'])).extensions, '');
});

test('startEcho echoes a 20 MiB message, above the 16 MiB of Autobahn section 9', { timeout: 20_000 }, async () => {
  const echo = await echoServer({ perMessageDeflate: false });
  const big = Buffer.alloc(20 * 1024 * 1024, 7);
  const { received } = await roundTrip(echo.url, [big], {
    perMessageDeflate: false,
    maxMessageSize: 32 * 1024 * 1024,
    maxBufferedAmount: 32 * 1024 * 1024,
  });
  assert.equal(received[0]!.data.length, big.length);
  assert.ok(received[0]!.data.equals(big));
});

test('startEcho closes a message bigger than maxMessageSize with 1009', { timeout: 10_000 }, async () => {
  const echo = await echoServer({ maxMessageSize: 1024 });
  const ws = new WebSocket(echo.url);
  await once(ws, 'open');
  ws.send(Buffer.alloc(2048));
  const [code] = (await once(ws, 'close')) as [number];
  assert.equal(code, 1009);
});

test('close() sends 1001 to every client and resolves once they are gone', { timeout: 10_000 }, async () => {
  const echo = await startEcho({ port: 0 });
  const clients = [new WebSocket(echo.url), new WebSocket(echo.url)];
  await Promise.all(clients.map((ws) => once(ws, 'open')));
  const codes = Promise.all(clients.map((ws) => once(ws, 'close').then(([code]) => code as number)));
  await echo.close();
  assert.deepEqual(await codes, [1001, 1001]);
});

test('startEcho rejects with a readable message when the port is taken', { timeout: 10_000 }, async () => {
  const first = await echoServer();
  await assert.rejects(startEcho({ port: first.port }), { message: `port ${first.port} on 127.0.0.1 is already in use` });
});
