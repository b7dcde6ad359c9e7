/**
 * Interoperability with WebSocket implementations nobody here wrote: our server with the `ws` client and with
 * Node's built-in WebSocket (undici), our client with a `ws` server, and `wss://` end to end. Each pairing
 * moves text and binary from 0 B to 16 MiB with and without permessage-deflate, pings both ways, and goes
 * through every close path. G0 is checked at the end.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import WsClient, { WebSocketServer as WsServer, type ServerOptions } from 'ws';

import { selfSignedCertificate } from '../test-support/certs.js';
import { guardProcess } from '../test-support/process-guard.js';
import { Cleanup, echo, nextEvent, sha256, startServer, stopServer, textOfBytes, trackClose, within } from '../test-support/util.js';
import { WebSocket, WebSocketServer, type WebSocketServerOptions } from './index.js';

const guard = guardProcess();
after(() => guard.assertClean());
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const T = { timeout: 20_000 };
const MiB = 1024 * 1024;
const SIZES = [0, 125, 126, 65535, 65536, MiB];

/** Payloads of `size` bytes: valid UTF-8 text, and random (incompressible) binary. */
function payloads(size: number): { text: string; binary: Buffer } {
  return { text: textOfBytes(size), binary: randomBytes(size) };
}

async function ourServer(options: Omit<WebSocketServerOptions, 'port'> = {}) {
  const started = await startServer(options);
  cleanup.add(() => stopServer(started.wss));
  return started;
}

/** The first server-side socket of `wss`, once it exists. */
async function firstClient(wss: WebSocketServer): Promise<WebSocket> {
  if (wss.clients.size === 0) await nextEvent(wss, 'connection');
  return [...wss.clients][0]!;
}

async function openWsClient(url: string, options: WsClient.ClientOptions = {}): Promise<WsClient> {
  const client = new WsClient(url, options);
  cleanup.add(() => client.terminate());
  await within(
    new Promise((resolve, reject) => {
      client.once('open', resolve);
      client.once('error', reject);
    }),
    5000,
    'the ws client to open',
  );
  return client;
}

