/**
 * Two `volley serve` nodes on one Redis share what is meant per user and per idempotency key: a user's publishes
 * spread over both nodes are refused around the single limit (within the bound of hub/shared-limits.ts, far
 * below twice the limit), and a publish without history retried on the other node — or sent to both at once —
 * is delivered once. A node whose Redis is unreachable falls back to its own buckets and counts the failures.
 *
 * Skipped (one line) when Redis is unreachable, except with CI=true.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteKeys, inspector, randomPrefix, redisOrSkip, REDIS_URL } from '../engines/redis/testing/support.js';
import { mintToken, TEST_SECRET } from '../hub/testing/tokens.js';
import { HubClient, http, startTestServer, type TestServer } from './harness.test.js';

const T = { timeout: 20_000 };
const prefix = randomPrefix();
const redis = inspector();
const servers: TestServer[] = [];
const clients: HubClient[] = [];

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const s of servers) await s.stop().catch(() => undefined);
  await deleteKeys(redis.client, prefix).catch(() => undefined);
  await redis.close();
});

/** 5 publishes/s per user, burst 5; debits every 50 ms. */
const USER_LIMIT = { rate: 5, burst: 5, syncIntervalMs: 50 };

/** A node of the test hub: tokens required, `ticker:` without history. */
async function node(nodeId: string, redisUrl = REDIS_URL): Promise<TestServer> {
  const server = await startTestServer({
    nodeId,
    token: { hmacSecret: TEST_SECRET },
    redis: { url: redisUrl, prefix, offlineTimeoutMs: 200 },
    namespaces: {
      default: { publish: 'authenticated', subscribe: 'authenticated' },
      namespaces: { ticker: { historySize: 0 } },
    },
    rateLimits: {
      user: { commandsPerSecond: USER_LIMIT.rate, commandsBurst: USER_LIMIT.burst },
      syncIntervalMs: USER_LIMIT.syncIntervalMs,
    },
  });
  servers.push(server);
  return server;
}

/** A connected client of `user` on `server`. */
async function as(user: string, server: TestServer): Promise<HubClient> {
  const { client } = await HubClient.connect(server.wsUrl, await mintToken({ sub: user }));
  clients.push(client);
  return client;
}

let pair: [TestServer, TestServer] | undefined;
/** The two nodes, started once. */
async function nodes(): Promise<[TestServer, TestServer]> {
  pair ??= [await node('shared-a'), await node('shared-b')];
  return pair;
}

describe('two nodes on one Redis', () => {
  test("refuse a user's publishes spread over both nodes around the single limit", T, async (t) => {
    if (!(await redisOrSkip(t))) return;
    const [a, b] = await nodes();
    const onA = await as('alice', a);
    const onB = await as('alice', b);
    let accepted = 0;
    const started = Date.now();
    // For 2 s, alternating nodes, a publish every 10 ms (20 times the limit) unless refused; after a refusal the
    // client waits the advertised retryAfterMs, as the SDK does (or it would be disconnected for persisting).
    for (let i = 0; Date.now() - started < 2000; i++) {
      const reply = await (i % 2 === 0 ? onA : onB).command({ type: 'publish', channel: 'news', data: i });
      if (reply.result !== undefined) accepted++;
      else assert.equal(reply.error?.code, 'rate_limited', JSON.stringify(reply));
      await sleep(reply.result !== undefined ? 10 : reply.error.retryAfterMs);
    }
    const seconds = (Date.now() - started) / 1000;
    const { rate, burst } = USER_LIMIT;
    const limit = burst + rate * seconds;
    // Δ = syncIntervalMs + a round trip, taken generously (200 ms) for a loaded machine.
    const bound = limit + (burst + rate * (USER_LIMIT.syncIntervalMs / 1000 + 0.2));
    assert.ok(accepted <= bound, `${accepted} accepted in ${seconds} s: the bound is ${bound}`);
    assert.ok(accepted >= rate * seconds - 2, `${accepted} accepted in ${seconds} s: the limit is used`);
    assert.ok(accepted < 2 * limit - burst, `${accepted} accepted: per-node buckets alone would allow ${2 * limit}`);
    t.diagnostic(`${accepted} publishes accepted in ${seconds} s; single limit ${limit.toFixed(1)}, bound ${bound.toFixed(1)}, per-node ${(2 * limit).toFixed(1)}`);
  });

  test('deliver a publish without history once when it is retried on the other node, or sent to both at once', T, async (t) => {
    if (!(await redisOrSkip(t))) return;
    const [a, b] = await nodes();
    const subscriber = await as('bob', b);
    assert.equal((await subscriber.command({ type: 'subscribe', channel: 'ticker:eur' })).result?.offset, 0);
    const publisher = await as('carol', a);
    const retrying = await as('carol', b);
    const first = await publisher.command({ type: 'publish', channel: 'ticker:eur', data: 'first', idempotencyKey: 'k-1' });
    const retry = await retrying.command({ type: 'publish', channel: 'ticker:eur', data: 'first (retry)', idempotencyKey: 'k-1' });
    assert.deepEqual(first.result, { epoch: '', offset: 0 });
    assert.deepEqual(retry.result, first.result, 'the retry answers what the first publish answered');
    // The HTTP API on both nodes at once, with another key.
    const answers = await Promise.all(
      [a, b, a, b, a, b].map((server, i) => http(`${server.url}/api/publish`, { method: 'POST', body: { channel: 'ticker:eur', data: `api ${i}`, idempotencyKey: 'k-2' } })),
    );
    assert.deepEqual(new Set(answers.map((r) => `${r.status} ${r.text}`)), new Set(['200 {"epoch":"","offset":0}']));
    await publisher.command({ type: 'publish', channel: 'ticker:eur', data: 'barrier' });
    await subscriber.nextPush((p) => p.type === 'publication' && p.data === 'barrier');
    const delivered = subscriber.pushes.filter((p) => p.type === 'publication' && p.data !== 'barrier').map((p) => String(p.data));
    assert.deepEqual(delivered.length, 2, JSON.stringify(delivered));
    assert.equal(delivered[0], 'first');
    assert.match(delivered[1]!, /^api \d$/);
  });
});

describe('a node whose Redis is unreachable', () => {
  test('limits each user with its own buckets (neither blocked nor unlimited) and counts the failed debits', T, async (t) => {
    if (!(await redisOrSkip(t))) return;
    const down = await node('shared-down', 'redis://127.0.0.1:1');
    const client = await as('dave', down);
    const replies = [];
    for (let i = 0; i < USER_LIMIT.burst + 1; i++) replies.push(await client.command({ type: 'ping' }));
    assert.deepEqual(
      replies.map((r) => r.error?.code ?? 'ok'),
      [...Array(USER_LIMIT.burst).fill('ok'), 'rate_limited'],
    );
    // The first debit waits offlineTimeoutMs (200 ms) for the connection, then fails.
    await sleep(400);
    const metrics = await http(`${down.url}/metrics`, { apiKey: null });
    const failures = Number(/^volley_rate_limit_sync_failures_total (\d+)/m.exec(metrics.text)?.[1]);
    assert.ok(failures >= 1, metrics.text.split('\n').filter((l) => l.includes('sync_failures')).join('\n'));
  });
});
