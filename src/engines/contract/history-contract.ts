/**
 * The contract every {@link HistoryStore} must pass (memory, SQLite, and later Redis): offsets, reads, trimming,
 * expiry, idempotency, epochs and faithful JSON storage, exactly as the doc comments of hub/engine.ts state them.
 *
 * @example
 * ```ts
 * historyContract('MemoryHistoryStore', async () => {
 *   let t = 1_700_000_000_000;
 *   const store = new MemoryHistoryStore({ now: () => t });
 *   return { store, now: (ms) => { t += ms; }, cleanup: () => store.close() };
 * });
 * ```
 *
 * @module
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientInfo, HistoryStore, Publication } from '../../hub/engine.js';
import { type Clocked, code, elapse, range, timeUnit, uniqueChannel } from './support.js';

/** A fresh store for one test. */
export interface HistoryHarness extends Clocked {
  readonly store: HistoryStore;
  /**
   * Advances the store's fake clock by `ms`. Without it the timing tests use short TTLs (a few hundred ms) and
   * real waits.
   */
  readonly now?: (ms: number) => void;
  /** Closes the store (it may already be closed) and removes what the test left behind. */
  cleanup(): Promise<void>;
}

const LONG = { size: 1_000, ttlMs: 3_600_000 } as const;
const alice: ClientInfo = { clientId: 'client-1', userId: 'alice', data: { name: 'Alice', tags: ['a', 'b'] } };

function entry(data: unknown, info?: ClientInfo): { data: unknown; info?: ClientInfo; time: number } {
  return info === undefined ? { data, time: Date.now() } : { data, info, time: Date.now() };
}

const offsets = (publications: readonly Publication[]) => publications.map((p) => p.offset);

async function fill(store: HistoryStore, channel: string, count: number, options: { size: number; ttlMs: number } = LONG) {
  for (let i = 1; i <= count; i++) await store.append(channel, entry(`m${i}`), options);
}

