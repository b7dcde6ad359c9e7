/**
 * SqliteHistoryStore against the shared history contract (in memory and on a file), then what only a durable
 * store must do: keep epochs and offsets across a reopen, really delete trimmed rows, share a file between
 * connections, and refuse a schema it does not know.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { guardProcess } from '../test-support/process-guard.js';
import { historyContract } from './contract/history-contract.js';
import { code, fakeClock, range, recordingTimers } from './contract/support.js';
import { DEFAULT_SQLITE_PATH, SqliteHistoryStore } from './index.js';

const guard = guardProcess();
const root = mkdtempSync(join(tmpdir(), 'volley-sqlite-'));
after(async () => {
  rmSync(root, { recursive: true, force: true });
  await guard.assertClean();
});

let files = 0;
/** A fresh database path in a fresh directory. */
const freshPath = () => join(root, `db-${++files}`, 'history.db');

historyContract("SqliteHistoryStore ':memory:'", async () => {
  const clock = fakeClock();
  const store = new SqliteHistoryStore({ path: ':memory:', now: clock.now });
  return { store, now: clock.advance, cleanup: () => store.close() };
});

/** Every test reopens one file (channels are unique per test), as a suite against a shared Redis would. */
const sharedPath = freshPath();
historyContract('SqliteHistoryStore on a file', async () => {
  const clock = fakeClock();
  const store = new SqliteHistoryStore({ path: sharedPath, now: clock.now });
  return { store, now: clock.advance, cleanup: () => store.close() };
});

const LONG = { size: 100, ttlMs: 3_600_000 };
const entry = (data: unknown) => ({ data, time: 1_700_000_000_000 });

/** Reads the database directly, read-only, to see what is really on disk. */
function inspect<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

describe('SqliteHistoryStore durability', () => {
  test('keeps epoch, offsets, data and idempotency keys across close and reopen', async () => {
    const path = freshPath();
    const clock = fakeClock();
    const first = new SqliteHistoryStore({ path, now: clock.now });
    const results = [];
    for (let i = 1; i <= 3; i++) {
      results.push(await first.append('chat:lobby', entry({ n: i }), { ...LONG, idempotencyKey: `k${i}`, dedupeWindowMs: 60_000 }));
    }
    const untouched = await first.position('chat:empty');
    await first.close();

    const reopened = new SqliteHistoryStore({ path, now: clock.now });
    assert.deepEqual(await reopened.position('chat:lobby'), { epoch: results[0]!.epoch, offset: 3 });
    assert.deepEqual(await reopened.position('chat:empty'), untouched);
    const again = await reopened.append('chat:lobby', entry('retry'), { ...LONG, idempotencyKey: 'k2', dedupeWindowMs: 60_000 });
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.publication, results[1]!.publication);
    const next = await reopened.append('chat:lobby', entry({ n: 4 }), LONG);
    assert.equal(next.epoch, results[0]!.epoch);
    assert.equal(next.publication.offset, 4);
    const page = await reopened.read('chat:lobby', {});
    assert.deepEqual(page.publications.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await reopened.close();
  });

  test("keeps everything across a reopen with synchronous: 'full' too", async () => {
    const path = freshPath();
    const first = new SqliteHistoryStore({ path, synchronous: 'full' });
    const appended = await first.append('ch', entry('durable'), LONG);
    await first.close();
    const reopened = new SqliteHistoryStore({ path, synchronous: 'full' });
    assert.deepEqual(await reopened.position('ch'), { epoch: appended.epoch, offset: 1 });
    await reopened.close();
  });

  /** Rewrites the session record as a crashed session would have left it. */
  function crashed(path: string, boot: string | undefined, synchronous = 'normal'): void {
    const db = new Database(path);
    const set = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
    set.run('clean', '0');
    set.run('synchronous', synchronous);
    if (boot !== undefined) set.run('boot', boot);
    db.close();
  }

  test('gives every stream a new epoch after an unclean shutdown on an earlier boot (commits may be lost)', async () => {
    const path = freshPath();
    const first = new SqliteHistoryStore({ path });
    const a = await first.append('a', entry(1), { ...LONG, idempotencyKey: 'k', dedupeWindowMs: 60_000 });
    const b = await first.position('b');
    await first.close();
    crashed(path, 'an-earlier-boot');
    const reopened = new SqliteHistoryStore({ path });
    const afterA = await reopened.position('a');
    assert.notEqual(afterA.epoch, a.epoch);
    assert.equal(afterA.offset, 1);
    assert.notEqual((await reopened.position('b')).epoch, b.epoch);
    assert.notEqual(afterA.epoch, (await reopened.position('b')).epoch, 'each stream gets its own epoch');
    const retry = await reopened.append('a', entry(2), { ...LONG, idempotencyKey: 'k', dedupeWindowMs: 60_000 });
    assert.equal(retry.duplicate, false, 'idempotency keys of the old epoch are gone');
    assert.deepEqual(retry.publication.offset, 2);
    await reopened.close();
  });

  test('keeps epochs after a crash of the process alone, or when the crashed session synced every commit', async () => {
    const path = freshPath();
    const first = new SqliteHistoryStore({ path });
    const a = await first.append('a', entry(1), LONG);
    await first.close();
    crashed(path, undefined);
    let reopened = new SqliteHistoryStore({ path });
    assert.equal((await reopened.position('a')).epoch, a.epoch, 'same boot: the WAL survived');
    await reopened.close();
    crashed(path, 'an-earlier-boot', 'full');
    reopened = new SqliteHistoryStore({ path });
    assert.equal((await reopened.position('a')).epoch, a.epoch, 'synchronous full: nothing acknowledged was lost');
    await reopened.close();
  });

  test('starts a new epoch after a reopen when the stream expired meanwhile', async () => {
    const path = freshPath();
    const clock = fakeClock();
    const first = new SqliteHistoryStore({ path, now: clock.now, emptyStreamTtlMs: 1_000 });
    const before = await first.append('ch', entry(1), { size: 10, ttlMs: 1_000 });
    await first.close();
    clock.advance(2_000);
    const reopened = new SqliteHistoryStore({ path, now: clock.now, emptyStreamTtlMs: 1_000 });
    const after = await reopened.append('ch', entry(2), { size: 10, ttlMs: 1_000 });
    assert.notEqual(after.epoch, before.epoch);
    assert.equal(after.publication.offset, 1);
    await reopened.close();
  });

  test('assigns gapless offsets when two connections append to one file', async () => {
    const path = freshPath();
    const a = new SqliteHistoryStore({ path });
    const b = new SqliteHistoryStore({ path });
    const results = await Promise.all(range(1, 100).map((i) => (i % 2 ? a : b).append('ch', entry(i), { size: 1_000, ttlMs: 60_000 })));
    assert.deepEqual(results.map((r) => r.publication.offset), range(1, 100));
    assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
    assert.deepEqual((await b.read('ch', {})).publications.map((p) => p.data), range(1, 100));
    await a.close();
    await b.close();
  });
});

