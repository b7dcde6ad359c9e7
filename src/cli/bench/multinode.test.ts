/**
 * The multinode workload against one in-process hub (memory engines, no Redis): every subscriber gets every
 * publication in order, latency comes from the stamps, and the Redis call deltas are computed per command.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../../server/harness.test.js';
import { runMultinode } from './multinode.js';
import { callsBetween } from './redis-stats.js';

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

describe('multinode workload', () => {
  test('delivers every publication to every subscriber, in order, with latency from the stamps', { timeout: 20_000 }, async () => {
    const s = await startTestServer({ allowAnonymous: true, rateLimits: { connection: false } });
    servers.push(s);
    const result = await runMultinode({
      urls: [s.wsUrl, s.wsUrl],
      subscribers: 10,
      rate: 200,
      window: 64,
      size: 32,
      channel: 'bench:test',
      warmupMs: 200,
      durationMs: 1000,
      concurrency: 4,
      redisUrl: null,
      pids: [process.pid],
    });
    assert.deepEqual(result.subscribersPerNode, [5, 5]);
    assert.ok(result.published > 100, `published ${result.published}`);
    // Deliveries are counted in the same window as publications; at each edge at most `window` (64) publications
    // are in flight, so the two counts differ by at most 64 publications × 10 subscribers, whatever the load.
    assert.ok(Math.abs(result.deliveries - result.published * 10) <= 64 * 10, `deliveries ${result.deliveries} ≈ 10 × ${result.published}`);
    assert.equal(result.undelivered, 0);
    assert.equal(result.outOfOrder, 0);
    assert.equal(result.publishErrors, 0);
    assert.equal(result.connectionsLost, 0);
    assert.ok(result.latency.count > 0 && result.latency.p50 > 0);
    assert.equal(result.redis, null);
    assert.equal(result.nodeCpu?.length, 1);
  });

  test('callsBetween: per-command deltas, largest first, commands absent before counted from 0', () => {
    const start = { calls: new Map([['evalsha', 10], ['publish', 5]]), cpuSeconds: 1 };
    const end = { calls: new Map([['evalsha', 30], ['publish', 5], ['xadd', 20]]), cpuSeconds: 2 };
    assert.deepEqual(callsBetween(start, end), { total: 40, byCommand: { evalsha: 20, xadd: 20 } });
  });
});