/** Registers the history contract tests for one engine under `describe(name)`. */
export function historyContract(name: string, make: () => Promise<HistoryHarness>): void {
  const withStore = (title: string, body: (h: HistoryHarness, channel: string) => Promise<void>) =>
    test(title, async () => {
      const harness = await make();
      try {
        await body(harness, uniqueChannel('history'));
      } finally {
        await harness.cleanup();
      }
    });

  describe(`${name} (HistoryStore contract)`, () => {
    describe('offsets', () => {
      withStore('assigns gapless offsets from 1 to 200 concurrent appends, increasing in completion order', async ({ store }, channel) => {
        const completed: number[] = [];
        const results = await Promise.all(
          range(0, 199).map((i) =>
            store.append(channel, entry({ i }), LONG).then((result) => {
              completed.push(result.publication.offset);
              return result;
            }),
          ),
        );
        assert.deepEqual(completed, range(1, 200));
        assert.deepEqual([...results.map((r) => r.publication.offset)].sort((a, b) => a - b), range(1, 200));
        assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
        assert.ok(results.every((r) => !r.duplicate));
        const page = await store.read(channel, {});
        assert.deepEqual(offsets(page.publications), range(1, 200));
        for (const [i, result] of results.entries()) {
          assert.deepEqual(page.publications[result.publication.offset - 1]!.data, { i });
        }
      });

      withStore('keeps each channel gapless under concurrent appends across channels', async ({ store }, channel) => {
        const channels = [0, 1, 2, 3].map((n) => `${channel}-${n}`);
        const results = await Promise.all(range(0, 199).map((i) => store.append(channels[i % 4]!, entry(i), LONG)));
        for (const [n, ch] of channels.entries()) {
          const mine = results.filter((_, i) => i % 4 === n).map((r) => r.publication.offset);
          assert.deepEqual(mine, range(1, 50), ch);
          const page = await store.read(ch, {});
          assert.deepEqual(offsets(page.publications), range(1, 50));
          assert.deepEqual(page.publications.map((p) => p.data), range(0, 49).map((k) => k * 4 + n));
        }
      });

      withStore('returns the stored publication with its offset, data, info and time', async ({ store }, channel) => {
        const time = 1_700_000_000_123;
        const first = await store.append(channel, { data: { text: 'hi' }, info: alice, time }, LONG);
        assert.deepEqual(first.publication, { offset: 1, data: { text: 'hi' }, info: alice, time });
        assert.equal(first.duplicate, false);
        const second = await store.append(channel, { data: 'no info', time }, LONG);
        assert.deepEqual(second.publication, { offset: 2, data: 'no info', time });
        assert.equal(second.epoch, first.epoch);
        const page = await store.read(channel, {});
        assert.deepEqual(page.publications, [first.publication, second.publication]);
      });
    });

    describe('read', () => {
      withStore('returns everything kept, oldest first, without a query', async ({ store }, channel) => {
        await fill(store, channel, 10);
        const page = await store.read(channel, {});
        assert.deepEqual(offsets(page.publications), range(1, 10));
        assert.deepEqual(page.publications.map((p) => p.data), range(1, 10).map((i) => `m${i}`));
        assert.equal(page.offset, 10);
        assert.equal(page.oldest, 1);
      });

      withStore('treats since as exclusive and returns oldest first', async ({ store }, channel) => {
        await fill(store, channel, 10);
        assert.deepEqual(offsets((await store.read(channel, { since: 3 })).publications), range(4, 10));
        assert.deepEqual(offsets((await store.read(channel, { since: 0 })).publications), range(1, 10));
        assert.deepEqual(offsets((await store.read(channel, { since: 9 })).publications), [10]);
      });

      withStore('returns nothing after the newest offset, or beyond it', async ({ store }, channel) => {
        await fill(store, channel, 10);
        for (const since of [10, 11, 1_000_000]) {
          const page = await store.read(channel, { since });
          assert.deepEqual(page.publications, []);
          assert.equal(page.offset, 10);
          assert.equal(page.oldest, 1);
        }
      });

      withStore('stops at limit, taking the oldest after since', async ({ store }, channel) => {
        await fill(store, channel, 10);
        assert.deepEqual(offsets((await store.read(channel, { since: 3, limit: 2 })).publications), [4, 5]);
        assert.deepEqual(offsets((await store.read(channel, { limit: 3 })).publications), [1, 2, 3]);
        assert.deepEqual(offsets((await store.read(channel, { limit: 50 })).publications), range(1, 10));
        const none = await store.read(channel, { limit: 0 });
        assert.deepEqual(none.publications, []);
        assert.equal(none.offset, 10);
      });

      withStore('returns newest first with reverse, from the newest when since is absent', async ({ store }, channel) => {
        await fill(store, channel, 10);
        assert.deepEqual(offsets((await store.read(channel, { reverse: true })).publications), range(1, 10).reverse());
        assert.deepEqual(offsets((await store.read(channel, { reverse: true, limit: 3 })).publications), [10, 9, 8]);
      });

      withStore('with reverse and since, returns the newest publications after since, newest first', async ({ store }, channel) => {
        await fill(store, channel, 10);
        assert.deepEqual(offsets((await store.read(channel, { since: 3, reverse: true })).publications), range(4, 10).reverse());
        assert.deepEqual(offsets((await store.read(channel, { since: 3, reverse: true, limit: 2 })).publications), [10, 9]);
        assert.deepEqual((await store.read(channel, { since: 10, reverse: true })).publications, []);
      });

      withStore('reads an unknown channel as an empty stream: offset 0, oldest 1', async ({ store }, channel) => {
        const page = await store.read(channel, { since: 5, limit: 10 });
        assert.deepEqual(page.publications, []);
        assert.equal(page.offset, 0);
        assert.equal(page.oldest, 1);
        assert.equal(typeof page.epoch, 'string');
        assert.notEqual(page.epoch, '');
      });

      withStore('rejects a negative or fractional since or limit with VOLLEY_ERR_INVALID_ARGUMENT', async ({ store }, channel) => {
        for (const query of [{ since: -1 }, { since: 1.5 }, { limit: -1 }, { limit: 2.5 }, { since: Number.NaN }]) {
          await assert.rejects(store.read(channel, query), code('VOLLEY_ERR_INVALID_ARGUMENT'), JSON.stringify(query));
        }
      });
    });

    describe('trimming by size', () => {
      withStore('keeps the newest size publications and moves oldest', async ({ store }, channel) => {
        await fill(store, channel, 12, { size: 5, ttlMs: LONG.ttlMs });
        const page = await store.read(channel, {});
        assert.deepEqual(offsets(page.publications), range(8, 12));
        assert.equal(page.oldest, 8);
        assert.equal(page.offset, 12);
        assert.deepEqual(page.publications.map((p) => p.data), ['m8', 'm9', 'm10', 'm11', 'm12']);
      });

      withStore('starts a read from oldest when since is below it, so since + 1 < oldest reveals the loss', async ({ store }, channel) => {
        await fill(store, channel, 12, { size: 5, ttlMs: LONG.ttlMs });
        const page = await store.read(channel, { since: 2 });
        assert.deepEqual(offsets(page.publications), range(8, 12));
        assert.ok(2 + 1 < page.oldest);
        assert.deepEqual(offsets((await store.read(channel, { since: 2, reverse: true, limit: 2 })).publications), [12, 11]);
      });

      withStore('applies a smaller size at the next append', async ({ store }, channel) => {
        await fill(store, channel, 12, { size: 5, ttlMs: LONG.ttlMs });
        await store.append(channel, entry('m13'), { size: 3, ttlMs: LONG.ttlMs });
        const page = await store.read(channel, {});
        assert.deepEqual(offsets(page.publications), [11, 12, 13]);
        assert.equal(page.oldest, 11);
        assert.equal(page.offset, 13);
      });

      withStore('keeps offsets gapless after trimming (size 1)', async ({ store }, channel) => {
        const results = [];
        for (let i = 0; i < 5; i++) results.push(await store.append(channel, entry(i), { size: 1, ttlMs: LONG.ttlMs }));
        assert.deepEqual(results.map((r) => r.publication.offset), range(1, 5));
        const page = await store.read(channel, {});
        assert.deepEqual(offsets(page.publications), [5]);
        assert.equal(page.oldest, 5);
      });

      withStore('rejects a size below 1 or a ttlMs that is not positive with VOLLEY_ERR_INVALID_ARGUMENT', async ({ store }, channel) => {
        for (const options of [{ size: 0, ttlMs: 1000 }, { size: 1.5, ttlMs: 1000 }, { size: 10, ttlMs: 0 }, { size: 10, ttlMs: -5 }]) {
          await assert.rejects(store.append(channel, entry(1), options), code('VOLLEY_ERR_INVALID_ARGUMENT'), JSON.stringify(options));
        }
        assert.equal((await store.position(channel)).offset, 0);
      });
    });

    describe('expiry', () => {
      withStore('drops publications older than ttlMs and moves oldest past them', async (h, channel) => {
        const T = timeUnit(h);
        const options = { size: 100, ttlMs: T };
        const first = await h.store.append(channel, entry('old'), options);
        await elapse(h, T * 0.6);
        await h.store.append(channel, entry('new'), options);
        await elapse(h, T * 0.5);
        const page = await h.store.read(channel, {});
        assert.deepEqual(page.publications.map((p) => p.data), ['new']);
        assert.equal(page.oldest, 2);
        assert.equal(page.offset, 2);
        assert.equal(page.epoch, first.epoch);
        assert.deepEqual((await h.store.read(channel, { since: 0, reverse: true })).publications.map((p) => p.offset), [2]);
      });

      withStore('keeps the epoch and newest offset of a stream whose publications all expired (no false gap)', async (h, channel) => {
        const T = timeUnit(h);
        const first = await h.store.append(channel, entry('a'), { size: 100, ttlMs: T });
        await elapse(h, T * 1.25);
        const page = await h.store.read(channel, {});
        assert.deepEqual(page.publications, []);
        assert.equal(page.epoch, first.epoch);
        assert.equal(page.offset, 1);
        assert.equal(page.oldest, 2);
        const next = await h.store.append(channel, entry('b'), { size: 100, ttlMs: T });
        assert.equal(next.publication.offset, 2);
        assert.equal(next.epoch, first.epoch);
      });
    });

    describe('idempotency', () => {
      withStore('appends nothing for a key seen within the window and returns the first result', async ({ store }, channel) => {
        const options = { ...LONG, idempotencyKey: 'k1', dedupeWindowMs: 60_000 };
        const first = await store.append(channel, { data: { n: 1 }, info: alice, time: 1000 }, options);
        const again = await store.append(channel, { data: { n: 2 }, time: 2000 }, options);
        assert.equal(first.duplicate, false);
        assert.equal(again.duplicate, true);
        assert.equal(again.epoch, first.epoch);
        assert.deepEqual(again.publication, { offset: 1, data: { n: 1 }, info: alice, time: 1000 });
        const page = await store.read(channel, {});
        assert.equal(page.offset, 1);
        assert.deepEqual(offsets(page.publications), [1]);
      });

      withStore('appends for a different key, for no key, and for the same key in another channel', async ({ store }, channel) => {
        const window = { dedupeWindowMs: 60_000 };
        assert.equal((await store.append(channel, entry(1), { ...LONG, ...window, idempotencyKey: 'a' })).publication.offset, 1);
        assert.equal((await store.append(channel, entry(2), { ...LONG, ...window, idempotencyKey: 'b' })).publication.offset, 2);
        assert.equal((await store.append(channel, entry(3), LONG)).publication.offset, 3);
        const other = await store.append(`${channel}-other`, entry(4), { ...LONG, ...window, idempotencyKey: 'a' });
        assert.equal(other.duplicate, false);
        assert.equal(other.publication.offset, 1);
      });

      withStore('returns the first result even after the publication was trimmed by size', async ({ store }, channel) => {
        const options = { size: 1, ttlMs: LONG.ttlMs, idempotencyKey: 'k', dedupeWindowMs: 60_000 };
        await store.append(channel, entry('first'), options);
        await store.append(channel, entry('second'), { size: 1, ttlMs: LONG.ttlMs });
        const again = await store.append(channel, entry('retry'), options);
        assert.equal(again.duplicate, true);
        assert.equal(again.publication.offset, 1);
        assert.equal(again.publication.data, 'first');
        assert.equal((await store.position(channel)).offset, 2);
      });

      withStore('appends again once the dedupe window has passed', async (h, channel) => {
        const T = timeUnit(h);
        const options = { size: 100, ttlMs: T * 100, idempotencyKey: 'k', dedupeWindowMs: T };
        await h.store.append(channel, entry(1), options);
        await elapse(h, T * 0.5);
        assert.equal((await h.store.append(channel, entry(2), options)).duplicate, true);
        await elapse(h, T * 0.75);
        const later = await h.store.append(channel, entry(3), options);
        assert.equal(later.duplicate, false);
        assert.equal(later.publication.offset, 2);
        assert.equal((await h.store.append(channel, entry(4), options)).publication.offset, 2);
      });

      withStore('dedupes concurrent appends with one key to a single offset', async ({ store }, channel) => {
        const options = { ...LONG, idempotencyKey: 'same', dedupeWindowMs: 60_000 };
        const results = await Promise.all(range(1, 20).map((i) => store.append(channel, entry(i), options)));
        assert.deepEqual(new Set(results.map((r) => r.publication.offset)), new Set([1]));
        assert.equal(results.filter((r) => !r.duplicate).length, 1);
        assert.equal((await store.position(channel)).offset, 1);
      });
    });

    describe('epochs', () => {
      withStore('gives an unknown channel offset 0 and an epoch that stays the same', async ({ store }, channel) => {
        const first = await store.position(channel);
        assert.equal(first.offset, 0);
        assert.equal(typeof first.epoch, 'string');
        assert.notEqual(first.epoch, '');
        assert.deepEqual(await store.position(channel), first);
        assert.equal((await store.read(channel, {})).epoch, first.epoch);
        const appended = await store.append(channel, entry('x'), LONG);
        assert.equal(appended.epoch, first.epoch);
        assert.equal(appended.publication.offset, 1);
        assert.deepEqual(await store.position(channel), { epoch: first.epoch, offset: 1 });
      });

      withStore('starts a new epoch with offset 1 after remove()', async ({ store }, channel) => {
        await fill(store, channel, 3);
        const before = await store.position(channel);
        await store.remove(channel);
        const after = await store.position(channel);
        assert.equal(after.offset, 0);
        assert.notEqual(after.epoch, before.epoch);
        const next = await store.append(channel, entry('again'), LONG);
        assert.equal(next.publication.offset, 1);
        assert.equal(next.epoch, after.epoch);
        assert.deepEqual(offsets((await store.read(channel, {})).publications), [1]);
      });

      withStore('gives a new epoch to an append right after remove()', async ({ store }, channel) => {
        const first = await store.append(channel, entry(1), LONG);
        await store.remove(channel);
        const next = await store.append(channel, entry(2), LONG);
        assert.notEqual(next.epoch, first.epoch);
        assert.equal(next.publication.offset, 1);
      });

      withStore('forgets idempotency keys with the stream on remove()', async ({ store }, channel) => {
        const options = { ...LONG, idempotencyKey: 'k', dedupeWindowMs: 60_000 };
        await store.append(channel, entry(1), options);
        await store.remove(channel);
        const next = await store.append(channel, entry(2), options);
        assert.equal(next.duplicate, false);
        assert.equal(next.publication.data, 2);
      });

      withStore('resolves remove() of an unknown channel', async ({ store }, channel) => {
        await store.remove(channel);
        await store.remove(channel);
      });
    });

    describe('data', () => {
      const values: Array<[string, unknown]> = [
        ['nested objects', { a: { b: { c: [1, { d: 'e' }] } }, empty: {}, list: [] }],
        ['unicode', 'héllo wörld ✓ 🌍 日本語 \u2028\u2029 \ud83d\ude00'],
        ['a lone surrogate', 'half \ud800 pair'],
        ['numbers', [0, 1, -1, 1.5, -2.25, 1e300, 5e-324, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]],
        ['null', null],
        ['booleans', [true, false]],
        ['arrays', [[], [[]], [1, 'two', null, { three: 3 }]]],
        ['strings with NUL and control characters', 'a\u0000b\u0001c\n\t"\\'],
        ['an empty string', ''],
        ['a top-level number', 42],
        ['deep nesting', JSON.parse('['.repeat(64) + ']'.repeat(64))],
        ['an object with a null prototype', Object.assign(Object.create(null), { plain: 'data' })],
      ];
      for (const [what, value] of values) {
        withStore(`round-trips ${what} exactly`, async ({ store }, channel) => {
          const result = await store.append(channel, entry(value, { ...alice, data: value }), LONG);
          const [read] = (await store.read(channel, {})).publications;
          const expected = JSON.parse(JSON.stringify(value));
          assert.deepStrictEqual(read!.data, expected);
          assert.deepStrictEqual(read!.info, JSON.parse(JSON.stringify({ ...alice, data: value })));
          assert.deepStrictEqual(JSON.parse(JSON.stringify(result.publication.data)), expected);
        });
      }

      withStore('keeps __proto__ keys as data and never pollutes Object.prototype', async ({ store }, channel) => {
        const data = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "x": 1}');
        const info = { clientId: 'c', userId: 'u', data: JSON.parse('{"__proto__": {"isAdmin": true}}') };
        await store.append(channel, { data, info, time: 1 }, LONG);
        const [read] = (await store.read(channel, {})).publications;
        const back = read!.data as Record<string, unknown>;
        assert.ok(Object.hasOwn(back, '__proto__'));
        assert.deepStrictEqual(back, data);
        assert.deepStrictEqual(Object.getPrototypeOf(back), Object.prototype);
        assert.deepStrictEqual(read!.info, info);
        assert.equal((read!.info!.data as Record<string, unknown>)['isAdmin'], undefined);
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
        assert.equal(({} as Record<string, unknown>)['isAdmin'], undefined);
      });

      const notJson: Array<[string, unknown]> = [
        ['undefined', undefined],
        ['a function', () => 1],
        ['a BigInt', 10n],
        ['a symbol', Symbol('s')],
        ['NaN', Number.NaN],
        ['Infinity', Number.POSITIVE_INFINITY],
        ['undefined inside an object', { a: 1, b: undefined }],
        ['undefined inside an array', [1, undefined]],
        ['a BigInt inside an array', [1, 2n]],
        ['a function inside an object', { f() {} }],
        ['a Map', new Map([['a', 1]])],
        ['a Date', new Date(0)],
        ['a circular structure', (() => { const o: Record<string, unknown> = {}; o['self'] = o; return o; })()],
      ];
      for (const [what, value] of notJson) {
        withStore(`rejects ${what} with VOLLEY_ERR_NOT_JSON and stores nothing`, async ({ store }, channel) => {
          await assert.rejects(store.append(channel, { data: value, time: 1 }, LONG), code('VOLLEY_ERR_NOT_JSON'));
          assert.equal((await store.position(channel)).offset, 0);
        });
      }

      withStore('rejects presence info data that is not JSON with VOLLEY_ERR_NOT_JSON', async ({ store }, channel) => {
        const info = { clientId: 'c', userId: 'u', data: { when: 1n } };
        await assert.rejects(store.append(channel, { data: 1, info, time: 1 }, LONG), code('VOLLEY_ERR_NOT_JSON'));
      });
    });

    describe('lifecycle', () => {
      withStore('closes idempotently, then rejects every call with VOLLEY_ERR_INVALID_STATE', async ({ store }, channel) => {
        await store.append(channel, entry(1), LONG);
        await store.close();
        await store.close();
        await assert.rejects(store.append(channel, entry(2), LONG), code('VOLLEY_ERR_INVALID_STATE'));
        await assert.rejects(store.read(channel, {}), code('VOLLEY_ERR_INVALID_STATE'));
        await assert.rejects(store.position(channel), code('VOLLEY_ERR_INVALID_STATE'));
        await assert.rejects(store.remove(channel), code('VOLLEY_ERR_INVALID_STATE'));
      });
    });
  });
}
