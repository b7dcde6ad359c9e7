/**
 * A Pub/Sub connection that stays open but delivers nothing (a half-dead TCP path, a stuck proxy): two real
 * `volley serve --redis` processes, both reaching Redis through a {@link DeafProxy}, which silences node B's broker
 * connection on demand. Publications made on node A then reach history but not B's subscribers; the hub's
 * periodic position check (`limits.positionCheckIntervalMs`, 1 s here) must find B behind and replay them from
 * history, without the WebSocket clients noticing anything but the delay. Every count is printed as a test
 * diagnostic.
 *
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379): skipped with one line when it is unreachable,
 * except with CI=true, where that fails.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test, type TestContext } from 'node:test';
import { range, sleep, waitFor } from '../engines/contract/support.js';
import { REDIS_URL, probeRedis, redisOrSkip } from '../engines/redis/testing/support.js';
import { presentOrSkip } from '../test-support/requirements.js';
import { DeafProxy } from './deaf-proxy.js';
import { Cluster, publishNumbered, RecoveringClient, tally, type ClusterNode } from './harness.js';

const CHECK_MS = 1000;
/**
 * A starved subscription is resynced at the second check in a row that sees the same top (two to three intervals
 * after the last publish, the hub sweeping once a second); the rest is slack for a loaded machine.
 */
const HEAL_WITHIN_MS = 8000;
const CONFIG = {
  namespaces: { default: { historySize: 10_000, historyTtlMs: 600_000 } },
  rateLimits: { connection: false },
  limits: { positionCheckIntervalMs: CHECK_MS },
};

/** The host and port of a `redis://` URL, or why the proxy cannot stand in front of it. */
function redisTarget(url: string): { host: string; port: number } | string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:') return `REDIS_URL is ${parsed.protocol}//, not redis://: the proxy speaks plain RESP2 over TCP only`;
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 6379) };
}

/** REDIS_URL with the proxy's address instead of Redis's (credentials and database kept). */
function throughProxy(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}

/** Log lines of `node` saying the position check resynced `channel`. */
function starvedLines(node: ClusterNode, channel: string): number {
  return node.output.filter((line) => line.includes('subscription starved') && line.includes(channel)).length;
}

