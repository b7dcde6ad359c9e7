/**
 * RedisRateLimitStore: the shared token bucket's arithmetic on Redis's clock (a debit from a full bucket, a debt
 * below zero, refill capped at the burst), the key expiring once the bucket would be full again, concurrent
 * debits from two nodes all counting, and failures with stable codes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { code, range, sleep } from '../contract/support.js';
import { createRedisClients, RedisRateLimitStore } from './index.js';
import { QUIET, REDIS_URL, deleteKeys, randomPrefix, redisOrSkip, redisTestFile } from './testing/support.js';

const { redis } = await redisTestFile();

/** A refill so slow that the milliseconds a test takes change a level by less than 1e-4 tokens. */
const STILL = { rate: 0.001 };

/** `count` stores on their own connections sharing one prefix; `cleanup` closes them and deletes the keys. */
function nodes(count = 1) {
  const prefix = randomPrefix();
  const clients = range(1, count).map(() => createRedisClients(REDIS_URL, { ...QUIET, prefix }));
  const stores = clients.map((c) => new RedisRateLimitStore({ client: c.command, prefix }));
  return {
    stores,
    prefix,
    cleanup: async () => {
      await Promise.all(clients.map((c) => c.close()));
      await deleteKeys(redis!.client, prefix);
    },
  };
}

function near(actual: number | undefined, expected: number, tolerance = 1e-3): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tolerance, `${actual} is not ${expected} ± ${tolerance}`);
}

describe('RedisRateLimitStore', () => {
  test('takes a debit from a full bucket, and goes below zero for a debt, per dimension', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { stores, cleanup } = nodes();
    try {
      const [store] = stores as [RedisRateLimitStore];
      const first = await store.debit('user', 'alice', { commands: { ...STILL, burst: 10, spent: 4 }, bytes: { ...STILL, burst: 1000, spent: 100 } });
      near(first.commands, 6);
      near(first.bytes, 900);
      const second = await store.debit('user', 'alice', { commands: { ...STILL, burst: 10, spent: 10 } });
      near(second.commands, -4);
      assert.equal(second.bytes, undefined, 'a dimension not debited is not answered');
      near((await store.debit('user', 'alice', { bytes: { ...STILL, burst: 1000, spent: 0 } })).bytes, 900);
    } finally {
      await cleanup();
    }
  });

  test("refills at rate per second on Redis's clock, never above the burst", async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { stores, cleanup } = nodes();
    try {
      const [store] = stores as [RedisRateLimitStore];
      const empty = { rate: 100, burst: 10 };
      near((await store.debit('ip', '10.0.0.1', { commands: { ...empty, spent: 10 } })).commands, 0, 0.2);
      const started = Date.now();
      await sleep(50);
      const level = (await store.debit('ip', '10.0.0.1', { commands: { ...empty, spent: 0 } })).commands!;
      const elapsed = Date.now() - started;
      assert.ok(level >= 4.8 && level <= Math.min(10, (elapsed + 20) / 10), `${level} tokens after ${elapsed} ms at 100/s`);
      await sleep(150);
      assert.equal((await store.debit('ip', '10.0.0.1', { commands: { ...empty, spent: 0 } })).commands, 10);
    } finally {
      await cleanup();
    }
  });

  test('lets the key expire when the bucket would be full again', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { stores, prefix, cleanup } = nodes();
    try {
      const [store] = stores as [RedisRateLimitStore];
      await store.debit('channel', 'news', { commands: { rate: 10, burst: 10, spent: 10 } });
      const ttl = (await redis!.client.call('pttl', 'PTTL', [`${prefix}rl:channel:news`])) as number;
      assert.ok(ttl > 900 && ttl <= 1000, `PTTL ${ttl}: 10 tokens at 10/s`);
      await store.debit('channel', 'quiet', { commands: { rate: 10, burst: 10, spent: 0 } });
      await sleep(10);
      assert.equal(await redis!.client.call('exists', 'EXISTS', [`${prefix}rl:channel:quiet`]), 0, 'a full bucket is as good as none');
    } finally {
      await cleanup();
    }
  });

  test('counts every debit of two nodes debiting one key at once, and keeps scopes apart', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { stores, cleanup } = nodes(2);
    try {
      const debit = { commands: { ...STILL, burst: 1000, spent: 1 } };
      await Promise.all(range(1, 200).map((i) => stores[i % 2]!.debit('user', 'alice', debit)));
      near((await stores[0]!.debit('user', 'alice', { commands: { ...STILL, burst: 1000, spent: 0 } })).commands, 800);
      near((await stores[1]!.debit('ip', 'alice', { commands: { ...STILL, burst: 1000, spent: 0 } })).commands, 1000);
    } finally {
      await cleanup();
    }
  });

  test('refuses an unknown scope or a bad number with VOLLEY_ERR_INVALID_ARGUMENT before sending anything', async () => {
    const clients = createRedisClients('redis://127.0.0.1:1', { ...QUIET, offlineTimeoutMs: 200 });
    try {
      const store = new RedisRateLimitStore({ client: clients.command });
      await assert.rejects(store.debit('tenant' as never, 'k', {}), code('VOLLEY_ERR_INVALID_ARGUMENT'));
      await assert.rejects(store.debit('user', 'k', { commands: { rate: 0, burst: 1, spent: 1 } }), code('VOLLEY_ERR_INVALID_ARGUMENT'));
      await assert.rejects(store.debit('user', 'k', { commands: { rate: 1, burst: 1, spent: -1 } }), code('VOLLEY_ERR_INVALID_ARGUMENT'));
      await assert.rejects(store.debit('user', 'k', { commands: { rate: 1, burst: 1, spent: 1 } }), code('VOLLEY_ERR_ENGINE_UNAVAILABLE'));
    } finally {
      await clients.close();
    }
  });
});
