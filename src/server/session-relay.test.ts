/**
 * Two in-process nodes sharing Redis, as `volley serve --redis` builds them: HTTP fallback sessions reach their
 * node whichever node gets the request; a node that is gone is answered 404 and the client recovers on a new
 * session; a Redis that cannot be reached makes the node degraded (`/healthz` 503) and publishes fail with
 * `unavailable`, never silently.
 *
 * Skipped (one line) when Redis is unreachable, except with CI=true.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { deleteKeys, inspector, randomPrefix, redisOrSkip, REDIS_URL } from '../engines/redis/testing/support.js';
import { call, RoamingPollClient, StreamReader } from '../transports/fallback-harness.test.js';
import { loadConfig } from './config.js';
import { createVolleyServer } from './create.js';
import { HubClient, http, startTestServer, type TestServer } from './harness.test.js';

const T = { timeout: 20_000 };
const prefix = randomPrefix();
const redis = inspector();
const servers: TestServer[] = [];

after(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  await deleteKeys(redis.client, prefix).catch(() => undefined);
  await redis.close();
});

/** A node of the test hub: anonymous clients, Redis at REDIS_URL with this file's prefix. */
async function node(nodeId: string, extra: Record<string, unknown> = {}): Promise<TestServer> {
  const server = await startTestServer({
    allowAnonymous: true,
    nodeId,
    redis: { url: REDIS_URL, prefix },
    fallbacks: { pollTimeoutMs: 1000 },
    ...extra,
  });
  servers.push(server);
  return server;
}

/** A long-polling client whose requests go to whichever node the test names (4 s for each awaited message). */
const openPollClient = (url: string): Promise<RoamingPollClient> => RoamingPollClient.open(url, { untilMs: 4000 });

let a: TestServer;
let b: TestServer;
let redisUp = false;

