/**
 * `volley serve --redis redis+cluster://…` on a real 3-master Redis Cluster started by the test: two nodes with
 * the same node id are refused at start (regression: `PUBSUB SHARDNUMSUB` has no key, went to one random master
 * and counted only that master's listeners, so 4 of 5 twins started), and sharded Pub/Sub is on by default.
 *
 * Needs the redis-server and redis-cli binaries: skipped with one line without them, except with CI=true.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { redisBinariesMissing, redisBinariesOrSkip, startCluster, type PrivateCluster } from '../engines/redis/testing/private-redis.js';
import { createVolleyServer } from './create.js';
import { loadConfig } from './config.js';

const T = { timeout: 30_000 };

describe('volley serve on a Redis Cluster', () => {
  let cluster: PrivateCluster | undefined;
  const started: Array<Awaited<ReturnType<typeof createVolleyServer>>> = [];

  before(async () => {
    if (redisBinariesMissing() === undefined) cluster = await startCluster();
  });
  after(async () => {
    for (const server of started) await server.shutdown({ drainMs: 0 }).catch(() => undefined);
    await cluster?.stop();
  });

  async function server(nodeId: string) {
    const { config } = await loadConfig({
      flags: { port: '0', host: '127.0.0.1', memory: true, 'log-level': 'silent', redis: cluster!.url, 'redis-prefix': 'nodeid:', 'node-id': nodeId },
      env: {},
    });
    const created = await createVolleyServer(config);
    started.push(created);
    return { created, config };
  }

  test('a node id already listening on any master is refused, for every twin; sharded Pub/Sub by default', T, async (t) => {
    if (!redisBinariesOrSkip(t)) return;
    const first = await server('twin');
    assert.equal(first.config.redis?.sharded, true);
    await first.created.listen();
    for (let i = 0; i < 5; i++) {
      const twin = await server('twin');
      await assert.rejects(twin.created.listen(), /node id "twin" is already used by another node/, `twin ${i + 1} started`);
    }
    const other = await server('other');
    await other.created.listen();
  });
});