async function wsServer(options: Omit<ServerOptions, 'port'> = {}): Promise<{ server: WsServer; url: string }> {
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
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function openOurClient(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<WebSocket> {
  const client = new WebSocket(url, options);
  cleanup.add(() => client.terminate());
  await nextEvent(client, 'open', 5000);
  return client;
}

/** Sends `data` from `from` and returns what `to` received (both emit `message(data, isBinary)`). */
async function carry(
  from: { send(data: string | Buffer, options?: { binary?: boolean }): unknown },
  to: WebSocket | WsClient,
  data: string | Buffer,
): Promise<{ data: Buffer; isBinary: boolean }> {
  const received = nextEvent<[Buffer, boolean]>(to as WsClient, 'message', 10_000);
  from.send(data);
  const [bytes, isBinary] = await received;
  return { data: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes), isBinary };
}

/** Checks that every size arrives intact as text and as binary, from `a` to `b` and back (an echo). */
async function echoMatrix(send: (data: string | Buffer) => void, receiver: WebSocket | WsClient, sizes = SIZES): Promise<void> {
  for (const size of sizes) {
    const { text, binary } = payloads(size);
    for (const [kind, data] of [['text', text], ['binary', binary]] as const) {
      const received = nextEvent<[Buffer, boolean]>(receiver as WsClient, 'message', 10_000);
      send(data);
      const [bytes, isBinary] = await received;
      assert.equal(isBinary, kind === 'binary', `${kind} ${size} B arrives as ${kind}`);
      assert.equal(bytes.length, size, `${kind} ${size} B length`);
      assert.equal(sha256(bytes), sha256(data), `${kind} ${size} B content`);
    }
  }
}

describe('our WebSocketServer with the ws client', () => {
  for (const deflate of [false, true]) {
    test(`echoes text and binary of ${SIZES.join(', ')} bytes with permessage-deflate ${deflate ? 'on' : 'off'} on both sides`, T, async () => {
      const { wss, url } = await ourServer({ perMessageDeflate: deflate });
      echo(wss);
      const client = await openWsClient(url, { perMessageDeflate: deflate });
      const server = await firstClient(wss);
      if (deflate) {
        assert.match(server.extensions, /^permessage-deflate/);
        assert.match(client.extensions, /^permessage-deflate/);
      } else {
        assert.deepEqual([server.extensions, client.extensions], ['', '']);
      }
      await echoMatrix((data) => client.send(data), client);
    });
  }

  test('moves one 16 MiB message each way', T, async () => {
    // No echo here: two 16 MiB sends queued in one tick would exceed the default maxBufferedAmount (16 MiB).
    const { wss, url } = await ourServer();
    const client = await openWsClient(url, { perMessageDeflate: false });
    const server = await firstClient(wss);
    const big = randomBytes(16 * MiB);
    const up = await carry(client, server, big);
    assert.equal(sha256(up.data), sha256(big), 'client → server');
    const down = await carry(server, client, up.data);
    assert.equal(sha256(down.data), sha256(big), 'server → client');
  });

  test('pings from either side are answered with a pong carrying the same payload', T, async () => {
    const { wss, url } = await ourServer();
    const client = await openWsClient(url);
    const server = await firstClient(wss);
    const fromServer = nextEvent<[Buffer]>(server, 'pong');
    server.ping('from server');
    assert.equal((await fromServer)[0].toString(), 'from server');
    const fromClient = nextEvent<[Buffer]>(client, 'pong');
    client.ping('from client');
    assert.equal((await fromClient)[0].toString(), 'from client');
  });

  describe('close paths', () => {
    async function pair() {
      const { wss, url } = await ourServer();
      const client = await openWsClient(url);
      const server = await firstClient(wss);
      const serverClosed = nextEvent<[number, string, boolean]>(server, 'close', 5000);
      const clientClosed = nextEvent<[number, Buffer]>(client, 'close', 5000).then(([code, reason]) => [code, reason.toString()] as const);
      return { wss, client, server, serverClosed, clientClosed };
    }

    test('a client close with code and reason reaches the server, which echoes the code', T, async () => {
      const { client, serverClosed, clientClosed } = await pair();
      client.close(4000, 'client bye');
      assert.deepEqual(await serverClosed, [4000, 'client bye', true]);
      // RFC 6455 §5.5.1: the answer typically echoes the status code; Volley does not echo the reason.
      assert.equal((await clientClosed)[0], 4000);
    });

    test('a server close with code and reason reaches the client', T, async () => {
      const { server, serverClosed, clientClosed } = await pair();
      server.close(4001, 'server bye');
      assert.deepEqual(await clientClosed, [4001, 'server bye']);
      assert.deepEqual(await serverClosed, [4001, 'server bye', true]);
    });

    test('server.close() sends 1001', T, async () => {
      const { wss, clientClosed } = await pair();
      wss.close();
      assert.equal((await clientClosed)[0], 1001);
    });

    test('terminate() on the server is 1006 on the client', T, async () => {
      const { server, clientClosed } = await pair();
      server.terminate();
      assert.equal((await clientClosed)[0], 1006);
    });

    test('terminate() on the client is 1006 on the server', T, async () => {
      const { client, serverClosed } = await pair();
      client.terminate();
      assert.deepEqual(await serverClosed, [1006, '', false]);
    });

    test('a client close without a code is 1005 on the server', T, async () => {
      const { client, serverClosed, clientClosed } = await pair();
      client.close();
      assert.deepEqual(await serverClosed, [1005, '', true]);
      assert.equal((await clientClosed)[0], 1005);
    });

    test('a server close without a code is 1005 on the client', T, async () => {
      const { server, serverClosed, clientClosed } = await pair();
      server.close();
      assert.equal((await clientClosed)[0], 1005);
      assert.equal((await serverClosed)[0], 1005);
    });
  });
});

describe('our client with a ws WebSocketServer', () => {
  async function connect(deflate: boolean) {
    const { server, url } = await wsServer({ perMessageDeflate: deflate });
    const peer = new Promise<WsClient>((resolve) => server.once('connection', resolve));
    const client = await openOurClient(url, { perMessageDeflate: deflate });
    return { server, client, peer: await within(peer, 2000, 'the ws connection') };
  }

  for (const deflate of [false, true]) {
    test(`echoes text and binary of ${SIZES.join(', ')} bytes with permessage-deflate ${deflate ? 'on' : 'off'} on both sides`, T, async () => {
      const { client, peer } = await connect(deflate);
      peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary }));
      if (deflate) assert.match(client.extensions, /^permessage-deflate/);
      else assert.equal(client.extensions, '');
      await echoMatrix((data) => client.send(data), client);
    });
  }

  test('moves one 16 MiB message each way', T, async () => {
    const { client, peer } = await connect(false);
    const big = randomBytes(16 * MiB);
    const up = await carry(client, peer, big);
    assert.equal(sha256(up.data), sha256(big), 'client → server');
    const down = await carry(peer, client, up.data);
    assert.equal(sha256(down.data), sha256(big), 'server → client');
  });

  test('pings from either side are answered with a pong carrying the same payload', T, async () => {
    const { client, peer } = await connect(false);
    const fromClient = nextEvent<[Buffer]>(client, 'pong');
    client.ping('from client');
    assert.equal((await fromClient)[0].toString(), 'from client');
    const fromServer = nextEvent<[Buffer]>(peer, 'pong');
    peer.ping('from server');
    assert.equal((await fromServer)[0].toString(), 'from server');
  });

  describe('close paths', () => {
    async function pair() {
      const { server, client, peer } = await connect(false);
      const clientClosed = nextEvent<[number, string, boolean]>(client, 'close', 5000);
      const peerClosed = nextEvent<[number, Buffer]>(peer, 'close', 5000).then(([code, reason]) => [code, reason.toString()] as const);
      return { server, client, peer, clientClosed, peerClosed };
    }

    test('a client close with code and reason reaches the server, which echoes it', T, async () => {
      const { client, clientClosed, peerClosed } = await pair();
      client.close(4000, 'client bye');
      assert.deepEqual(await peerClosed, [4000, 'client bye']);
      assert.deepEqual(await clientClosed, [4000, 'client bye', true]);
    });

    test('a server close with code and reason reaches the client', T, async () => {
      const { peer, clientClosed, peerClosed } = await pair();
      peer.close(4001, 'server bye');
      assert.deepEqual(await clientClosed, [4001, 'server bye', true]);
      assert.equal((await peerClosed)[0], 4001);
    });

    test('a server going away (1001) reaches the client', T, async () => {
      const { peer, clientClosed } = await pair();
      peer.close(1001, 'shutting down');
      assert.deepEqual(await clientClosed, [1001, 'shutting down', true]);
    });

    test('terminate() on the server is 1006 on the client', T, async () => {
      const { peer, clientClosed } = await pair();
      peer.terminate();
      assert.deepEqual(await clientClosed, [1006, '', false]);
    });

    test('terminate() on the client is 1006 on the server', T, async () => {
      const { client, peerClosed } = await pair();
      client.terminate();
      assert.equal((await peerClosed)[0], 1006);
    });

    test('a client close without a code is 1005 on the server', T, async () => {
      const { client, clientClosed, peerClosed } = await pair();
      client.close();
      assert.equal((await peerClosed)[0], 1005);
      assert.equal((await clientClosed)[0], 1005);
    });

    test('a server close without a code is 1005 on the client', T, async () => {
      const { peer, clientClosed } = await pair();
      peer.close();
      assert.deepEqual(await clientClosed, [1005, '', true]);
    });
  });
});