describe('HTTP fallback sessions across two nodes on one Redis', () => {
  before(async () => {
    const { probeRedis } = await import('../engines/redis/testing/support.js');
    redisUp = (await probeRedis()) === undefined;
    if (!redisUp) return;
    a = await node('node-a');
    b = await node('node-b');
  });

  const skip = async (t: TestContext): Promise<boolean> => !(await redisOrSkip(t));

  test('a polling session opened on A is fed and polled through B: replies, publications from both nodes, in order', T, async (t) => {
    if (await skip(t)) return;
    const client = await openPollClient(a.url);
    assert.match(client.sid, /^node-a\.[A-Za-z0-9_-]{32}$/);
    const { ids, answer } = await client.send(b.url, { type: 'connect' }, { type: 'subscribe', channel: 'relay:poll' });
    assert.equal(answer.status, 204);
    assert.ok((await client.until(b.url, (m) => m.id === ids[0])).result.clientId);
    const subscribed = (await client.until(b.url, (m) => m.id === ids[1])).result;
    for (let i = 1; i <= 6; i++) {
      const res = await http(`${(i % 2 === 0 ? a : b).url}/api/publish`, { method: 'POST', body: { channel: 'relay:poll', data: { i } } });
      assert.equal(res.status, 200, res.text);
    }
    const got: number[] = [];
    while (got.length < 6) {
      const push = await client.until(got.length % 2 === 0 ? b.url : a.url, (m) => m.type === 'publication');
      assert.equal(push.offset, subscribed.offset + got.length + 1, 'offsets are consecutive');
      got.push(push.data.i);
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
    const published = await client.send(b.url, { type: 'publish', channel: 'relay:poll', data: 'from the client' });
    assert.ok((await client.until(b.url, (m) => m.id === published.ids[0])).result);
    assert.equal((await client.until(a.url, (m) => m.type === 'publication')).data, 'from the client');
  });

  test('an SSE stream on A takes commands posted to B', T, async (t) => {
    if (await skip(t)) return;
    const stream = await StreamReader.open(`${a.url}/sse`);
    const sid = JSON.parse((await stream.event('open')).data!).sid as string;
    assert.match(sid, /^node-a\./);
    const sent = await call(`${b.url}/sse/send?sid=${sid}`, { method: 'POST', body: [{ id: 1, type: 'connect' }, { id: 2, type: 'subscribe', channel: 'relay:sse' }] });
    assert.equal(sent.status, 204);
    await stream.message((m) => m.id === 2);
    await http(`${b.url}/api/publish`, { method: 'POST', body: { channel: 'relay:sse', data: 'hello' } });
    assert.equal((await stream.message((m) => m.type === 'publication')).data, 'hello');
    stream.close();
  });

  test('when the node holding a session is gone, others answer 404 and the client recovers exactly on a new session', T, async (t) => {
    if (await skip(t)) return;
    const c = await node('node-c');
    const client = await openPollClient(c.url);
    const { ids } = await client.send(b.url, { type: 'connect' }, { type: 'subscribe', channel: 'relay:gone' });
    const position = (await client.until(b.url, (m) => m.id === ids[1])).result;
    await http(`${a.url}/api/publish`, { method: 'POST', body: { channel: 'relay:gone', data: 1 } });
    const first = await client.until(b.url, (m) => m.type === 'publication');
    // Node C stops answering its relay channel, as a dead process would (its Pub/Sub connection is gone).
    await c.server.redis!.relay.close();
    for (let i = 2; i <= 4; i++) await http(`${b.url}/api/publish`, { method: 'POST', body: { channel: 'relay:gone', data: i } });
    const poll = await client.poll(b.url);
    assert.equal(poll.status, 404);
    assert.equal(poll.json.error.code, 'not_found');
    assert.equal((await client.send(a.url, { type: 'ping' })).answer.status, 404);
    // The client opens a new session (through whichever node) and recovers from its last position.
    const fresh = await openPollClient(a.url);
    const reconnect = await fresh.send(b.url, {
      type: 'connect',
      subscriptions: { 'relay:gone': { recover: { epoch: position.epoch, offset: first.offset } } },
    });
    const result = (await fresh.until(b.url, (m) => m.id === reconnect.ids[0])).result;
    assert.equal(result.subscriptions['relay:gone'].recovered, true);
    assert.deepEqual(
      result.subscriptions['relay:gone'].publications.map((p: any) => p.data),
      [2, 3, 4],
    );
    await c.stop();
  });

  test('a second node with the same node id is refused at start', T, async (t) => {
    if (await skip(t)) return;
    const { config } = await loadConfig({
      flags: { port: '0', host: '127.0.0.1', memory: true, 'log-level': 'silent', redis: REDIS_URL, 'redis-prefix': prefix, 'node-id': 'node-a' },
      env: {},
    });
    const twin = await createVolleyServer(config);
    await assert.rejects(twin.listen(), /node id "node-a" is already used by another node/);
    await twin.shutdown({ drainMs: 0 });
  });

  test('/healthz reports the node and its Redis connections', T, async (t) => {
    if (await skip(t)) return;
    const res = await http(`${a.url}/healthz`, { apiKey: null });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok', nodeId: 'node-a', redis: { command: 'up', pubsub: 'up', relay: 'up' } });
    const metrics = await http(`${a.url}/metrics`, { apiKey: null });
    assert.match(metrics.text, /volley_node_info\{node_id="node-a",version="[^"]+"\} 1/);
    assert.match(metrics.text, /volley_redis_up 1/);
    assert.match(metrics.text, /volley_relayed_requests_total\{direction="in",op="poll",status="200"\} \d+/);
  });
});

describe('a node whose Redis is unreachable', () => {
  test('serves degraded: /healthz 503, publishes refused with unavailable (API 503, WebSocket error reply)', T, async () => {
    const down = await startTestServer({
      allowAnonymous: true,
      nodeId: 'lonely',
      redis: { url: 'redis://127.0.0.1:1', prefix, offlineTimeoutMs: 200 },
    });
    servers.push(down);
    const health = await http(`${down.url}/healthz`, { apiKey: null });
    assert.equal(health.status, 503);
    assert.equal(health.json.status, 'degraded');
    assert.equal(health.json.redis.command, 'down');
    const api = await http(`${down.url}/api/publish`, { method: 'POST', body: { channel: 'x', data: 1 } });
    assert.equal(api.status, 503);
    assert.equal(api.json.error.code, 'unavailable');
    assert.doesNotMatch(api.text, /ECONNREFUSED|127\.0\.0\.1/, 'no internal detail reaches the client');
    const { client } = await HubClient.connect(down.wsUrl);
    const reply = await client.command({ type: 'publish', channel: 'x', data: 1 });
    assert.equal(reply.error.code, 'unavailable');
    const sub = await client.command({ type: 'subscribe', channel: 'x' });
    assert.equal(sub.error.code, 'unavailable');
    await client.close();
  });
});
