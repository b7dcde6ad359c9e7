/**
 * RedisIdempotencyStore: idempotent publishing in channels without history across nodes. A key publishes once per
 * window — sequential retries and concurrent publishes on two nodes alike — through the broker's Pub/Sub channel
 * and wire format (plain and sharded), and a failed call leaves no key behind.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Recorder } from '../contract/broker-contract.js';
import { code, range, sleep, uniqueChannel, waitFor } from '../contract/support.js';
import { createRedisClients, RedisEngine, RedisIdempotencyStore } from './index.js';
import { QUIET, REDIS_URL, deleteKeys, randomPrefix, redisOrSkip, redisTestFile } from './testing/support.js';

const { redis } = await redisTestFile();

const alice = { clientId: 'c1', userId: 'alice', data: { name: 'Alice' } };
const once = (idempotencyKey: string, windowMs = 60_000) => ({ idempotencyKey, windowMs });

/** Nodes of one hub; the last one's broker records what it receives on `channel`. */
async function hubOf(count: number, channel: string, options: { sharded?: boolean } = {}) {
  const prefix = randomPrefix();
  const engines = range(1, count).map(() => new RedisEngine({ url: REDIS_URL, prefix, connection: QUIET, ...options }));
  const recorder = new Recorder();
  for (const engine of engines) engine.broker.setHandler(engine === engines.at(-1) ? recorder : new Recorder());
  await engines.at(-1)!.broker.subscribe(channel);
  /** Waits until a barrier published after everything else arrives, then returns the data delivered before it. */
  const delivered = async () => {
    await engines[0]!.broker.publish(channel, { offset: 0, data: 'barrier', time: 0 }, '');
    await waitFor(() => recorder.on(channel).some((d) => d.type === 'publication' && d.publication.data === 'barrier'), 'the barrier');
    return recorder.on(channel).flatMap((d) => (d.type === 'publication' && d.publication.data !== 'barrier' ? [d.publication] : []));
  };
  return {
    engines,
    prefix,
    delivered,
    cleanup: async () => {
      await Promise.all(engines.map((e) => e.close()));
      await deleteKeys(redis!.client, prefix);
    },
  };
}

describe('RedisIdempotencyStore', () => {
  test('publishes a key once within its window, in the broker format, and answers a retry on another node as a duplicate', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const channel = uniqueChannel('ticker');
    const { engines, delivered, cleanup } = await hubOf(2, channel);
    try {
      const [a, b] = engines as [RedisEngine, RedisEngine];
      assert.equal(await a.idempotency.publishOnce(channel, { offset: 0, data: { px: 1 }, info: alice, time: 7 }, once('k')), true);
      assert.equal(await b.idempotency.publishOnce(channel, { offset: 0, data: { px: 2 }, time: 8 }, once('k')), false);
      assert.equal(await b.idempotency.publishOnce(channel, { offset: 0, data: { px: 3 }, time: 9 }, once('other')), true);
      assert.deepEqual(await delivered(), [
        { offset: 0, data: { px: 1 }, info: alice, time: 7 },
        { offset: 0, data: { px: 3 }, time: 9 },
      ]);
    } finally {
      await cleanup();
    }
  });

  test('delivers exactly one of 100 concurrent publishes with one key from two nodes', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const channel = uniqueChannel('race');
    const { engines, delivered, cleanup } = await hubOf(2, channel);
    try {
      const results = await Promise.all(range(1, 100).map((i) => engines[i % 2]!.idempotency.publishOnce(channel, { offset: 0, data: i, time: i }, once('same'))));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await delivered()).length, 1);
    } finally {
      await cleanup();
    }
  });

  test('publishes a key again once its window has ended', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const channel = uniqueChannel('window');
    const { engines, prefix, delivered, cleanup } = await hubOf(1, channel);
    try {
      const [a] = engines as [RedisEngine];
      assert.equal(await a.idempotency.publishOnce(channel, { offset: 0, data: 1, time: 1 }, once('k', 100)), true);
      const keys = (await redis!.client.call('keys', 'KEYS', [`${prefix}*:u:*`])) as string[];
      assert.equal(keys.length, 1);
      assert.ok(((await redis!.client.call('pttl', 'PTTL', keys)) as number) <= 100);
      assert.equal(await a.idempotency.publishOnce(channel, { offset: 0, data: 2, time: 2 }, once('k', 100)), false);
      await sleep(150);
      assert.equal(await a.idempotency.publishOnce(channel, { offset: 0, data: 3, time: 3 }, once('k', 100)), true);
      assert.deepEqual((await delivered()).map((p) => p.data), [1, 3]);
    } finally {
      await cleanup();
    }
  });

  test('publishes with SPUBLISH to a sharded broker', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const channel = uniqueChannel('sharded');
    const { engines, delivered, cleanup } = await hubOf(2, channel, { sharded: true });
    try {
      assert.equal(await engines[0]!.idempotency.publishOnce(channel, { offset: 0, data: 'hi', time: 1 }, once('k')), true);
      assert.deepEqual((await delivered()).map((p) => p.data), ['hi']);
    } finally {
      await cleanup();
    }
  });

  test('remembers nothing for data that is not JSON, and rejects VOLLEY_ERR_ENGINE_UNAVAILABLE when Redis is unreachable', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const channel = uniqueChannel('bad');
    const { engines, delivered, cleanup } = await hubOf(1, channel);
    const dead = createRedisClients('redis://127.0.0.1:1', { ...QUIET, offlineTimeoutMs: 200 });
    try {
      const [a] = engines as [RedisEngine];
      await assert.rejects(a.idempotency.publishOnce(channel, { offset: 0, data: () => 1, time: 1 }, once('k')), code('VOLLEY_ERR_NOT_JSON'));
      assert.equal(await a.idempotency.publishOnce(channel, { offset: 0, data: 'retried', time: 2 }, once('k')), true);
      assert.deepEqual((await delivered()).map((p) => p.data), ['retried']);
      const unreachable = new RedisIdempotencyStore({ client: dead.command });
      await assert.rejects(unreachable.publishOnce(channel, { offset: 0, data: 1, time: 1 }, once('k')), code('VOLLEY_ERR_ENGINE_UNAVAILABLE'));
    } finally {
      await dead.close();
      await cleanup();
    }
  });
});