/**
 * The child's script: our server (compiled, imported by URL) against Node's global WebSocket, which Node 20
 * exposes only with --experimental-websocket. It prints one JSON line of named results.
 */
const UNDICI_SCRIPT = String.raw`
import { createHash, randomBytes } from 'node:crypto';
const { WebSocketServer } = await import(process.argv[2]);
const results = {};
const failures = [];
process.on('uncaughtException', (error) => failures.push(String(error)));
process.on('unhandledRejection', (error) => failures.push(String(error)));
const sha = (data) => createHash('sha256').update(data).digest('hex');
const within = (promise, ms, what) => Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout: ' + what)), ms).unref())]);
const text = (n) => { let s = 'Volley é€ '.repeat(Math.ceil(n / 14) + 1); while (Buffer.byteLength(s) > n) s = s.slice(0, -1); return s + 'x'.repeat(n - Buffer.byteLength(s)); };

async function server(options) {
  const wss = await new Promise((resolve) => { const s = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeat: false, ...options }, () => resolve(s)); });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return { wss, url: 'ws://127.0.0.1:' + wss.address().port };
}
async function open(url) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  await within(new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('error event')); }), 5000, 'open');
  return ws;
}
function next(ws, what) {
  return within(new Promise((resolve) => { ws.onmessage = (event) => resolve(event.data); }), 10000, what);
}
function closed(ws) {
  return within(new Promise((resolve) => { ws.onclose = (event) => resolve([event.code, event.reason, event.wasClean]); }), 5000, 'close');
}
function serverClosed(wss) {
  return within(new Promise((resolve) => wss.once('connection', (ws) => ws.once('close', (code, reason, clean) => resolve([code, reason, clean])))), 5000, 'server close');
}
async function run(name, body) {
  try { results[name] = { ok: true, value: await body() }; } catch (error) { results[name] = { ok: false, error: String(error && error.stack || error) }; }
}

for (const deflate of [false, true]) {
  await run('echo, deflate ' + (deflate ? 'on' : 'off'), async () => {
    const { wss, url } = await server({ perMessageDeflate: deflate });
    const ws = await open(url);
    const bad = [];
    for (const size of [0, 125, 126, 65535, 65536, 1 << 20]) {
      const t = text(size);
      const gotText = next(ws, 'text ' + size); ws.send(t);
      const echoedText = await gotText;
      if (echoedText !== t) bad.push('text ' + size);
      const b = randomBytes(size);
      const gotBinary = next(ws, 'binary ' + size); ws.send(b);
      const echoedBinary = Buffer.from(await gotBinary);
      if (sha(echoedBinary) !== sha(b)) bad.push('binary ' + size);
    }
    const extensions = ws.extensions;
    const done = closed(ws); ws.close(1000); await done; await new Promise((r) => wss.close(r));
    return { bad, extensions };
  });
}

await run('16 MiB each way', async () => {
  const { wss, url } = await server({});
  const ws = await open(url);
  const big = randomBytes(16 << 20);
  const got = next(ws, '16 MiB'); ws.send(big);
  const same = sha(Buffer.from(await got)) === sha(big);
  const done = closed(ws); ws.close(); await done; await new Promise((r) => wss.close(r));
  return same;
});

await run('server ping answered', async () => {
  const { wss, url } = await server({});
  const connected = new Promise((resolve) => wss.once('connection', resolve));
  const ws = await open(url);
  const peer = await connected;
  const pong = within(new Promise((resolve) => peer.once('pong', (data) => resolve(data.toString()))), 2000, 'pong');
  peer.ping('from server');
  const value = await pong;
  ws.close(); await closed(ws); await new Promise((r) => wss.close(r));
  return value;
});

const closePaths = {
  'client close with code and reason': async (ws) => { ws.close(4000, 'client bye'); },
  'client close without code': async (ws) => { ws.close(); },
  'server close with code and reason': async (ws, peer) => { peer.close(4001, 'server bye'); },
  'server close without code': async (ws, peer) => { peer.close(); },
  'server.close()': async (ws, peer, wss) => { wss.close(); },
  'server terminate()': async (ws, peer) => { peer.terminate(); },
};
for (const [name, act] of Object.entries(closePaths)) {
  await run(name, async () => {
    const { wss, url } = await server({});
    const connected = new Promise((resolve) => wss.once('connection', resolve));
    const onServer = serverClosed(wss);
    const ws = await open(url);
    const peer = await connected;
    const onClient = closed(ws);
    await act(ws, peer, wss);
    const result = { client: await onClient, server: await onServer };
    await new Promise((r) => wss.close(r));
    return result;
  });
}
results.failures = failures;
console.log(JSON.stringify(results));
`;

