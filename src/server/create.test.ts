/**
 * The composed server over real sockets: routing of upgrades, origin checks, graceful shutdown (1001 with
 * reconnect advice, bounded drain), durable SQLite history across a restart, and listen errors.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { TEST_SECRET, mintToken } from '../hub/testing/tokens.js';
import { sleep, within } from '../test-support/util.js';
import { PollClient, StreamReader } from '../transports/fallback-harness.test.js';
import { loadConfig } from './config.js';
import { createVolleyServer, ServerState } from './create.js';
import { HubClient, http, startTestServer, tempDir, type TestServer } from './harness.test.js';

const T = { timeout: 15_000 };
const running: TestServer[] = [];
after(async () => {
  for (const t of running) await t.stop();
});

async function start(config: Record<string, unknown> = {}): Promise<TestServer> {
  const t = await startTestServer({ allowAnonymous: true, ...config });
  running.push(t);
  return t;
}

/** Sends a raw upgrade request and resolves to the status line and the socket (left open). */
function rawUpgrade(port: number, path: string, extra: Record<string, string> = {}): Promise<{ status: number; socket: Socket }> {
  return within(
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', reject);
      let buffered = '';
      socket.on('data', function onData(chunk: Buffer) {
        buffered += chunk.toString('latin1');
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        resolve({ status: Number(buffered.split(' ')[1]), socket });
      });
      const headers = {
        Host: `127.0.0.1:${port}`,
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Protocol': 'volley.v1.json',
        ...extra,
      };
      socket.write(`GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    }),
    3000,
    `the upgrade reply for ${path}`,
  );
}

describe('listening', () => {
  test('listen() answers the bound address with the chosen port and the URLs', T, async () => {
    const t = await start();
    assert.equal(t.address.host, '127.0.0.1');
    assert.ok(t.address.port > 0);
    assert.equal(t.url, `http://127.0.0.1:${t.address.port}`);
    assert.equal(t.wsUrl, `ws://127.0.0.1:${t.address.port}/ws`);
    assert.equal(t.server.state, ServerState.LISTENING);
  });

  test('listening on a port in use fails with a clear message', T, async () => {
    const t = await start();
    const { config } = await loadConfig({ env: {}, cwd: t.dataDir, flags: { port: String(t.address.port), host: '127.0.0.1', memory: true, 'log-level': 'silent' } });
    const second = await createVolleyServer(config);
    await assert.rejects(second.listen(), /port \d+ on 127\.0\.0\.1 is already in use/);
    await second.shutdown({ drainMs: 0 });
  });
});

describe('WebSocket endpoint', () => {
  test('connects hub clients on /ws', T, async () => {
    const t = await start();
    const { client, result } = await HubClient.connect(t.wsUrl);
    assert.equal(typeof result.clientId, 'string');
    assert.equal(result.server.name, 'volley');
    await client.close();
  });

  test('answers 404 to an upgrade on another path', T, async () => {
    const t = await start();
    const { status, socket } = await rawUpgrade(t.address.port, '/other');
    assert.equal(status, 404);
    socket.destroy();
  });

  test('serves the configured path only', T, async () => {
    const t = await start({ websocket: { path: '/realtime' } });
    assert.equal((await rawUpgrade(t.address.port, '/ws')).status, 404);
    const ok = await rawUpgrade(t.address.port, '/realtime?v=1');
    assert.equal(ok.status, 101);
    ok.socket.destroy();
  });

  test('refuses origins outside allowedOrigins with 403 before the upgrade', T, async () => {
    const t = await start({ allowedOrigins: ['https://app.example'] });
    const refused = await rawUpgrade(t.address.port, '/ws', { Origin: 'https://evil.example' });
    assert.equal(refused.status, 403);
    refused.socket.destroy();
    const allowed = await rawUpgrade(t.address.port, '/ws', { Origin: 'https://app.example' });
    assert.equal(allowed.status, 101);
    allowed.socket.destroy();
  });
});

