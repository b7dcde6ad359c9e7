/**
 * RedisEngine: the atomic path (append and publish in one script). Nodes that append to one channel at once are
 * seen by every subscriber in offset order, exactly once, even though the hub also calls `broker.publish`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Recorder } from '../contract/broker-contract.js';
import { range, sleep, uniqueChannel, waitFor } from '../contract/support.js';
import { RedisEngine } from './index.js';
import { QUIET, REDIS_URL, deleteKeys, randomPrefix, redisOrSkip, redisTestFile } from './testing/support.js';

const { redis } = await redisTestFile();

const OPTIONS = { size: 1_000, ttlMs: 60_000 };

/** Nodes of one hub (one prefix); `close()` closes them and deletes the keys. */
function cluster(count: number) {
  const prefix = randomPrefix();
  const engines = range(1, count).map(() => new RedisEngine({ url: REDIS_URL, prefix, connection: QUIET }));
  return {
    engines,
    close: async () => {
      await Promise.all(engines.map((e) => e.close()));
      await deleteKeys(redis!.client, prefix);
    },
  };
}

/** What the hub does for a publish: append, then hand the result to the broker. */
async function hubPublish(engine: RedisEngine, channel: string, data: unknown) {
  const appended = await engine.history.append(channel, { data, time: Date.now() }, OPTIONS);
  if (!appended.duplicate) await engine.broker.publish(channel, appended.publication, appended.epoch);
  return appended;
}

describe('RedisEngine', () => {
  test('delivers concurrent publishes of two nodes to a third in offset order, each exactly once', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { engines, close } = cluster(3);
    try {
      const [a, b, c] = engines as [RedisEngine, RedisEngine, RedisEngine];
      const recorder = new Recorder();
      for (const engine of [a, b]) engine.broker.setHandler(new Recorder());
      c.broker.setHandler(recorder);
      const channel = uniqueChannel('atomic');
      await c.broker.subscribe(channel);
      const results = await Promise.all(range(1, 500).map((i) => hubPublish(i % 2 ? a : b, channel, i)));
      assert.ok(results.every((r) => r.publishedByHistory));
      await waitFor(() => recorder.offsets(channel).length >= 500, '500 deliveries');
      await sleep(50);
      assert.deepEqual(recorder.offsets(channel), range(1, 500));
      const epochs = new Set(recorder.on(channel).map((d) => (d.type === 'publication' ? d.epoch : '')));
      assert.deepEqual([...epochs], [results[0]!.epoch]);
    } finally {
      await close();
    }
  });

  test('keeps joins, leaves and publications of one node in call order', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { engines, close } = cluster(2);
    try {
      const [a, b] = engines as [RedisEngine, RedisEngine];
      const recorder = new Recorder();
      a.broker.setHandler(new Recorder());
      b.broker.setHandler(recorder);
      const channel = uniqueChannel('order');
      await b.broker.subscribe(channel);
      const alice = { clientId: 'c1', userId: 'alice' };
      await Promise.all([a.broker.publishJoin(channel, alice), hubPublish(a, channel, 'hi'), a.broker.publishLeave(channel, alice)]);
      await waitFor(() => recorder.on(channel).length === 3, 'three deliveries');
      assert.deepEqual(recorder.on(channel).map((d) => (d.type === 'publication' ? d.publication.offset : d.type)), ['join', 1, 'leave']);
    } finally {
      await close();
    }
  });

  test('publishes nothing for a duplicate append', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { engines, close } = cluster(1);
    try {
      const [a] = engines as [RedisEngine];
      const recorder = new Recorder();
      a.broker.setHandler(recorder);
      const channel = uniqueChannel('dup');
      await a.broker.subscribe(channel);
      const options = { ...OPTIONS, idempotencyKey: 'k', dedupeWindowMs: 60_000 };
      const first = await a.history.append(channel, { data: 1, time: 1 }, options);
      const again = await a.history.append(channel, { data: 2, time: 2 }, options);
      assert.deepEqual([first.duplicate, again.duplicate, again.publishedByHistory], [false, true, false]);
      await a.broker.publish(channel, { offset: 99, data: 'barrier', time: 3 }, 'e');
      await waitFor(() => recorder.on(channel).length === 2, 'the barrier');
      assert.deepEqual(recorder.offsets(channel), [1, 99]);
    } finally {
      await close();
    }
  });

  test('with atomicPublish: false, the broker publishes what the hub hands it', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const prefix = randomPrefix();
    const engine = new RedisEngine({ url: REDIS_URL, prefix, connection: QUIET, atomicPublish: false });
    try {
      const recorder = new Recorder();
      engine.broker.setHandler(recorder);
      const channel = uniqueChannel('plain');
      await engine.broker.subscribe(channel);
      const appended = await engine.history.append(channel, { data: 1, time: 1 }, OPTIONS);
      assert.equal(appended.publishedByHistory, false);
      await sleep(50);
      assert.deepEqual(recorder.offsets(channel), []);
      await engine.broker.publish(channel, appended.publication, appended.epoch);
      await waitFor(() => recorder.offsets(channel).length === 1, 'the publication');
    } finally {
      await engine.close();
      await deleteKeys(redis!.client, prefix);
    }
  });
});
