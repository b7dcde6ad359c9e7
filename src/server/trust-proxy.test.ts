/**
 * `trustProxy` behind a balancer: WebSocket, SSE and long-polling sessions all see the client's address from
 * `X-Forwarded-For` when the peer is a trusted proxy, and the peer's own address otherwise (a spoofed header is
 * ignored); `websocket.maxConnectionsPerIp` counts client addresses.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubClient } from '../hub/testing/hub-client.js';
import { call, StreamReader } from '../transports/fallback-harness.test.js';
import { startTestServer, type TestServer } from './harness.test.js';

const T = { timeout: 10_000 };
const servers: TestServer[] = [];
after(() => Promise.all(servers.map((server) => server.stop())));

/** A server with `config` (as its config file) whose onConnect hook records every connection's remoteAddress. */
async function serve(config: Record<string, unknown>) {
  const seen: string[] = [];
  const server = await startTestServer({ allowAnonymous: true, ...config }, {}, { hooks: { onConnect: ({ request }) => void seen.push(request.remoteAddress) } });
  servers.push(server);
  return { url: server.url, wsUrl: server.wsUrl, seen };
}

/** Connects once over each transport with `X-Forwarded-For: xff`; resolves when the hook saw all three. */
async function connectEverywhere(target: Awaited<ReturnType<typeof serve>>, xff: string): Promise<void> {
  const headers = { 'x-forwarded-for': xff };
  const ws = await HubClient.open(target.wsUrl, { headers });
  await ws.connect();
  await ws.close();
  const open = await call(`${target.url}/poll/open`, { method: 'POST', headers });
  const sent = await call(`${target.url}/poll/send?sid=${open.json.sid}`, { method: 'POST', headers, body: [{ id: 1, type: 'connect' }] });
  assert.equal(sent.status, 204, sent.text);
  // A subscribe-by-URL stream connects as it opens.
  const stream = await StreamReader.open(`${target.url}/sse?channel=news`, headers);
  stream.close();
  for (let i = 0; i < 200 && target.seen.length < 3; i++) await sleep(10);
  assert.equal(target.seen.length, 3, 'three connects');
}

describe('trustProxy', () => {
  test('off (the default): every transport sees the TCP peer, whatever X-Forwarded-For says', T, async () => {
    const target = await serve({});
    await connectEverywhere(target, '203.0.113.7');
    assert.deepEqual(target.seen, ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });

  test('naming the balancer: WebSocket, long-polling and SSE sessions see the client address', T, async () => {
    const target = await serve({ trustProxy: ['127.0.0.1'] });
    await connectEverywhere(target, '198.51.100.1, 203.0.113.7');
    assert.deepEqual(target.seen, ['203.0.113.7', '203.0.113.7', '203.0.113.7']);
  });

  test('naming other proxies: the header of this untrusted peer is ignored as spoofed', T, async () => {
    const target = await serve({ trustProxy: ['10.0.0.0/8'] });
    await connectEverywhere(target, '10.0.0.7');
    assert.deepEqual(target.seen, ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });

  test('websocket.maxConnectionsPerIp counts client addresses behind a trusted balancer', T, async () => {
    const target = await serve({ trustProxy: true, websocket: { maxConnectionsPerIp: 1 } });
    const open = (ip: string) => HubClient.open(target.wsUrl, { headers: { 'x-forwarded-for': ip } });
    const first = await open('203.0.113.7');
    const other = await open('203.0.113.8');
    await assert.rejects(open('203.0.113.7'), /closed before it opened.*429/);
    await first.close();
    await sleep(50);
    const again = await open('203.0.113.7');
    await Promise.all([other.close(), again.close()]);
  });

  test('without it, every client behind the balancer shares its address for maxConnectionsPerIp', T, async () => {
    const target = await serve({ websocket: { maxConnectionsPerIp: 1 } });
    const first = await HubClient.open(target.wsUrl, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    await assert.rejects(HubClient.open(target.wsUrl, { headers: { 'x-forwarded-for': '203.0.113.8' } }), /429/);
    await first.close();
  });
});
