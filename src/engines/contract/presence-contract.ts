/**
 * The contract every {@link PresenceStore} must pass (memory, and later Redis): members and counts per
 * connection, distinct users, refresh and expiry.
 *
 * @example
 * ```ts
 * presenceContract('MemoryPresenceStore', async () => {
 *   let t = 0;
 *   const store = new MemoryPresenceStore({ now: () => t });
 *   return { store, now: (ms) => { t += ms; }, cleanup: () => store.close() };
 * });
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientInfo, PresenceStore } from '../../hub/engine.js';
import { type Clocked, code, elapse, timeUnit, uniqueChannel } from './support.js';

/** A fresh store for one test. */
export interface PresenceHarness extends Clocked {
  readonly store: PresenceStore;
  /** Advances the store's fake clock by `ms`; without it the expiry test waits in real time with a short TTL. */
  readonly now?: (ms: number) => void;
  /** Closes the store (it may already be closed) and removes what the test left behind. */
  cleanup(): Promise<void>;
}

const HOUR = 3_600_000;
const info = (clientId: string, userId: string, data?: unknown): ClientInfo =>
  data === undefined ? { clientId, userId } : { clientId, userId, data };

/** Registers the presence contract tests for one engine under `describe(name)`. */
export function presenceContract(name: string, make: () => Promise<PresenceHarness>): void {
  const withStore = (title: string, body: (h: PresenceHarness, channel: string) => Promise<void>) =>
    test(title, async () => {
      const harness = await make();
      try {
        await body(harness, uniqueChannel('presence'));
      } finally {
        await harness.cleanup();
      }
    });

  describe(`${name} (PresenceStore contract)`, () => {
    withStore('reads an unknown channel as empty', async ({ store }, channel) => {
      assert.equal((await store.members(channel)).size, 0);
      assert.deepEqual(await store.stats(channel), { clients: 0, users: 0 });
    });

    withStore('lists an added member by client id with its info intact', async ({ store }, channel) => {
      const alice = info('c1', 'alice', { name: 'Alice', roles: ['admin'], n: 1.5, none: null });
      await store.add(channel, alice, HOUR);
      const members = await store.members(channel);
      assert.deepEqual([...members.keys()], ['c1']);
      assert.deepEqual(members.get('c1'), alice);
      assert.deepEqual(await store.stats(channel), { clients: 1, users: 1 });
    });

    withStore('counts a user on two connections once in users, twice in clients', async ({ store }, channel) => {
      await store.add(channel, info('c1', 'alice'), HOUR);
      await store.add(channel, info('c2', 'alice'), HOUR);
      assert.deepEqual(await store.stats(channel), { clients: 2, users: 1 });
      await store.add(channel, info('c3', 'bob'), HOUR);
      assert.deepEqual(await store.stats(channel), { clients: 3, users: 2 });
      const members = await store.members(channel);
      assert.deepEqual([...members.keys()].sort(), ['c1', 'c2', 'c3']);
      assert.equal(members.get('c2')!.userId, 'alice');
    });

    withStore("counts anonymous connections as the one user ''", async ({ store }, channel) => {
      await store.add(channel, info('c1', ''), HOUR);
      await store.add(channel, info('c2', ''), HOUR);
      await store.add(channel, info('c3', 'carol'), HOUR);
      assert.deepEqual(await store.stats(channel), { clients: 3, users: 2 });
    });

    withStore('replaces the info of a member added again', async ({ store }, channel) => {
      await store.add(channel, info('c1', 'alice', { status: 'away' }), HOUR);
      await store.add(channel, info('c1', 'alice', { status: 'here' }), HOUR);
      const members = await store.members(channel);
      assert.equal(members.size, 1);
      assert.deepEqual(members.get('c1'), info('c1', 'alice', { status: 'here' }));
    });

    withStore('removes a member, idempotently, and keeps channels apart', async ({ store }, channel) => {
      await store.add(channel, info('c1', 'alice'), HOUR);
      await store.add(channel, info('c2', 'bob'), HOUR);
      await store.add(`${channel}-other`, info('c1', 'alice'), HOUR);
      await store.remove(channel, 'c1');
      await store.remove(channel, 'c1');
      await store.remove(channel, 'nobody');
      await store.remove(`${channel}-unknown`, 'c1');
      assert.deepEqual([...(await store.members(channel)).keys()], ['c2']);
      assert.deepEqual(await store.stats(channel), { clients: 1, users: 1 });
      assert.deepEqual(await store.stats(`${channel}-other`), { clients: 1, users: 1 });
      await store.remove(channel, 'c2');
      assert.deepEqual(await store.stats(channel), { clients: 0, users: 0 });
    });

    withStore('treats a client id of "__proto__" like any other', async ({ store }, channel) => {
      await store.add(channel, info('__proto__', 'mallory', JSON.parse('{"__proto__": {"polluted": true}}')), HOUR);
      const members = await store.members(channel);
      assert.equal(members.get('__proto__')!.userId, 'mallory');
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      assert.deepEqual(await store.stats(channel), { clients: 1, users: 1 });
    });

    withStore('expires members ttlMs after they were last added', async (h, channel) => {
      const T = timeUnit(h);
      await h.store.add(channel, info('c1', 'alice'), T);
      await h.store.add(channel, info('c2', 'bob'), T);
      await elapse(h, T * 0.6);
      await h.store.add(channel, info('c1', 'alice'), T);
      await elapse(h, T * 0.6);
      assert.deepEqual([...(await h.store.members(channel)).keys()], ['c1']);
      assert.deepEqual(await h.store.stats(channel), { clients: 1, users: 1 });
      await elapse(h, T * 0.6);
      assert.equal((await h.store.members(channel)).size, 0);
      assert.deepEqual(await h.store.stats(channel), { clients: 0, users: 0 });
    });

    withStore('rejects info that is not JSON with VOLLEY_ERR_NOT_JSON and a bad ttlMs with VOLLEY_ERR_INVALID_ARGUMENT', async ({ store }, channel) => {
      await assert.rejects(store.add(channel, info('c1', 'alice', { at: 1n }), HOUR), code('VOLLEY_ERR_NOT_JSON'));
      await assert.rejects(store.add(channel, info('c1', 'alice', () => 1), HOUR), code('VOLLEY_ERR_NOT_JSON'));
      await assert.rejects(store.add(channel, info('c1', 'alice'), 0), code('VOLLEY_ERR_INVALID_ARGUMENT'));
      await assert.rejects(store.add(channel, info('c1', 'alice'), Number.NaN), code('VOLLEY_ERR_INVALID_ARGUMENT'));
      assert.deepEqual(await store.stats(channel), { clients: 0, users: 0 });
    });

    withStore('closes idempotently, then rejects every call with VOLLEY_ERR_INVALID_STATE', async ({ store }, channel) => {
      await store.add(channel, info('c1', 'alice'), HOUR);
      await store.close();
      await store.close();
      await assert.rejects(store.add(channel, info('c2', 'bob'), HOUR), code('VOLLEY_ERR_INVALID_STATE'));
      await assert.rejects(store.members(channel), code('VOLLEY_ERR_INVALID_STATE'));
      await assert.rejects(store.stats(channel), code('VOLLEY_ERR_INVALID_STATE'));
      await assert.rejects(store.remove(channel, 'c1'), code('VOLLEY_ERR_INVALID_STATE'));
    });
  });
}