describe('shutdown', () => {
  test('tells clients to reconnect elsewhere (1001), drains, and stops listening', T, async () => {
    const t = await startTestServer({ allowAnonymous: true });
    const { client } = await HubClient.connect(t.wsUrl);
    const stopping = t.server.shutdown({ drainMs: 2000 });
    assert.equal(t.server.state, ServerState.DRAINING);
    const push = await client.nextPush((p) => p.type === 'disconnect');
    assert.equal(push.code, 1001);
    assert.equal(push.reconnect, true);
    assert.equal(typeof push.reconnectAfterMs, 'number');
    assert.equal((await within(client.closed, 3000, 'the close')).code, 1001);
    await within(stopping, 3000, 'the shutdown');
    assert.equal(t.server.state, ServerState.CLOSED);
    await assert.rejects(http(`${t.url}/healthz`), /ECONNREFUSED/);
    assert.equal(t.server.shutdown(), stopping, 'idempotent');
    await t.stop();
  });

  test('gives up on clients that never close after drainMs', T, async () => {
    const t = await startTestServer({ allowAnonymous: true });
    const { status, socket } = await rawUpgrade(t.address.port, '/ws');
    assert.equal(status, 101);
    socket.on('error', () => {});
    socket.pause(); // never reads, never answers the close frame
    const started = Date.now();
    await within(t.server.shutdown({ drainMs: 300 }), 5000, 'the bounded shutdown');
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
    socket.destroy();
    await t.stop();
  });

  test('a second call with drainMs 0 cuts the drain short', T, async () => {
    const t = await startTestServer({ allowAnonymous: true });
    const { socket } = await rawUpgrade(t.address.port, '/ws');
    socket.on('error', () => {});
    socket.pause();
    const started = Date.now();
    const stopping = t.server.shutdown({ drainMs: 10_000 });
    setTimeout(() => void t.server.shutdown({ drainMs: 0 }), 100);
    await within(stopping, 5000, 'the shortened shutdown');
    assert.ok(Date.now() - started < 4000);
    socket.destroy();
    await t.stop();
  });

  test('a server that never listened shuts down at once', T, async () => {
    const { config } = await loadConfig({ env: {}, cwd: tempDir(), flags: { memory: true, 'log-level': 'silent' } });
    const server = await createVolleyServer(config);
    await within(server.shutdown(), 2000, 'the shutdown');
    assert.equal(server.state, ServerState.CLOSED);
  });
});

describe('SQLite history', () => {
  test('survives a restart in the same data directory, epoch and offsets included', T, async () => {
    const dataDir = tempDir();
    const flags = { port: '0', host: '127.0.0.1', 'data-dir': dataDir, 'api-key': 'test-key', 'log-level': 'silent' } as const;
    const first = await createVolleyServer((await loadConfig({ env: {}, cwd: dataDir, flags })).config);
    const a = await first.listen();
    const published = await http(`${a.url}/api/publish`, { method: 'POST', body: { channel: 'chat:durable', data: { n: 1 } } });
    assert.equal(published.json.offset, 1);
    await first.shutdown({ drainMs: 0 });

    const second = await createVolleyServer((await loadConfig({ env: {}, cwd: dataDir, flags })).config);
    const b = await second.listen();
    try {
      const history = await http(`${b.url}/api/history?channel=chat:durable`);
      assert.equal(history.json.epoch, published.json.epoch);
      assert.deepEqual(history.json.publications.map((p: any) => p.data), [{ n: 1 }]);
    } finally {
      await second.shutdown({ drainMs: 0 });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('an unusable data directory fails at creation with a clear message', T, async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'a-file'), '');
    const { config } = await loadConfig({ env: {}, cwd, flags: { 'data-dir': 'a-file/data', 'log-level': 'silent' } });
    await assert.rejects(createVolleyServer(config), /cannot open the history database in .*a-file\/data: ENOTDIR/);
    rmSync(cwd, { recursive: true, force: true });
  });
});

