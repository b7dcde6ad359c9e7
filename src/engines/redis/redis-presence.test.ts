/**
 * RedisPresenceStore against the shared presence contract (real time), then what a shared store adds: members of
 * a node that died (never refreshed) disappear within their TTL, whether or not anyone reads, and the distinct
 * user count stays exact when a client changes user or expires.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { registerOrSkip } from '../../test-support/requirements.js';
import { presenceContract } from '../contract/presence-contract.js';
import { sleep, uniqueChannel } from '../contract/support.js';
import { RedisPresenceStore } from './index.js';
import { QUIET, REDIS_URL, ownedStore, randomPrefix, redisOrSkip, redisTestFile } from './testing/support.js';

const { unavailable, redis } = await redisTestFile();

const HOUR = 3_600_000;

function freshStore(prefix = randomPrefix()) {
  return ownedStore(new RedisPresenceStore({ url: REDIS_URL, connection: QUIET, prefix }), prefix, redis!);
}

registerOrSkip('RedisPresenceStore contract', unavailable, () => presenceContract('RedisPresenceStore', async () => freshStore()));

describe('RedisPresenceStore on a shared Redis', () => {
  test('forgets the members of a crashed node after their TTL, and Redis drops the keys when nobody reads', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const prefix = randomPrefix();
    const crashed = freshStore(prefix);
    const survivor = freshStore(prefix);
    try {
      const [watched, unread] = [uniqueChannel('crash'), uniqueChannel('crash')];
      await crashed.store.add(watched, { clientId: 'a1', userId: 'alice' }, 300);
      await crashed.store.add(unread, { clientId: 'a1', userId: 'alice' }, 300);
      await survivor.store.add(watched, { clientId: 'b1', userId: 'bob' }, HOUR);
      await crashed.store.close(); // the node dies: nothing refreshes its members
      assert.deepEqual(await survivor.store.stats(watched), { clients: 2, users: 2 });
      await sleep(400);
      assert.deepEqual([...(await survivor.store.members(watched)).keys()], ['b1']);
      assert.deepEqual(await survivor.store.stats(watched), { clients: 1, users: 1 });
      const keys = ['ph', 'pu', 'pn', 'pz'].map((s) => `${prefix}{${unread}}:${s}`);
      assert.equal(await redis!.client.call('test', 'EXISTS', keys), 0, 'the unread channel expired by itself');
    } finally {
      await survivor.cleanup();
    }
  });

  test('keeps the user count exact when a client is added again under another user', async (t) => {
    if (!(await redisOrSkip(t))) return;
    const { store, cleanup } = freshStore();
    try {
      const channel = uniqueChannel('users');
      await store.add(channel, { clientId: 'c1', userId: 'alice' }, HOUR);
      await store.add(channel, { clientId: 'c2', userId: 'alice' }, HOUR);
      await store.add(channel, { clientId: 'c1', userId: 'bob' }, HOUR);
      assert.deepEqual(await store.stats(channel), { clients: 2, users: 2 });
      await store.add(channel, { clientId: 'c2', userId: 'bob' }, HOUR);
      assert.deepEqual(await store.stats(channel), { clients: 2, users: 1 });
      await store.remove(channel, 'c1');
      await store.remove(channel, 'c2');
      assert.deepEqual(await store.stats(channel), { clients: 0, users: 0 });
    } finally {
      await cleanup();
    }
  });
});