describe('SqliteHistoryStore on disk', () => {
  test('creates the directory, runs in WAL mode and records schema version 1', async () => {
    const path = join(root, 'nested', 'deeper', 'history.db');
    const store = new SqliteHistoryStore({ path });
    await store.position('ch');
    assert.ok(existsSync(path));
    inspect(path, (db) => {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), 1);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      assert.deepEqual(tables, ['idempotency', 'meta', 'publications', 'streams']);
    });
    await store.close();
  });

  test("defaults to ./volley-data/history.db", async () => {
    assert.equal(DEFAULT_SQLITE_PATH, './volley-data/history.db');
    const cwd = process.cwd();
    const dir = join(root, 'cwd');
    rmSync(dir, { recursive: true, force: true });
    (await import('node:fs')).mkdirSync(dir);
    process.chdir(dir);
    try {
      const store = new SqliteHistoryStore();
      await store.close();
      assert.ok(existsSync(join(dir, 'volley-data', 'history.db')));
    } finally {
      process.chdir(cwd);
    }
  });

  test('deletes rows trimmed by size, not only hides them', async () => {
    const path = freshPath();
    const store = new SqliteHistoryStore({ path });
    for (let i = 0; i < 20; i++) await store.append('ch', entry(i), { size: 5, ttlMs: 60_000 });
    const rows = inspect(path, (db) => db.prepare('SELECT "offset" FROM publications ORDER BY "offset"').pluck().all());
    assert.deepEqual(rows, range(16, 20));
    await store.close();
  });

  test('sweep() deletes expired streams, publications and idempotency keys', async () => {
    const path = freshPath();
    const clock = fakeClock();
    const store = new SqliteHistoryStore({ path, now: clock.now, emptyStreamTtlMs: 50 });
    for (const channel of ['a', 'b', 'c']) {
      await store.append(channel, entry(1), { size: 10, ttlMs: 1_000, idempotencyKey: 'k', dedupeWindowMs: 500 });
    }
    await store.append('long', entry(1), { size: 10, ttlMs: 1_000 });
    clock.advance(600);
    await store.append('long', entry(2), { size: 10, ttlMs: 1_000 });
    clock.advance(500);
    assert.equal(store.channels, 4);
    assert.deepEqual(store.sweep(), { streams: 3, publications: 1, keys: 0 });
    assert.equal(store.channels, 1);
    const left = inspect(path, (db) => ({
      publications: db.prepare('SELECT channel, "offset" FROM publications').all(),
      keys: db.prepare('SELECT count(*) FROM idempotency').pluck().get(),
    }));
    assert.deepEqual(left, { publications: [{ channel: 'long', offset: 2 }], keys: 0 });
    await store.close();
  });

  test('runs the sweep on an unref’d timer from open until close', async () => {
    const timers = recordingTimers();
    const store = new SqliteHistoryStore({ path: ':memory:', timers, sweepIntervalMs: 1_234 });
    assert.deepEqual(timers.log, ['start 1234', 'unref']);
    await store.append('ch', entry(1), LONG);
    timers.tick();
    await store.close();
    assert.deepEqual(timers.log, ['start 1234', 'unref', 'stop']);
    timers.tick();
  });

  test('reports a failing sweep to onError instead of throwing from the timer', async () => {
    const timers = recordingTimers();
    const errors: unknown[] = [];
    let broken = false;
    const store = new SqliteHistoryStore({
      path: ':memory:',
      timers,
      now: () => {
        if (broken) throw new Error('clock failed');
        return 0;
      },
      onError: (error) => errors.push(error),
    });
    broken = true;
    timers.tick();
    assert.equal((errors[0] as Error).message, 'clock failed');
    broken = false;
    await store.close();
  });

  test('refuses a database written by a newer schema with VOLLEY_ERR_INVALID_STATE', () => {
    const path = freshPath();
    new SqliteHistoryStore({ path }).close();
    const db = new Database(path);
    db.pragma('user_version = 2');
    db.close();
    assert.throws(() => new SqliteHistoryStore({ path }), code('VOLLEY_ERR_INVALID_STATE'));
  });

  test('throws VOLLEY_ERR_INVALID_ARGUMENT at construction for a bad option', () => {
    for (const options of [{ path: '' }, { synchronous: 'off' }, { sweepIntervalMs: 0 }, { randomId: 'x' }]) {
      assert.throws(() => new SqliteHistoryStore(options as never), code('VOLLEY_ERR_INVALID_ARGUMENT'), JSON.stringify(options));
    }
  });
});
