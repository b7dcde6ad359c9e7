/**
 * Three real `volley serve --redis` processes on one Redis behave as one hub: fan-out across nodes in order,
 * the same presence from every node, history and recovery across nodes, no loss when a node is killed (-9) or
 * drained (SIGTERM) under continuous publishing, and no silent loss when Redis drops the Pub/Sub connections.
 * Every count is printed as a test diagnostic.
 *
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379): skipped with one line when it is unreachable,
 * except with CI=true, where that fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { probeRedis } from '../engines/redis/testing/support.js';
import { freePort } from '../test-support/net-testing.js';
import { api, Cluster, publishNumbered, RecoveringClient, tally, type ClusterNode } from './harness.js';

const unreachable = await probeRedis();
if (unreachable !== undefined && process.env['CI'] === 'true') throw new Error(`${unreachable}; CI=true requires it`);

/** History long enough for every test; short presence TTL so a dead node's members go quickly. */
const CONFIG = {
  namespaces: {
    default: { historySize: 10_000, historyTtlMs: 600_000 },
    namespaces: { room: { presence: true }, feed: { presence: true } },
  },
  rateLimits: { connection: false },
  limits: { presenceTtlMs: 3000, positionCheckIntervalMs: 2000 },
  shutdown: { drainMs: 5000, reconnectWindowMs: 500 },
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check()` holds, polling every 50 ms; fails with `what` after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('three volley serve nodes on one Redis', { skip: unreachable ?? false, timeout: 90_000 }, () => {
  let cluster: Cluster;
  const clients: RecoveringClient[] = [];
  const nodes = (): ClusterNode[] => cluster.nodes;
  const wsUrls = (): string[] => cluster.alive.map((node) => node.wsUrl);

  /** `count` clients of `channel`, spread over the nodes (client i starts on node i % 3). */
  async function subscribers(channel: string, count: number, presence = false): Promise<RecoveringClient[]> {
    const created = Array.from({ length: count }, (_, i) => {
      const client = new RecoveringClient({ urls: wsUrls, first: i % 3, channel, ...(presence ? { presenceData: { i } } : {}) });
      clients.push(client);
      return client;
    });
    await Promise.all(created.map((client) => client.start()));
    return created;
  }

  before(async () => {
    cluster = await Cluster.start({ nodes: 3, config: CONFIG });
  });

  after(async () => {
    for (const client of clients) client.stop();
    await cluster?.stop();
  });

  test('a publication on node A reaches subscribers on B and C, in order, whether published by API or WebSocket', async (t) => {
    const [a, b, c] = nodes();
    const onB = new RecoveringClient({ urls: () => [b!.wsUrl], channel: 'order:1' });
    const onC = new RecoveringClient({ urls: () => [c!.wsUrl], channel: 'order:1' });
    clients.push(onB, onC);
    await Promise.all([onB.start(), onC.start()]);
    for (let n = 1; n <= 100; n++) {
      const res = await api(a!.url, 'publish', { channel: 'order:1', data: { n } });
      assert.equal(res.status, 200);
    }
    const { lastOffset } = await publishNumbered(a!.wsUrl, 'order:1', 100, { first: 101, window: 32 });
    assert.equal(lastOffset, 200);
    await Promise.all([onB.reach(200, 5000), onC.reach(200, 5000)]);
    const expected = Array.from({ length: 200 }, (_, i) => i + 1);
    for (const client of [onB, onC]) {
      assert.deepEqual(client.received, expected);
      assert.deepEqual(client.outOfOrder, []);
    }
    t.diagnostic(`fan-out: 200 publications on ${a!.nodeId} (100 API + 100 WebSocket) → ${onB.received.length} in order on ${b!.nodeId}, ${onC.received.length} on ${c!.nodeId}`);
  });

  test('presence is the same from every node', async (t) => {
    const members = await subscribers('room:lobby', 3, true);
    const ids = members.map((m) => m.clientId).sort();
    const views = await Promise.all(nodes().map((node) => api(node.url, 'presence?channel=room:lobby')));
    for (const view of views) {
      assert.equal(view.status, 200);
      assert.equal(view.json.clients, 3);
      assert.deepEqual(view.json.members.map((m: any) => m.clientId).sort(), ids);
      assert.deepEqual(view.json.members.map((m: any) => m.data.i).sort(), [0, 1, 2]);
    }
    t.diagnostic(`presence: ${ids.length} members (one per node), identical on ${views.length} nodes`);
  });

  test('history and recovery work across nodes: subscribe on A, leave, publish via B, recover on C exactly the missed ones', async () => {
    const [a, b, c] = nodes();
    for (let n = 1; n <= 5; n++) await api(b!.url, 'publish', { channel: 'rec:1', data: { n } });
    const first = new RecoveringClient({ urls: () => [a!.wsUrl], channel: 'rec:1' });
    await first.start();
    const position = { ...first.position! };
    assert.equal(position.offset, 5);
    first.stop();
    for (let n = 6; n <= 25; n++) await api(b!.url, 'publish', { channel: 'rec:1', data: { n } });
    const again = new RecoveringClient({ urls: () => [c!.wsUrl], channel: 'rec:1', position });
    clients.push(again);
    await again.start();
    assert.equal(again.recoveries, 1, 'recovered: true');
    assert.deepEqual(again.received, Array.from({ length: 20 }, (_, i) => i + 6));
    assert.deepEqual(again.gaps, []);
    const onA = await api(a!.url, 'history?channel=rec:1');
    const onC = await api(c!.url, 'history?channel=rec:1');
    assert.deepEqual(onC.json, onA.json);
    assert.equal(onC.json.publications.length, 25);
  });

  test('kill -9 of a node under continuous publishing: clients reconnect to the survivors and lose nothing', async (t) => {
    const [a, , c] = nodes();
    const total = 2000;
    const feed = await subscribers('feed:kill', 30, true);
    const onA = feed.filter((client) => client.url === a!.wsUrl);
    const deadIds = onA.map((client) => client.clientId);
    let killedAt = 0;
    // When the dead node's presence entries are gone, watched from the kill on (while publishing goes on).
    let expiry: Promise<number> | null = null;
    const deadGone = async (): Promise<boolean> => {
      const view = await api(c!.url, 'presence?channel=feed:kill');
      const present = new Set(view.json.members.map((m: any) => m.clientId));
      return deadIds.every((id) => !present.has(id));
    };
    const { lastOffset } = await publishNumbered(c!.wsUrl, 'feed:kill', total, {
      window: 32,
      ratePerSecond: 500,
      onProgress: (acked) => {
        if (acked === 400) {
          killedAt = Date.now();
          a!.kill('SIGKILL');
          expiry = eventually(deadGone, 15_000, "the dead node's presence entries to expire").then(() => Date.now() - killedAt);
          expiry.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
        }
      },
    });
    assert.ok(killedAt > 0);
    assert.equal((await a!.exited).signal, 'SIGKILL');
    await Promise.all(feed.map((client) => client.reach(lastOffset, 15_000)));
    const counts = tally(feed, total);
    t.diagnostic(
      `kill -9: ${feed.length} clients × ${total} publications (${onA.length} clients moved from ${a!.nodeId}): ` +
        `received ${counts.received}, lost ${counts.lost}, duplicates ${counts.duplicates}, out of order ${counts.outOfOrder}, gaps ${counts.gaps}`,
    );
    assert.equal(counts.received, feed.length * total);
    assert.deepEqual({ lost: counts.lost, duplicates: counts.duplicates, outOfOrder: counts.outOfOrder, gaps: counts.gaps }, { lost: 0, duplicates: 0, outOfOrder: 0, gaps: 0 });
    for (const client of onA) {
      assert.equal(client.closes[0], 1006, 'the dead node never said goodbye');
      assert.notEqual(client.url, a!.wsUrl);
      assert.ok(client.recoveries >= 1);
    }
    // The dead node's presence entries expire within the presence TTL (3 s here); the moved clients are back.
    // (The bound was once checked after publishing and catching up had ended, so it also counted their time and
    // failed on a loaded machine: it is now the time from the kill to the first check that sees them gone.)
    try {
      const gone = await expiry!;
      t.diagnostic(`kill -9: ${deadIds.length} presence entries of the dead node gone ${gone} ms after the kill (TTL 3000 ms)`);
      assert.ok(gone <= 3000 + 2000, `within the TTL and a refresh period (${gone} ms)`);
      await eventually(async () => (await api(c!.url, 'presence?channel=feed:kill')).json.clients === feed.length, 8000, 'every client to be present');
    } finally {
      await cluster.restart(0);
    }
  });

  test('a graceful restart (SIGTERM) drains clients to the other nodes: 1001 with advice, recovery, zero loss', async (t) => {
    const [a, b] = nodes();
    const total = 1000;
    const feed = await subscribers('feed:drain', 30);
    const onB = feed.filter((client) => client.url === b!.wsUrl);
    const { lastOffset } = await publishNumbered(a!.wsUrl, 'feed:drain', total, {
      window: 32,
      ratePerSecond: 400,
      onProgress: (acked) => {
        if (acked === 200) b!.kill('SIGTERM');
      },
    });
    const exit = await b!.exited;
    assert.equal(exit.code, 0, `a drained node exits with 0:\n${b!.tail()}`);
    await Promise.all(feed.map((client) => client.reach(lastOffset, 15_000)));
    const counts = tally(feed, total);
    t.diagnostic(
      `SIGTERM: ${feed.length} clients × ${total} publications (${onB.length} drained from ${b!.nodeId}): ` +
        `received ${counts.received}, lost ${counts.lost}, duplicates ${counts.duplicates}, gaps ${counts.gaps}`,
    );
    assert.deepEqual({ lost: counts.lost, duplicates: counts.duplicates, outOfOrder: counts.outOfOrder, gaps: counts.gaps }, { lost: 0, duplicates: 0, outOfOrder: 0, gaps: 0 });
    for (const client of onB) {
      assert.equal(client.disconnects[0]?.code, 1001);
      assert.ok(client.disconnects[0]!.reconnectAfterMs !== undefined && client.disconnects[0]!.reconnectAfterMs <= 500, 'reconnect advice within the window');
      assert.equal(client.closes[0], 1001);
      assert.notEqual(client.url, b!.wsUrl);
    }
    await cluster.restart(1);
  });

  test('CLIENT KILL TYPE pubsub while publishing: every node resubscribes and clients lose nothing silently', async (t) => {
    const [a] = nodes();
    const total = 1500;
    const feed = await subscribers('feed:pubsub', 30);
    let killed = 0;
    let kill: Promise<void> = Promise.resolve();
    const { lastOffset } = await publishNumbered(a!.wsUrl, 'feed:pubsub', total, {
      window: 32,
      ratePerSecond: 500,
      onProgress: (acked) => {
        if (acked === 300) kill = cluster.killPubSub().then((n) => void (killed = n));
      },
    });
    await kill;
    assert.ok(killed >= 6, `the broker and relay connections of 3 nodes were killed (${killed})`);
    await eventually(async () => (await cluster.subscribersOf('feed:pubsub')) === 3, 5000, 'every node to be subscribed again');
    await Promise.all(feed.map((client) => client.reach(lastOffset, 15_000)));
    const counts = tally(feed, total);
    // Anything not received must be inside a gap the client was told about.
    let silent = 0;
    for (const client of feed) {
      for (let n = 1; n <= total; n++) {
        if ((client.seen.get(n) ?? 0) === 0 && !client.gaps.some((g) => g.fromOffset <= n && n <= g.toOffset)) silent++;
      }
    }
    t.diagnostic(
      `CLIENT KILL TYPE pubsub (${killed} connections) at 300/${total}: ${feed.length} clients received ${counts.received}, ` +
        `lost ${counts.lost} (silently ${silent}), duplicates ${counts.duplicates}, gaps ${counts.gaps}`,
    );
    assert.equal(silent, 0);
    assert.equal(counts.duplicates, 0);
    assert.equal(counts.lost, 0, 'history-backed channels are resynced without a gap');
  });
});

const REDIS_SERVER = process.env['REDIS_SERVER'] ?? 'redis-server';
const noRedisServer = spawnSync(REDIS_SERVER, ['--version']).status === 0 ? undefined : `${REDIS_SERVER} is not installed (needed to stop and restart a Redis of this test's own)`;
if (noRedisServer !== undefined && process.env['CI'] === 'true') throw new Error(`${noRedisServer}; CI=true requires it`);

describe('a Redis outage under two nodes (a private redis-server, stopped and restarted)', { skip: noRedisServer ?? false, timeout: 60_000 }, () => {
  let port: number;
  let redis: ChildProcess | undefined;
  let cluster: Cluster;
  const clients: RecoveringClient[] = [];

  /** Starts redis-server on `port` without persistence; resolves once it answers PING. */
  async function startRedis(): Promise<void> {
    redis = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await eventually(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', 5000, 'redis-server to start');
  }

  async function stopRedis(): Promise<void> {
    if (redis === undefined || redis.exitCode !== null) return;
    const exited = new Promise((resolve) => redis!.once('exit', resolve));
    redis.kill('SIGKILL');
    await exited;
  }

  before(async () => {
    port = await freePort();
    await startRedis();
    cluster = await Cluster.start({ nodes: 2, redisUrl: `redis://127.0.0.1:${port}`, config: { ...CONFIG, redis: { offlineTimeoutMs: 500 } } });
  });

  after(async () => {
    for (const client of clients) client.stop();
    await cluster?.stop();
    await stopRedis();
  });

  test('publishes fail with unavailable, /healthz says degraded, nothing crashes; after the restart delivery resumes and the lost stream is reported as a gap', async (t) => {
    const [a, b] = cluster.nodes;
    const feed = Array.from({ length: 10 }, (_, i) => new RecoveringClient({ urls: () => [a!.wsUrl, b!.wsUrl], first: i % 2, channel: 'feed:outage' }));
    clients.push(...feed);
    await Promise.all(feed.map((client) => client.start()));
    await publishNumbered(a!.wsUrl, 'feed:outage', 100, { window: 16 });
    await Promise.all(feed.map((client) => client.reach(100, 5000)));

    await stopRedis();
    const refusedAt = Date.now();
    const refused = await api(a!.url, 'publish', { channel: 'feed:outage', data: { n: 0 } });
    assert.equal(refused.status, 503);
    assert.equal(refused.json.error.code, 'unavailable');
    const refusedMs = Date.now() - refusedAt;
    assert.ok(refusedMs < 2000, 'refused within the offline timeout, not queued');
    await assert.rejects(publishNumbered(b!.wsUrl, 'feed:outage', 1, { first: 0 }), /publish 1: unavailable/);
    for (const node of cluster.nodes) {
      const health = await fetch(`${node.url}/healthz`);
      assert.equal(health.status, 503);
      assert.equal(((await health.json()) as { status: string }).status, 'degraded');
    }
    assert.ok(feed.every((client) => client.closes.length === 0), 'clients stay connected through the outage');

    await startRedis();
    await eventually(async () => (await Promise.all(cluster.nodes.map((node) => fetch(`${node.url}/healthz`).then((r) => r.status)))).every((s) => s === 200), 8000, 'both nodes to be healthy again');
    const { lastOffset } = await publishNumbered(b!.wsUrl, 'feed:outage', 100, { first: 101, window: 16 });
    assert.equal(lastOffset, 100, 'the restarted Redis (no persistence) began a new stream');
    await eventually(() => feed.every((client) => client.received.length === 200), 8000, 'every client to get the new publications');
    const counts = tally(feed, 200);
    const epochGaps = feed.filter((client) => client.gaps.some((g) => g.epochChanged)).length;
    t.diagnostic(
      `Redis outage: ${feed.length} clients; 100 before, publishes refused (503 unavailable after ${refusedMs} ms) during it, 100 after the restart: ` +
        `received ${counts.received}, lost ${counts.lost}, duplicates ${counts.duplicates}, clients told of the new epoch ${epochGaps}`,
    );
    assert.equal(counts.lost, 0);
    assert.equal(counts.duplicates, 0);
    assert.equal(epochGaps, feed.length, 'the lost stream is never a silent loss');
    assert.ok(cluster.nodes.every((node) => node.alive));
  });
});