describe('HTTP fallbacks', () => {
  test('long-polling and SSE are served beside /ws, carrying what the HTTP API publishes', T, async () => {
    const t = await start();
    const poller = await PollClient.open(t.url);
    assert.ok((await poller.command({ type: 'connect' })).result);
    assert.ok((await poller.command({ type: 'subscribe', channel: 'chat:both' })).result);
    const stream = await StreamReader.open(`${t.url}/sse?channel=chat:both`);
    try {
      await stream.next((b) => b.id !== undefined);
      const published = await http(`${t.url}/api/publish`, { method: 'POST', body: { channel: 'chat:both', data: 'hello' } });
      assert.equal(published.status, 200);
      assert.equal((await poller.until((m) => m.type === 'publication')).data, 'hello');
      assert.equal(JSON.parse((await stream.event('publication')).data!).data, 'hello');
    } finally {
      stream.close();
    }
  });

  test('follow the server’s token rules: no token → 4500 / 401; a valid token connects', T, async () => {
    const t = await startTestServer({ token: { hmacSecret: TEST_SECRET } });
    running.push(t);
    const poller = await PollClient.open(t.url);
    await poller.send({ type: 'connect' });
    const push = await poller.until((m) => m.type === 'disconnect');
    assert.equal(push.code, 4500);
    assert.equal((await http(`${t.url}/sse?channel=chat:x`, { apiKey: null })).status, 401);
    const token = await mintToken({ sub: 'alice' });
    const stream = await StreamReader.open(`${t.url}/sse?channel=chat:x`, { authorization: `Bearer ${token}` });
    try {
      assert.equal(stream.status, 200);
      await stream.next((b) => b.id !== undefined);
    } finally {
      stream.close();
    }
  });

  test('follow the origin allowlist', T, async () => {
    const t = await start({ allowedOrigins: ['https://app.example'] });
    const evil = { origin: 'https://evil.example' };
    assert.equal((await http(`${t.url}/poll/open`, { method: 'POST', headers: evil, apiKey: null })).status, 403);
    assert.equal((await http(`${t.url}/sse?channel=chat:x`, { headers: evil, apiKey: null })).status, 403);
    const ok = await http(`${t.url}/poll/open`, { method: 'POST', headers: { origin: 'https://app.example' }, apiKey: null });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
  });

  test('take their limits from the fallbacks settings', T, async () => {
    const t = await start({ fallbacks: { pollTimeoutMs: 200, maxBodyBytes: 100 } });
    const poller = await PollClient.open(t.url);
    const began = Date.now();
    assert.deepEqual((await poller.poll()).json, []);
    assert.ok(Date.now() - began < 2000);
    const big = await poller.send({ type: 'rpc', method: 'm', data: 'x'.repeat(200) });
    assert.equal(big.answer.status, 413);
  });

  test('can be turned off (404)', T, async () => {
    const t = await start({ fallbacks: { polling: false, sse: false } });
    assert.equal((await http(`${t.url}/poll/open`, { method: 'POST', apiKey: null })).status, 404);
    assert.equal((await http(`${t.url}/sse?channel=chat:x`, { apiKey: null })).status, 404);
  });

  test('a shutdown tells fallback clients to reconnect elsewhere (1001) and drains them', T, async () => {
    const t = await startTestServer({ allowAnonymous: true });
    const stream = await StreamReader.open(`${t.url}/sse`);
    const { sid } = JSON.parse((await stream.next()).data!);
    await http(`${t.url}/sse/send?sid=${sid}`, { method: 'POST', body: [{ id: 1, type: 'connect' }], apiKey: null });
    await stream.message((m) => m.id === 1);
    const poller = await PollClient.open(t.url);
    await poller.command({ type: 'connect' });
    const waiting = poller.poll();
    await sleep(100); // the poll is in progress
    const stopping = t.server.shutdown({ drainMs: 3000 });
    const push = await stream.message((m) => m.type === 'disconnect');
    assert.equal(push.code, 1001);
    assert.equal(push.reconnect, true);
    await within(stream.ended, 3000, 'the end of the stream');
    assert.equal((await waiting).json[0].code, 1001);
    await within(stopping, 5000, 'the shutdown');
    await t.stop();
  });
});