describe("our WebSocketServer with Node's built-in WebSocket (undici, in a child process)", () => {
  const supported = process.allowedNodeEnvironmentFlags.has('--experimental-websocket');
  test('interoperates over echo, 16 MiB, ping and every close path', { ...T, skip: supported ? false : 'this Node has no --experimental-websocket flag' }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'volley-undici-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'undici-interop.mjs');
    writeFileSync(script, UNDICI_SCRIPT);
    const moduleUrl = new URL('./index.js', import.meta.url).href;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--experimental-websocket', '--no-warnings', script, moduleUrl], { timeout: 15_000, maxBuffer: 1 << 20 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      );
    });
    const results = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, { ok: boolean; value?: unknown; error?: string }> & {
      failures: string[];
    };
    const value = (name: string): unknown => {
      const result = results[name];
      assert.ok(result, `${name} ran`);
      assert.ok(result.ok, `${name}: ${result.error}`);
      return result.value;
    };
    await t.test('echoes every size as text and binary, deflate off', () => {
      assert.deepEqual(value('echo, deflate off'), { bad: [], extensions: '' });
    });
    await t.test('echoes every size as text and binary, deflate on', () => {
      const { bad, extensions } = value('echo, deflate on') as { bad: string[]; extensions: string };
      assert.deepEqual(bad, []);
      assert.match(extensions, /permessage-deflate/);
    });
    await t.test('moves 16 MiB each way', () => assert.equal(value('16 MiB each way'), true));
    await t.test('answers our ping (the built-in client has no ping() of its own)', () => assert.equal(value('server ping answered'), 'from server'));
    await t.test('client close with code and reason', () =>
      assert.deepEqual(value('client close with code and reason'), { client: [4000, '', true], server: [4000, 'client bye', true] }),
    );
    await t.test('client close without a code is 1005 on the server', () =>
      assert.deepEqual(value('client close without code'), { client: [1005, '', true], server: [1005, '', true] }),
    );
    await t.test('server close with code and reason', () =>
      assert.deepEqual(value('server close with code and reason'), { client: [4001, 'server bye', true], server: [4001, '', true] }),
    );
    await t.test('server close without a code is 1005 on the client', () =>
      assert.deepEqual((value('server close without code') as { client: unknown[] }).client, [1005, '', true]),
    );
    await t.test('server.close() is 1001 on the client', () =>
      assert.equal((value('server.close()') as { client: number[] }).client[0], 1001),
    );
    await t.test('terminate() on the server is 1006 on the client', () =>
      assert.deepEqual((value('server terminate()') as { client: unknown[] }).client.slice(0, 1), [1006]),
    );
    await t.test('no uncaught exception in the child', () => assert.deepEqual(results.failures, []));
  });
});