describe('a deaf Pub/Sub connection (open, silent) under node B of two', { timeout: 60_000 }, () => {
  let proxy: DeafProxy | undefined;
  let cluster: Cluster | undefined;
  const clients: RecoveringClient[] = [];

  before(async () => {
    const target = redisTarget(REDIS_URL);
    if (typeof target === 'string' || (await probeRedis()) !== undefined) return;
    proxy = await DeafProxy.start(target);
    cluster = await Cluster.start({ nodes: 2, redisUrl: throughProxy(REDIS_URL, proxy.port), config: CONFIG });
  });

  // Whatever a test deafened, even a test that failed, hears again before the next test.
  afterEach(() => proxy?.hear());

  after(async () => {
    for (const client of clients) client.stop();
    await cluster?.stop();
    await proxy?.close();
  });

  /** Skips (or fails under CI) without Redis, and without a plain redis:// URL the proxy can stand in front of. */
  async function ready(t: TestContext): Promise<{ a: ClusterNode; b: ClusterNode; proxy: DeafProxy } | undefined> {
    if (!(await redisOrSkip(t))) return undefined;
    const target = redisTarget(REDIS_URL);
    if (!presentOrSkip(t, typeof target === 'string' ? target : undefined)) return undefined;
    const [a, b] = cluster!.nodes as [ClusterNode, ClusterNode];
    return { a, b, proxy: proxy! };
  }

  /**
   * `count` clients of `channel` on node B only (they never move to A), and the Pub/Sub channel name that only
   * B's broker connection subscribes to (A has no subscriber of `channel`).
   */
  async function subscribersOnB(channel: string, count: number): Promise<{ feed: RecoveringClient[]; name: string }> {
    const b = cluster!.nodes[1]!;
    const feed = Array.from({ length: count }, () => new RecoveringClient({ urls: () => [b.wsUrl], channel }));
    clients.push(...feed);
    await Promise.all(feed.map((client) => client.start()));
    const name = `${cluster!.prefix}{${channel}}`;
    assert.equal(proxy!.listeners(name), 1, "only B's broker connection listens to the channel");
    return { feed, name };
  }

  test('publications made while B is deaf are replayed from history by the position check: each once, in order, no gap; live delivery resumes without a duplicate once B hears again', async (t) => {
    const nodes = await ready(t);
    if (nodes === undefined) return;
    const { a, b, proxy } = nodes;
    const channel = 'deaf:burst';
    const { feed, name } = await subscribersOnB(channel, 5);
    const dropped = proxy.droppedMessages;
    // 1. Hearing: 50 publications on A reach every subscriber on B live.
    await publishNumbered(a.wsUrl, channel, 50, { window: 16 });
    await Promise.all(feed.map((client) => client.reach(50, 5000)));

    // 2. Deaf: 100 more reach history only; B stays connected and hears nothing.
    proxy.deafen(name);
    await publishNumbered(a.wsUrl, channel, 100, { first: 51, window: 16 });
    const published = Date.now();
    assert.deepEqual(
      feed.map((client) => client.position!.offset),
      [50, 50, 50, 50, 50],
      'nothing reaches B while its Pub/Sub connection is deaf',
    );
    await Promise.all(feed.map((client) => client.reach(150, HEAL_WITHIN_MS)));
    const healedMs = Date.now() - published;
    await waitFor(() => starvedLines(b, channel) >= 1, "B's log to report the starved subscription", 2000);
    assert.equal(proxy.droppedMessages - dropped, 100, 'the proxy swallowed exactly the 100 publications');
    assert.equal(starvedLines(b, channel), 1, 'one resync healed it');
    assert.equal(starvedLines(a, channel), 0);

    // 3. Hearing again: 100 more arrive live; nothing is dropped and nothing already replayed comes twice.
    proxy.hear();
    const heard = Date.now();
    await publishNumbered(a.wsUrl, channel, 100, { first: 151, window: 16 });
    await Promise.all(feed.map((client) => client.reach(250, 5000)));
    const liveMs = Date.now() - heard;
    await sleep(300); // a late duplicate would arrive by now

    const counts = tally(feed, 250);
    t.diagnostic(
      `deaf Pub/Sub: ${feed.length} clients on ${b.nodeId} × 250 publications on ${a.nodeId} (50 live, 100 while deaf, 100 after): ` +
        `${proxy.droppedMessages - dropped} swallowed by the proxy; healed ${healedMs} ms after the last deaf publish ` +
        `(check interval ${CHECK_MS} ms, ${starvedLines(b, channel)} resync); the last 100 arrived within ${liveMs} ms of hearing again; ` +
        `received ${counts.received}, lost ${counts.lost}, duplicates ${counts.duplicates}, out of order ${counts.outOfOrder}, gaps ${counts.gaps}`,
    );
    assert.equal(counts.received, feed.length * 250);
    assert.deepEqual(
      { lost: counts.lost, duplicates: counts.duplicates, outOfOrder: counts.outOfOrder, gaps: counts.gaps },
      { lost: 0, duplicates: 0, outOfOrder: 0, gaps: 0 },
    );
    for (const client of feed) {
      assert.deepEqual(client.received, range(1, 250));
      assert.deepEqual(client.closes, [], 'healed in place: no client was disconnected');
      assert.equal(client.url, b.wsUrl);
    }
    assert.equal(proxy.droppedMessages - dropped, 100, 'nothing dropped after hearing again');
  });

  test(
    'under continuous publishing, a deaf subscription is healed while the publishing goes on, not only once the channel is quiet',
    async (t) => {
      const nodes = await ready(t);
      if (nodes === undefined) return;
      const { a, proxy } = nodes;
      const channel = 'deaf:steady';
      const { feed, name } = await subscribersOnB(channel, 5);
      await publishNumbered(a.wsUrl, channel, 10, { window: 16 });
      await Promise.all(feed.map((client) => client.reach(10, 5000)));
      proxy.deafen(name);
      // 125 publications at 25/s: 5 s, five position checks while the top keeps moving.
      const started = Date.now();
      await publishNumbered(a.wsUrl, channel, 125, { first: 11, window: 4, ratePerSecond: 25 });
      const atEnd = feed.map((client) => client.position!.offset);
      t.diagnostic(`deaf under ${Date.now() - started} ms of steady publishing: positions when it ended ${atEnd.join(', ')} (deafened at 10, top 135)`);
      // Healed at least once while publishing: the first second's publications were delivered by then.
      assert.ok(
        atEnd.every((offset) => offset >= 35),
        `healed while publishing (positions ${atEnd.join(', ')})`,
      );
      await Promise.all(feed.map((client) => client.reach(135, HEAL_WITHIN_MS)));
      const counts = tally(feed, 135);
      assert.deepEqual({ lost: counts.lost, outOfOrder: counts.outOfOrder, gaps: counts.gaps }, { lost: 0, outOfOrder: 0, gaps: 0 });
    },
  );

  test(
    'a deafness shorter than two checks, then hearing again: the jump in offsets is caught up from history, not reported as a gap history can fill',
    async (t) => {
      const nodes = await ready(t);
      if (nodes === undefined) return;
      const { a, proxy } = nodes;
      const channel = 'deaf:short';
      const { feed, name } = await subscribersOnB(channel, 5);
      await publishNumbered(a.wsUrl, channel, 10, { window: 16 });
      await Promise.all(feed.map((client) => client.reach(10, 5000)));
      proxy.deafen(name);
      await publishNumbered(a.wsUrl, channel, 10, { first: 11, window: 16 });
      proxy.hear();
      await publishNumbered(a.wsUrl, channel, 10, { first: 21, window: 16 });
      await Promise.all(feed.map((client) => client.reach(30, HEAL_WITHIN_MS)));
      await sleep(300);
      const counts = tally(feed, 30);
      t.diagnostic(
        `deaf for 10 of 30 publications, then hearing: received ${counts.received}, lost ${counts.lost}, gaps ${counts.gaps} ` +
          `(${JSON.stringify(feed[0]!.gaps)}), out of order ${counts.outOfOrder}`,
      );
      assert.deepEqual({ lost: counts.lost, outOfOrder: counts.outOfOrder, gaps: counts.gaps }, { lost: 0, outOfOrder: 0, gaps: 0 });
      for (const client of feed) assert.deepEqual(client.received, range(1, 30));
    },
  );
});
