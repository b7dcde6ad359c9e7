/**
 * RedisHistoryStore against the shared history contract (real time: Redis expires on its own clock), alone and
 * with the append script publishing, then what only a shared store must do: gapless offsets when two nodes append
 * at once, keys that expire by themselves, a clean new epoch when the meta key was lost, and scripts that survive
 * an empty script cache.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { registerOrSkip } from '../../test-support/requirements.js';
import { historyContract } from '../contract/history-contract.js';
import { code, range, sleep, uniqueChannel } from '../contract/support.js';
import { LuaScript } from './connection.js';
import { RedisHistoryStore } from './index.js';
import { QUIET, REDIS_URL, deleteKeys, ownedStore, randomPrefix, redisOrSkip, redisTestFile } from './testing/support.js';

const { unavailable, redis } = await redisTestFile();

const LONG = { size: 100, ttlMs: 3_600_000 };
const entry = (data: unknown) => ({ data, time: 1_700_000_000_000 });

/** A store on its own connection and prefix; `cleanup` closes it and deletes its keys. */
function freshStore(options: { publishOnAppend?: boolean; prefix?: string } = {}) {
  const prefix = options.prefix ?? randomPrefix();
  return ownedStore(new RedisHistoryStore({ url: REDIS_URL, connection: QUIET, prefix, publishOnAppend: options.publishOnAppend ?? false }), prefix, redis!);
}

registerOrSkip('RedisHistoryStore contract', unavailable, () => {
  historyContract('RedisHistoryStore', async () => freshStore());
  historyContract('RedisHistoryStore publishing on append', async () => freshStore({ publishOnAppend: true }));
});