describe('wss:// end to end', () => {
  const certificate = selfSignedCertificate();
  const skip = 'unavailable' in certificate ? certificate.unavailable : false;

  async function tlsServer() {
    if ('unavailable' in certificate) throw new Error(certificate.unavailable);
    const https = createHttpsServer({ key: certificate.key, cert: certificate.cert });
    const sockets = new Set<Socket>();
    https.on('secureConnection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    const wss = trackClose(new WebSocketServer({ server: https, heartbeat: false }));
    echo(wss);
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => https.close(resolve));
    });
    cleanup.add(() => stopServer(wss));
    return { wss, url: `wss://127.0.0.1:${(https.address() as AddressInfo).port}` };
  }

  test('our client reaches our server on https with the self-signed CA given in tls.ca', { ...T, skip }, async () => {
    const { wss, url } = await tlsServer();
    const client = await openOurClient(url, { tls: { ca: (certificate as { cert: string }).cert } });
    const server = await firstClient(wss);
    const received = await carry(client, client, 'over TLS');
    assert.equal(received.data.toString(), 'over TLS');
    const big = randomBytes(MiB);
    assert.equal(sha256((await carry(client, client, big)).data), sha256(big));
    const closed = nextEvent<[number, string, boolean]>(server, 'close');
    client.close(1000, 'tls done');
    assert.deepEqual(await closed, [1000, 'tls done', true]);
  });

  test('without the CA the client fails with a TLS error (verification is on by default)', { ...T, skip }, async () => {
    const { wss, url } = await tlsServer();
    let connections = 0;
    wss.on('connection', () => connections++);
    const client = new WebSocket(url);
    cleanup.add(() => client.terminate());
    const errors: Array<Error & { cause?: { code?: string } }> = [];
    client.on('error', (error: Error) => errors.push(error as (typeof errors)[number]));
    const [code] = await nextEvent<[number]>(client, 'close', 5000);
    assert.equal(code, 1006);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /TLS error/);
    assert.match(String(errors[0]!.cause?.code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    assert.equal(connections, 0);
  });
});
