/**
 * {@link SqliteHistoryStore}: the durable {@link HistoryStore} of a single node, on an embedded SQLite database
 * (`better-sqlite3`). It is the default of `volley serve`: a node that restarts keeps every channel's epoch and
 * offsets, so clients that reconnect after the restart recover exactly what they missed.
 *
 * Each append is one `BEGIN IMMEDIATE` transaction (read the stream's top offset, insert, trim to `size` and to
 * `ttlMs`, update the top), so offsets stay gapless even with several processes on one file. The database runs in
 * WAL mode. better-sqlite3 is synchronous: every method does its work before returning a settled promise, which
 * also means appends complete, and get their offsets, in call order.
 *
 * Tables (schema version 1, in `PRAGMA user_version`), plus `meta (key, value)` recording the boot and whether
 * the last session closed cleanly (see {@link SqliteHistoryStoreOptions.synchronous}):
 * - `streams (channel PK, epoch, top, updated_at, expires_at)`: one row per channel;
 * - `publications (channel, "offset", data, info, time, expires_at, idempotency_key)`, key `(channel, "offset")`,
 *   `data`/`info` as JSON text;
 * - `idempotency (channel, key, "offset", data, info, time, expires_at)`, key `(channel, key)`: the first result
 *   for each idempotency key, kept for the dedupe window even after the publication itself was trimmed.
 *
 * @example
 * ```ts
 * const history = new SqliteHistoryStore({ path: './volley-data/history.db' });
 * await history.append('chat:lobby', { data: { text: 'hi' }, time: Date.now() }, { size: 100, ttlMs: 3_600_000 });
 * await history.close();
 * ```
 *
 * @module
 */

import { mkdirSync, readFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { AppendResult, HistoryPage, HistoryQuery, HistoryStore, Publication, StreamPosition } from '../hub/engine.js';
import { EngineError, EngineErrorCode, checkString, closedError, invalidArgument } from './errors.js';
import {
  type AppendEntry,
  type AppendOptions,
  type CheckedAppend,
  type HistoryStoreBaseOptions,
  type ResolvedBaseOptions,
  checkAppend,
  checkQuery,
  newEpoch,
  resolveBaseOptions,
  toPublication,
} from './history-args.js';
import { Sweeper } from './sweeper.js';

/** Where `volley serve` keeps history unless told otherwise. */
export const DEFAULT_SQLITE_PATH = './volley-data/history.db';

/** Options of {@link SqliteHistoryStore}. */
export interface SqliteHistoryStoreOptions extends HistoryStoreBaseOptions {
  /**
   * Database file; its directory is created when missing. `':memory:'` keeps everything in memory (nothing
   * survives `close()`).
   * @default './volley-data/history.db'
   */
  readonly path?: string;
  /**
   * SQLite's `synchronous` setting. `'normal'` does not sync on commit: an acknowledged publication survives a
   * crash of the process, but the last commits may be lost if the machine itself crashes or loses power. So that
   * such a loss is never silent (offsets clients already saw being assigned again), a store reopened after an
   * unclean shutdown on an earlier boot gives every stream a new epoch, and recovering clients get a gap.
   * `'full'` syncs the WAL on every commit (a few ms on most disks, which caps appends per second), so nothing
   * acknowledged is ever lost and epochs are kept.
   * @default 'normal'
   */
  readonly synchronous?: 'full' | 'normal';
  /**
   * Called when the background sweep fails (for example `SQLITE_BUSY` while another process holds the lock); the
   * sweep is retried at the next tick.
   * @default emits a process warning
   */
  readonly onError?: (error: unknown) => void;
}

/** The schema version this code writes, kept in `PRAGMA user_version`. */
const SCHEMA_VERSION = 1;
/** Rows removed per statement and statements per sweep, so one sweep never blocks the event loop for long. */
const SWEEP_BATCH = 1_000;
const SWEEP_BATCHES = 10;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  channel TEXT NOT NULL PRIMARY KEY,
  epoch TEXT NOT NULL,
  top INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS streams_by_expiry ON streams (expires_at);
CREATE TABLE IF NOT EXISTS publications (
  channel TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  data TEXT NOT NULL,
  info TEXT,
  time REAL NOT NULL,
  expires_at INTEGER NOT NULL,
  idempotency_key TEXT,
  PRIMARY KEY (channel, "offset")
);
CREATE INDEX IF NOT EXISTS publications_by_expiry ON publications (expires_at);
CREATE TABLE IF NOT EXISTS idempotency (
  channel TEXT NOT NULL,
  key TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  data TEXT NOT NULL,
  info TEXT,
  time REAL NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (channel, key)
);
CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

/**
 * Identifies the machine's current boot: an OS crash or power loss always changes it. Linux's boot id, else the
 * boot time to 10 s (a mismatch only costs clients a spurious gap).
 */
function currentBoot(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return `boot-at-${Math.round((Date.now() - uptime() * 1000) / 10_000)}`;
  }
}