describe('RedisHistoryStore on a shared Redis', () => {
  test('gives 500 concurrent appends from two nodes gapless offsets 1..500 in one epoch', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const prefix = randomPrefix();
    const a = freshStore({ prefix });
    const b = freshStore({ prefix });
    try {
      const channel = uniqueChannel('atomic');
      const results = await Promise.all(range(1, 500).map((i) => (i % 2 ? a.store : b.store).append(channel, entry(i), { size: 1_000, ttlMs: 60_000 })));
      assert.deepEqual(results.map((r) => r.publication.offset).sort((x, y) => x - y), range(1, 500));
      assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
      const page = await a.store.read(channel, {});
      assert.deepEqual(page.publications.map((p) => p.offset), range(1, 500));
      for (const result of results) assert.deepEqual(page.publications[result.publication.offset - 1]!.data, result.publication.data);
      assert.deepEqual(await b.store.position(channel), { epoch: results[0]!.epoch, offset: 500 });
    } finally {
      await a.cleanup();
      await b.store.close();
    }
  });

  test('expires the stream with its newest publication and the meta emptyStreamTtlMs later', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const prefix = randomPrefix();
    const store = new RedisHistoryStore({ url: REDIS_URL, connection: QUIET, prefix, emptyStreamTtlMs: 60_000 });
    try {
      const channel = uniqueChannel('ttl');
      await store.append(channel, entry(1), { size: 10, ttlMs: 5_000 });
      const tag = `${prefix}{${channel}}`;
      const streamTtl = (await redis!.client.call('test', 'PTTL', [`${tag}:s`])) as number;
      const metaTtl = (await redis!.client.call('test', 'PTTL', [`${tag}:m`])) as number;
      assert.ok(streamTtl > 4_000 && streamTtl <= 5_000, `stream PTTL ${streamTtl}`);
      assert.ok(metaTtl > 64_000 && metaTtl <= 65_000, `meta PTTL ${metaTtl}`);
      await store.remove(channel);
      assert.equal(await redis!.client.call('test', 'EXISTS', [`${tag}:s`, `${tag}:m`]), 0);
    } finally {
      await store.close();
      await deleteKeys(redis!.client, prefix);
    }
  });

  test('drops an expired run of several publications at the head and keeps the rest in order', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { store, cleanup } = freshStore();
    try {
      const channel = uniqueChannel('expired-run');
      // 1..5 live 300 ms, 6..10 a minute: only the first run can have expired when we read, however slowly the
      // appends go (with 300 ms for all of them the test failed on a loaded machine, every entry gone).
      for (let i = 1; i <= 5; i++) await store.append(channel, entry(i), { size: 100, ttlMs: 300 });
      for (let i = 6; i <= 10; i++) await store.append(channel, entry(i), { size: 100, ttlMs: 60_000 });
      await sleep(400);
      const page = await store.read(channel, {});
      assert.deepEqual(page.publications.map((p) => p.offset), range(6, 10));
      assert.deepEqual([page.oldest, page.offset], [6, 10]);
      assert.deepEqual((await store.read(channel, { since: 2, limit: 2 })).publications.map((p) => p.offset), [6, 7]);
      const next = await store.append(channel, entry(11), { size: 100, ttlMs: 300 });
      assert.equal(next.publication.offset, 11);
    } finally {
      await cleanup();
    }
  });

  test('remembers an idempotency key for exactly the dedupe window (PEXPIRE on its own key)', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { store, prefix, cleanup } = freshStore();
    try {
      const channel = uniqueChannel('dedupe');
      await store.append(channel, entry(1), { ...LONG, idempotencyKey: 'retry-1', dedupeWindowMs: 30_000 });
      const [key] = (await redis!.client.call('test', 'KEYS', [`${prefix}{${channel}}:i:*`])) as string[];
      assert.ok(key !== undefined, 'the idempotency key exists');
      const ttl = (await redis!.client.call('test', 'PTTL', [key])) as number;
      assert.ok(ttl > 29_000 && ttl <= 30_000, `PTTL ${ttl}`);
      await store.append(channel, entry(2), { ...LONG, idempotencyKey: 'once', dedupeWindowMs: 0 });
      assert.equal(((await redis!.client.call('test', 'KEYS', [`${prefix}{${channel}}:i:*`])) as string[]).length, 1, 'a zero window stores nothing');
    } finally {
      await cleanup();
    }
  });

  test('starts a clean new epoch when the meta key was lost but publications were left behind', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { store, prefix, cleanup } = freshStore();
    try {
      const channel = uniqueChannel('lost-meta');
      const first = await store.append(channel, entry('a'), LONG);
      await store.append(channel, entry('b'), LONG);
      await redis!.client.call('test', 'DEL', [`${prefix}{${channel}}:m`]);
      const next = await store.append(channel, entry('c'), LONG);
      assert.notEqual(next.epoch, first.epoch);
      assert.equal(next.publication.offset, 1);
      const page = await store.read(channel, {});
      assert.deepEqual(page.publications.map((p) => p.data), ['c']);
      assert.equal(page.oldest, 1);
    } finally {
      await cleanup();
    }
  });

  test('does not let an idempotency key of a removed stream count as seen in the new epoch', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { store, cleanup } = freshStore();
    try {
      const channel = uniqueChannel('epoch-dedupe');
      const options = { ...LONG, idempotencyKey: 'k', dedupeWindowMs: 60_000 };
      await store.append(channel, entry(1), options);
      await store.remove(channel);
      const again = await store.append(channel, entry(2), options);
      assert.equal(again.duplicate, false);
      assert.equal(again.publication.offset, 1);
    } finally {
      await cleanup();
    }
  });

  test('runs a script Redis has not cached (EVALSHA answers NOSCRIPT, EVAL runs and caches it)', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const script = new LuaScript('probe', `-- ${randomPrefix()}\nreturn ARGV[1]`);
    assert.deepEqual(await redis!.client.call('test', 'SCRIPT', ['EXISTS', script.sha]), [0]);
    assert.equal(await redis!.client.evalScript('probe', script, [], ['first']), 'first');
    assert.deepEqual(await redis!.client.call('test', 'SCRIPT', ['EXISTS', script.sha]), [1]);
    assert.equal(await redis!.client.evalScript('probe', script, [], ['second']), 'second');
  });

  test('rejects an append with VOLLEY_ERR_ENGINE_UNAVAILABLE, naming the cause, when Redis is unreachable', async () => {
    const store = new RedisHistoryStore({ url: 'redis://127.0.0.1:1', connection: { ...QUIET, offlineTimeoutMs: 200 } });
    try {
      const started = Date.now();
      await assert.rejects(store.append('chat:1', entry(1), LONG), (error: Error) => {
        code('VOLLEY_ERR_ENGINE_UNAVAILABLE')(error);
        assert.match(error.message, /append to chat:1/);
        return true;
      });
      assert.ok(Date.now() - started < 1_500, 'within a bounded time');
    } finally {
      await store.close();
    }
  });

  test('rejects a prefix with braces, which would move the cluster hash tag', () => {
    assert.throws(() => new RedisHistoryStore({ url: REDIS_URL, prefix: 'a{b}:' }), code('VOLLEY_ERR_INVALID_ARGUMENT'));
  });
});