interface StreamRow {
  readonly epoch: string;
  readonly top: number;
  readonly expiresAt: number;
}
interface PublicationRow {
  readonly offset: number;
  readonly data: string;
  readonly info: string | null;
  readonly time: number;
}

const State = { OPEN: 'open', CLOSED: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/** Prepares every statement once. */
function prepareStatements(db: Database.Database) {
  return {
    stream: db.prepare<[string], StreamRow>('SELECT epoch, top, expires_at AS expiresAt FROM streams WHERE channel = ?'),
    insertStream: db.prepare<[string, string, number, number]>(
      'INSERT INTO streams (channel, epoch, top, updated_at, expires_at) VALUES (?, ?, 0, ?, ?)',
    ),
    updateStream: db.prepare<[number, number, number, string]>(
      'UPDATE streams SET top = ?, updated_at = ?, expires_at = ? WHERE channel = ?',
    ),
    deleteStream: db.prepare<[string]>('DELETE FROM streams WHERE channel = ?'),
    deletePublications: db.prepare<[string]>('DELETE FROM publications WHERE channel = ?'),
    deleteIdempotency: db.prepare<[string]>('DELETE FROM idempotency WHERE channel = ?'),
    insertPublication: db.prepare<[string, number, string, string | null, number, number, string | null]>(
      'INSERT INTO publications (channel, "offset", data, info, time, expires_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    oldest: db
      .prepare<[string, number], number>(
        'SELECT "offset" FROM publications WHERE channel = ? AND expires_at > ? ORDER BY "offset" LIMIT 1',
      )
      .pluck(),
    trimBelow: db.prepare<[string, number]>('DELETE FROM publications WHERE channel = ? AND "offset" < ?'),
    forward: db.prepare<[string, number, number, number], PublicationRow>(
      'SELECT "offset" AS offset, data, info, time FROM publications WHERE channel = ? AND "offset" > ? AND expires_at > ? ORDER BY "offset" ASC LIMIT ?',
    ),
    backward: db.prepare<[string, number, number, number], PublicationRow>(
      'SELECT "offset" AS offset, data, info, time FROM publications WHERE channel = ? AND "offset" > ? AND expires_at > ? ORDER BY "offset" DESC LIMIT ?',
    ),
    seen: db.prepare<[string, string, number], PublicationRow>(
      'SELECT "offset" AS offset, data, info, time FROM idempotency WHERE channel = ? AND key = ? AND expires_at > ?',
    ),
    remember: db.prepare<[string, string, number, string, string | null, number, number]>(
      'INSERT OR REPLACE INTO idempotency (channel, key, "offset", data, info, time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    // A stream that had publications keeps its epoch emptyStreamTtlMs after the last one expired (see #forgetAt).
    expiredStreams: db
      .prepare<[number, number, number], string>(
        'SELECT channel FROM streams WHERE (top = 0 AND expires_at <= ?) OR (top > 0 AND expires_at <= ?) LIMIT ?',
      )
      .pluck(),
    sweepPublications: db.prepare<[number, number]>(
      'DELETE FROM publications WHERE rowid IN (SELECT rowid FROM publications WHERE expires_at <= ? LIMIT ?)',
    ),
    sweepIdempotency: db.prepare<[number, number]>(
      'DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE expires_at <= ? LIMIT ?)',
    ),
    countStreams: db.prepare<[], number>('SELECT count(*) FROM streams').pluck(),
  };
}

/**
 * Opens (creating when needed) the database, checks its schema version, and starts a session in `meta`: if the
 * last session ran with `synchronous = NORMAL`, did not close cleanly and the machine rebooted since, its last
 * commits may be lost, so every stream gets a new epoch and the idempotency keys (offsets of the old epochs) go.
 */
function openDatabase(path: string, synchronous: 'full' | 'normal', randomId: () => string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new EngineError(
        EngineErrorCode.INVALID_STATE,
        `${path} has history schema version ${version}, newer than this Volley understands (${SCHEMA_VERSION})`,
      );
    }
    db.exec(SCHEMA);
    if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    if (path !== ':memory:') {
      db.transaction(() => {
        const meta = new Map(db.prepare<[], [string, string]>('SELECT key, value FROM meta').raw().all());
        const boot = currentBoot();
        if (meta.get('clean') === '0' && meta.get('synchronous') === 'normal' && meta.get('boot') !== boot) {
          db.function('volley_new_epoch', { deterministic: false }, () => newEpoch(randomId));
          db.exec('UPDATE streams SET epoch = volley_new_epoch(); DELETE FROM idempotency;');
        }
        const set = db.prepare<[string, string]>('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
        set.run('boot', boot);
        set.run('clean', '0');
        set.run('synchronous', synchronous);
      }).immediate();
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The durable history store on SQLite. */
export class SqliteHistoryStore implements HistoryStore {
  #state: State = State.OPEN;
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #sql: ReturnType<typeof prepareStatements>;
  readonly #options: ResolvedBaseOptions;
  readonly #onError: (error: unknown) => void;
  readonly #sweeper: Sweeper;
  /** Appends, or returns the first result for a repeated idempotency key. */
  readonly #append: (channel: string, args: CheckedAppend, now: number) => AppendResult | { offset: number; epoch: string };
  readonly #read: (channel: string, since: number, limit: number, reverse: boolean, now: number) => HistoryPage;
  readonly #position: (channel: string, now: number) => StreamPosition;
  readonly #forget: (channel: string) => void;
  readonly #forgetAll: (channels: readonly string[]) => void;

  /**
   * Opens the database (synchronously), creating the file, its directory and the tables when missing.
   *
   * @throws EngineError `VOLLEY_ERR_INVALID_ARGUMENT` for a bad option, `VOLLEY_ERR_INVALID_STATE` for a database
   * written by a newer schema; SQLite's own errors for a file that cannot be opened.
   */
  constructor(options: SqliteHistoryStoreOptions = {}) {
    this.#options = resolveBaseOptions(options);
    const path = options.path ?? DEFAULT_SQLITE_PATH;
    checkString('path', path, false);
    const synchronous = options.synchronous ?? 'normal';
    if (synchronous !== 'full' && synchronous !== 'normal') invalidArgument("synchronous must be 'full' or 'normal'");
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
    if (typeof this.#onError !== 'function') invalidArgument('onError must be a function');
    this.#db = openDatabase(path, synchronous, this.#options.randomId);
    this.#path = path;
    const sql = (this.#sql = prepareStatements(this.#db));

    /** When a stream's epoch is forgotten (see MemoryHistoryStore): empty streams at expiry, others later. */
    const emptyTtl = this.#options.emptyStreamTtlMs;
    const forgetAt = (row: StreamRow): number => (row.top > 0 ? row.expiresAt + emptyTtl : row.expiresAt);
    /** The channel's stream unless unknown or expired (an expired one is deleted with everything it had). */
    const live = (channel: string, now: number): StreamRow | undefined => {
      const row = sql.stream.get(channel);
      if (row === undefined || now < forgetAt(row)) return row;
      this.#forget(channel);
      return undefined;
    };
    const create = (channel: string, now: number): StreamRow => {
      const row = { epoch: newEpoch(this.#options.randomId), top: 0, expiresAt: now + this.#options.emptyStreamTtlMs };
      sql.insertStream.run(channel, row.epoch, now, row.expiresAt);
      return row;
    };

    this.#forget = this.#db.transaction((channel: string) => {
      sql.deleteStream.run(channel);
      sql.deletePublications.run(channel);
      sql.deleteIdempotency.run(channel);
    });

    this.#forgetAll = this.#db.transaction((channels: readonly string[]) => {
      for (const channel of channels) this.#forget(channel);
    });

    const append = this.#db.transaction((channel: string, args: CheckedAppend, now: number) => {
      let row = live(channel, now);
      if (args.idempotencyKey !== undefined && row !== undefined) {
        const seen = sql.seen.get(channel, args.idempotencyKey, now);
        if (seen !== undefined) {
          const publication = toPublication(seen.offset, seen.data, seen.info, seen.time);
          return { publication, epoch: row.epoch, duplicate: true } satisfies AppendResult;
        }
      }
      row ??= create(channel, now);
      const offset = row.top + 1;
      // Expiry never decreases along a stream (see MemoryHistoryStore): expired rows are always a prefix.
      const expiresAt = row.top > 0 ? Math.max(now + args.ttlMs, row.expiresAt) : now + args.ttlMs;
      sql.insertPublication.run(channel, offset, args.data, args.info ?? null, args.time, expiresAt, args.idempotencyKey ?? null);
      const oldestLive = sql.oldest.get(channel, now) ?? offset;
      sql.trimBelow.run(channel, Math.max(oldestLive, offset - args.size + 1));
      sql.updateStream.run(offset, now, expiresAt, channel);
      if (args.idempotencyKey !== undefined && args.dedupeWindowMs > 0) {
        sql.remember.run(channel, args.idempotencyKey, offset, args.data, args.info ?? null, args.time, now + args.dedupeWindowMs);
      }
      return { offset, epoch: row.epoch };
    });
    this.#append = (channel, args, now) => append.immediate(channel, args, now);

    const read = this.#db.transaction((channel: string, since: number, limit: number, reverse: boolean, now: number): HistoryPage => {
      const row = live(channel, now) ?? create(channel, now);
      const oldest = row.top === 0 ? 1 : (sql.oldest.get(channel, now) ?? row.top + 1);
      const rows = limit === 0 ? [] : (reverse ? sql.backward : sql.forward).all(channel, since, now, limit);
      const publications = rows.map((r) => toPublication(r.offset, r.data, r.info, r.time));
      return { epoch: row.epoch, offset: row.top, oldest, publications };
    });
    const position = this.#db.transaction((channel: string, now: number): StreamPosition => {
      const row = live(channel, now) ?? create(channel, now);
      return { epoch: row.epoch, offset: row.top };
    });
    // Reads take the write lock up front only when they will create (or forget) the stream: upgrading a read
    // transaction to a write can fail with SQLITE_BUSY_SNAPSHOT when another connection wrote meanwhile.
    const writes = (channel: string, now: number) => {
      const row = sql.stream.get(channel);
      return row === undefined || now >= forgetAt(row);
    };
    this.#read = (channel, since, limit, reverse, now) =>
      (writes(channel, now) ? read.immediate : read.deferred)(channel, since, limit, reverse, now);
    this.#position = (channel, now) => (writes(channel, now) ? position.immediate : position.deferred)(channel, now);

    this.#sweeper = new Sweeper(() => this.#sweepSafely(), this.#options.sweepIntervalMs, this.#options.timers);
    this.#sweeper.start();
  }

  /** Number of streams kept (expired ones included until they are next touched or swept). */
  get channels(): number {
    this.#assertOpen();
    return this.#sql.countStreams.get()!;
  }

  async append(channel: string, entry: AppendEntry, options: AppendOptions): Promise<AppendResult> {
    this.#assertOpen();
    const args = checkAppend(channel, entry, options, this.#options.dedupeWindowMs);
    const result = this.#append(channel, args, this.#options.now());
    if ('duplicate' in result) return result;
    // The caller's own objects, not a decoded copy: the JSON text is what was stored.
    const { offset, epoch } = result;
    const publication: Publication =
      entry.info === undefined ? { offset, data: entry.data, time: args.time } : { offset, data: entry.data, info: entry.info, time: args.time };
    return { publication, epoch, duplicate: false };
  }

  async read(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    this.#assertOpen();
    const { since, limit, reverse } = checkQuery(channel, query);
    return this.#read(channel, since, limit ?? -1, reverse, this.#options.now());
  }

  async position(channel: string): Promise<StreamPosition> {
    this.#assertOpen();
    checkString('channel', channel);
    return this.#position(channel, this.#options.now());
  }

  async remove(channel: string): Promise<void> {
    this.#assertOpen();
    checkString('channel', channel);
    this.#forget(channel);
  }

  /** Stops the sweep timer, marks the session closed cleanly and closes the database. Idempotent; every later call rejects `VOLLEY_ERR_INVALID_STATE`. */
  async close(): Promise<void> {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    this.#sweeper.stop();
    try {
      if (this.#path !== ':memory:') this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('clean', '1')").run();
    } finally {
      this.#db.close();
    }
  }

  /**
   * Deletes expired streams (with their publications and idempotency keys), expired publications and expired
   * idempotency keys now, in batches of 1000 rows (at most 10 batches of each). The sweep timer calls this every
   * `sweepIntervalMs`.
   *
   * @returns how many streams, publications and keys were removed.
   */
  sweep(): { streams: number; publications: number; keys: number } {
    this.#assertOpen();
    const now = this.#options.now();
    const removed = { streams: 0, publications: 0, keys: 0 };
    for (let i = 0; i < SWEEP_BATCHES; i++) {
      const channels = this.#sql.expiredStreams.all(now, now - this.#options.emptyStreamTtlMs, SWEEP_BATCH);
      this.#forgetAll(channels);
      removed.streams += channels.length;
      if (channels.length < SWEEP_BATCH) break;
    }
    for (let i = 0; i < SWEEP_BATCHES; i++) {
      const { changes } = this.#sql.sweepPublications.run(now, SWEEP_BATCH);
      removed.publications += changes;
      if (changes < SWEEP_BATCH) break;
    }
    for (let i = 0; i < SWEEP_BATCHES; i++) {
      const { changes } = this.#sql.sweepIdempotency.run(now, SWEEP_BATCH);
      removed.keys += changes;
      if (changes < SWEEP_BATCH) break;
    }
    return removed;
  }

  #sweepSafely(): void {
    if (this.#state !== State.OPEN) return;
    try {
      this.sweep();
    } catch (error) {
      this.#onError(error);
    }
  }

  #assertOpen(): void {
    if (this.#state !== State.OPEN) closedError('SqliteHistoryStore');
  }
}
